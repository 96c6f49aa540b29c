"""The tenancy matrix's world: two publishers, 500 leads each, and how to read a response."""

import base64
import re
from dataclasses import dataclass, field
from datetime import timedelta
from html import escape
from urllib.parse import quote, quote_plus

from django.db import connection
from django.test import Client
from django.utils import timezone

from crm.models import CrmTarget, Delivery
from inbound import sources as inbound_sources
from inbound.models import InboundItem, InboundSource
from leads.catalog.storefronts import Storefront
from leads.intake import api_keys
from leads.models import Lead, LeadActivity, LeadStatus, Referral, SavedView
from leads.nurture import services as nurture
from portal.models import Membership
from tests import factories
from tests.crm.referrals_support import connect

A_MARK, B_MARK = "alphaqz", "betaqz"
SENTINEL = "sentinel-crm-secret-7f3a9c"
HTTPS_SECRET = "whsec_" + base64.b64encode(f"{SENTINEL}-sign!".encode()).decode()
SECRETS = (SENTINEL, HTTPS_SECRET.removeprefix("whsec_"))
LEADS_EACH = 500
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# --- Two publishers, 500 leads each ------------------------------------------------------


@dataclass
class Side:
    """One publisher's seeded rows; every name and email carries its marker."""

    publisher: object
    owner: object
    member: object
    listing: object
    campaigns: list
    step: object
    target: object
    delivery: object
    token: object
    lead_uuids: set = field(default_factory=set)
    lead: object = None
    test_delivery: object = None
    table_source: object = None
    table_item: object = None
    inbound_item: object = None
    referral: object = None
    saved_view: object = None


def side_seed(mark: str) -> Side:
    """One publisher whose rows all carry `mark`: listings, campaigns, a target, leads."""
    publisher = factories.make_publisher(
        name=f"{mark.title()} Apps",
        slug=mark,
        publisher_id=mark,
        co_sell_enrolled=True,
        lead_contact_email=f"leads@{mark}.example",
        postal_address=f"1 {mark.title()} Way\nSeattle",
    )
    owner = factories.make_membership(
        publisher=publisher,
        user=factories.make_user(username=f"{mark}-owner", email=f"o@{mark}.example"),
    ).user
    member = factories.make_membership(
        publisher=publisher,
        user=factories.make_user(username=f"{mark}-member", email=f"m@{mark}.example"),
        role=Membership.Role.MEMBER,
    ).user
    listings = [
        factories.make_listing(publisher=publisher, storefront=storefront, name=f"{mark} {n}")
        for n, storefront in enumerate((Storefront.APPSOURCE, Storefront.AZURE_MARKETPLACE))
    ]
    campaigns = [
        factories.make_campaign(
            publisher=publisher,
            storefront=listing.storefront,
            listings=[listing],
            name=f"{mark} campaign {n}",
            code=f"{mark}-{n}",
            goal_qualified_leads=50,
            status="active",
        )
        for n, listing in enumerate(listings)
    ]
    factories.make_rule(publisher=publisher, name=f"{mark} installs")
    step = nurture.step_save(
        campaign=campaigns[0], step=None, delay_minutes=0, subject=f"{mark} hello", body="Hello"
    )
    target = factories.make_target(
        publisher=publisher,
        name=f"{mark} target",
        config={"httpsEndpointUrl": "https://127.0.0.1:9/hook", "signingSecret": HTTPS_SECRET},
    )
    factories.make_target(
        publisher=publisher,
        kind=CrmTarget.Kind.MARKETO,
        name=f"{mark} marketo",
        config={"munchkinId": "123-ABC-456", "clientId": "client", "clientSecret": SENTINEL},
    )
    token, _plaintext = api_keys.publisher_token_create(publisher=publisher, name=f"{mark} ci")
    side = Side(publisher, owner, member, listings[0], campaigns, step, target, None, token)
    _leads(side, listings, campaigns)
    side.delivery = Delivery.objects.filter(target=target, status="delivered").first()
    side.lead = Lead.objects.filter(publisher=publisher, origin="marketplace").first()
    side.test_delivery = Delivery.objects.create(
        target=target, event=Delivery.Event.TEST, status="failed", last_status_code=500
    )
    side.inbound_item = _inbound_reject(side)
    side.saved_view = SavedView.objects.create(
        publisher=publisher, user=owner, name=f"{mark} view", search=f"{mark}", sort="-score"
    )
    _inbound_table(side)
    return side


def _inbound_reject(side: Side) -> InboundItem:
    """The listing's Partner Center inbound URL, and a reject it received."""
    source, _token = inbound_sources.inbound_url_create(listing=side.listing)
    mark = side.publisher.slug
    return InboundItem.objects.create(
        source=source,
        publisher=side.publisher,
        received_at=timezone.now(),
        body=f'["{mark} body"]',
        dedupe_key=f"{mark}-1",
        status=InboundItem.Status.REJECTED,
        reason_code="not_an_object",
        reason=f"{mark} is not a lead",
    )


