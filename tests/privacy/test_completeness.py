"""Completeness: a person whose every field carries a marker goes
through intake (single and bulk), the Partner Center webhook and Azure Table reader (against
Azurite), a CSV import,
consolidation, qualification, a nurture email, a status change in the portal, a staff
edit in admin and an export; after the erasure, `pg_dump --data-only` of the database and
the test's Redis databases hold none of the markers, and the CRM target that received the
person has its erasure delivery. A second erase is a no-op that says so."""

import io
import json
from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.connectors import signing
from crm.models import Delivery
from inbound import services as inbound_services
from inbound import sources, table
from inbound.models import InboundItem
from leads.intake import csv_import
from leads.models import EmailSend, Lead
from leads.nurture import send as nurture_send
from privacy import services
from tests.crm.conftest import trusted_loopback  # noqa: F401  (fixture)
from tests.crm.erasure_support import drain
from tests.crm.receivers.azurite import running_azurite
from tests.crm.receivers.https_receiver import HttpsReceiver
from tests.factories import make_membership, make_target, make_user
from tests.inbound import table_support
from tests.leads.conftest import Storefronts, lead_payload
from tests.leads.nurture_support import Sequence, smtp  # noqa: F401
from tests.privacy import drill

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.no_sqlite]

MARK = "zqcomplete"
EMAIL = f"{MARK}.ada@{MARK}-engines.example"
PHONE = "+44 20 7946 3141"
MARKERS = [MARK, EMAIL, "7946 3141"]
SECRET = signing.secret_generate()


@pytest.fixture
def receiver():
    with HttpsReceiver(SECRET) as server:
        yield server


def _details(suffix: str) -> dict:
    return {
        "FirstName": f"{MARK}First",
        "LastName": f"{MARK}Last",
        "Email": EMAIL,
        "Phone": PHONE,
        "Country": "GB",
        "Company": f"{MARK} Engines",
        "Title": f"{MARK} Chief {suffix}",
    }


def _payload(market, suffix: str, **fields) -> dict:
    payload = lead_payload(email=EMAIL, offer_id="contoso.contoso-crm", **fields)
    payload["UserDetails"] = _details(suffix)
    payload["Description"] = f"{MARK} description {suffix}"
    return payload


def _through_intake(market) -> None:
    single = market.post(_payload(market, "single", LeadId="pc-lead-0001"))
    assert single.status_code in (200, 201), single.content
    bulk = market.post([_payload(market, "bulk", LeadId="pc-lead-0002")], path="/api/v1/leads/bulk")
    assert bulk.status_code == 200, bulk.content