def _inbound_table(side: Side) -> None:
    """A Partner Center Azure Table source (its account key is the sentinel) and a reject."""
    mark = side.publisher.slug
    side.table_source = InboundSource.objects.create(
        publisher=side.publisher,
        kind=InboundSource.Kind.AZURE_TABLE,
        config={
            "storageAccountConnectionString": (
                f"DefaultEndpointsProtocol=https;AccountName={mark};AccountKey={SENTINEL}"
            )
        },
        table_name=f"{mark}Leads",
    )
    side.table_item = InboundItem.objects.create(
        source=side.table_source,
        publisher=side.publisher,
        received_at=timezone.now(),
        body=f'{{"ProductId": "{mark}.unknown"}}',
        dedupe_key=f"{mark}|1",
        status=InboundItem.Status.REJECTED,
        reason_code="unknown_offer",
        reason=f"None of your listings has the offer id '{mark}.unknown' (ProductId).",
    )


def _leads(side: Side, listings: list, campaigns: list) -> None:
    mark, now = side.publisher.slug, timezone.now()
    statuses = LeadStatus.values
    leads = Lead.objects.bulk_create(
        Lead(
            publisher=side.publisher,
            origin="co-sell" if n % 25 == 0 else "marketplace",
            first_name=f"Ada{n}",
            last_name=f"{mark.title()}{n:03d}",
            email=f"lead{n}@{mark}.example",
            email_normalized=f"lead{n}@{mark}.example",
            company=f"{mark.title()} Industries",
            title="CTO",
            score=n % 101,
            status=statuses[n % len(statuses)],
            first_campaign=campaigns[n % 2] if n % 3 else None,
            latest_campaign=campaigns[n % 2] if n % 3 else None,
            last_activity_at=now - timedelta(hours=n),
        )
        for n in range(LEADS_EACH)
    )
    with connection.cursor() as cursor:  # auto_now_add set them all to now: spread them
        cursor.execute(
            "UPDATE leads_lead SET created_at = now() - (id %% 80) * interval '1 day' "
            "WHERE publisher_id = %s",
            [side.publisher.pk],
        )
    LeadActivity.objects.bulk_create(
        LeadActivity(
            lead=lead,
            listing=listings[n % 2],
            campaign=campaigns[n % 2] if n % 3 else None,
            storefront=listings[n % 2].storefront,
            action_code=("INS", "PLT", "Create")[n % 3],
            lead_source=f"AppSource-INS|{mark} listing",
            description=f"{mark} wants a demo",
            occurred_at=now - timedelta(hours=n),
        )
        for n, lead in enumerate(leads)
    )
    Delivery.objects.bulk_create(
        Delivery(
            lead=lead,
            target=side.target,
            event=Delivery.Event.QUALIFIED,
            status=("delivered", "failed", "pending")[n % 3],
            last_error=f"{mark} receiver refused" if n % 3 == 1 else "",
            next_attempt_at=now,
            delivered_at=now if n % 3 == 0 else None,
        )
        for n, lead in enumerate(leads[::5])
    )
    side.lead_uuids = {str(lead.uuid) for lead in leads}
    _referrals(side, [lead for lead in leads if lead.origin == "co-sell"])


def _referrals(side: Side, leads: list) -> None:
    """A Partner Center referral per Co-Sell lead, and the publisher's connection."""
    mark = side.publisher.slug
    Referral.objects.bulk_create(
        Referral(
            publisher=side.publisher,
            lead=lead,
            partner_center_id=f"{mark}-ref-{n}",
            name=f"{mark} deal {n}",
            customer_name=f"{mark.title()} Industries",
            deal_value=1000 + n,
            currency="USD",
            seller_name="Sam Seller",
            status="New",
            substatus="Pending",
            sync_state="synced",
        )
        for n, lead in enumerate(leads)
    )
    side.referral = Referral.objects.filter(publisher=side.publisher).first()
    connect(side.publisher, side.listing, client_secret=SENTINEL, password=SENTINEL)


@dataclass
class World:
    a: Side
    b: Side
    staff: object
    b_api_token: str


def body_of(response) -> str:
    """The response's text, once it is checked to hold no CRM secret."""
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    text = raw.decode("utf-8", errors="replace")
    for secret in SECRETS:
        assert text.count(secret) == 0, f"the CRM secret is in {response.request['PATH_INFO']}"
    return text


def client_for(user=None) -> Client:
    """A client logged in as `user`, or anonymous."""
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def foreign_rows(text: str, w: World, *, typed: str = "") -> tuple[int, set]:
    """How often A's marker appears, and which of A's lead ids; what the user `typed`
    (a search term echoed back in the form and links) is not a row."""
    for echo in filter(None, {typed, quote(typed), quote_plus(typed), escape(typed)}):
        text = text.replace(echo, "")
    return text.lower().count(A_MARK), set(UUID_RE.findall(text)) & w.a.lead_uuids