def _through_webhook(market) -> None:
    _source, token = sources.inbound_url_create(listing=market.azure)
    body = _payload(market, "webhook")
    response = Client().post(
        sources.inbound_url_path(token), data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 200, response.content
    for pk in InboundItem.objects.filter(status="pending").values_list("pk", flat=True):
        inbound_services.inbound_item_process(item_id=pk)


def _through_table(market, connection: str) -> None:
    """Partner Center writes the person to its table; the reader reads it, the worker
    processes it (inbound.table)."""
    entity = table_support.pc_entity(
        1,
        customer_info=json.dumps(_details("table")),
        Description=f"{MARK} description table",
        PublisherDisplayName=f"{MARK} publisher",
    )
    table_support.write(connection, "MarketplaceLeads", [entity])
    source = table_support.table_source(
        market.publisher,
        connection,
        "MarketplaceLeads",
        read_from=timezone.now() - timedelta(hours=1),
    )
    assert table.table_source_read(source_id=source.pk) == 1
    table_support.process_pending()
    assert InboundItem.objects.get(source=source).status == "processed"


def _through_csv(market) -> None:
    content = (
        "First Name,Last Name,Email,Phone,Company,Title,Description,Offer Id,Storefront\n"
        f"{MARK}First,{MARK}Last,{EMAIL},{PHONE},{MARK} Engines,{MARK} CSV,{MARK} csv row,"
        "contoso.contoso-crm,Azure Marketplace\n"
    ).encode()
    report = csv_import.leads_import(publisher=market.publisher, content=content)
    assert report.failed == 0


def _through_portal_and_admin(lead: Lead) -> None:
    owner = make_membership(publisher=lead.publisher).user
    portal = Client()
    portal.force_login(owner)
    to_status = "accepted" if lead.status == "qualified" else "qualified"
    moved = portal.post(
        reverse("lead-detail", args=[lead.uuid]),
        {"to_status": to_status, "reason": f"{MARK} called back"},
    )
    assert moved.status_code == 302
    noted = portal.post(reverse("lead-note-add", args=[lead.uuid]), {"body": f"{MARK} note"})
    assert noted.status_code == 302
    stepped = portal.post(
        reverse("lead-next-step", args=[lead.uuid]), {"next_step": f"{MARK} call back"}
    )
    assert stepped.status_code == 302
    staff = make_user(username="staff-dpo", is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(staff)
    url = reverse("admin:leads_lead_change", args=[lead.pk])
    assert admin.get(url).status_code == 200
    inlines = ("transitions", "notes", "activities", "deliveries", "consent_records")
    edited = admin.post(
        url,
        {
            "email": EMAIL,
            "first_name": f"{MARK}First",
            "last_name": f"{MARK}Last",
            "phone": PHONE,
            "company": f"{MARK} Engines",
            "title": f"{MARK} Chief (edited in admin)",
            **{
                f"{inline}-{count}": "0"
                for inline in inlines
                for count in ("TOTAL_FORMS", "INITIAL_FORMS")
            },
        },
    )
    assert edited.status_code == 302
    assert LogEntry.objects.filter(object_id=str(lead.pk), action_flag=CHANGE).exists()


def _through_nurture(smtp) -> Lead:  # noqa: F811
    sequence = Sequence()
    lead = Lead.objects.create(
        publisher=sequence.publisher,
        email=EMAIL,
        email_normalized=EMAIL,
        first_name=f"{MARK}First",
        last_name=f"{MARK}Last",
        marketing_consent=True,
    )
    sequence.enrol([lead])
    nurture_send.nurture_send_due(budget_seconds=60)
    assert [r.to for r in smtp.received] == [EMAIL]
    assert EmailSend.objects.filter(enrollment__lead=lead, status="sent").count() == 1
    return lead


def _held(name: str) -> list[str]:
    """The dump's lines (and the Redis keys) that hold a marker."""
    lines = drill.dump_data(name).lower().splitlines()
    return [line[:200] for line in lines if any(m.lower() in line for m in MARKERS)] + [
        key for m in MARKERS for key in drill.redis_holding(m)
    ]


@pytest.mark.usefixtures("trusted_loopback")
def test_a_person_taken_everywhere_leaves_no_marker_after_erasure(
    smtp,  # noqa: F811
    receiver,
    settings,
):
    # Given a person taken through every way in, and a CRM that received them
    market = Storefronts()
    target = make_target(
        publisher=market.publisher,
        name="Contoso HTTPS",
        config={"httpsEndpointUrl": receiver.url("/in"), "signingSecret": SECRET},
    )
    _through_intake(market)
    _through_webhook(market)
    with running_azurite() as connection:
        settings.DEBUG = True  # Azurite speaks plain http on loopback
        _through_table(market, connection)
        settings.DEBUG = False
    _through_csv(market)
    lead = Lead.objects.get(publisher=market.publisher, email_normalized=EMAIL)
    assert lead.activities.count() >= 4  # consolidated
    _through_portal_and_admin(lead)
    lead.refresh_from_db()
    assert lead.status in ("qualified", "accepted")
    drain(target)
    assert set(Delivery.objects.filter(lead=lead).values_list("status", flat=True)) == {"delivered"}
    assert MARK in json.dumps(list(receiver.effects.values()))
    nurtured = _through_nurture(smtp)
    exported = io.StringIO()
    call_command("export_person", EMAIL, stdout=exported)
    assert len(json.loads(exported.getvalue())["leads"]) == 2
    assert MARK in drill.dump_data(drill.database_name())

    # When the person is erased (staff, across publishers)
    report = services.person_erase(email=EMAIL, actor=None, reason="Art. 17", source="command")

    # Then no marker is left in the database or Redis
    assert sorted(report.lead_ids) == sorted([lead.pk, nurtured.pk])
    assert _held(drill.database_name()) == []
    # The target that received the person gets its erasure: a signed lead.erased event
    assert [r["target_name"] for r in report.recipients] == ["Contoso HTTPS"]
    drain(target)
    erasure = Delivery.objects.get(lead=lead, target=target, event="lead.erased")
    assert erasure.status == "delivered"
    event = receiver.effects[str(erasure.idempotency_key)]
    assert (event["Event"], event["LeadId"]) == ("lead.erased", str(lead.uuid))
    assert not [m for m in MARKERS if m in receiver.requests[-1].body.decode()]
    assert receiver.rejections() == []
    # And a second erase is a no-op that says so
    again = services.person_erase(email=EMAIL, actor=None, reason="again", source="command")
    assert again.is_noop
    assert len(again.already_erased) == 2
