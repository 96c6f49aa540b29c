"""Small `make_*` helpers: each makes one valid row, every field overridable."""

import itertools
from datetime import date

from django.contrib.auth import get_user_model
from django.utils import timezone

from crm.models import CrmTarget, Delivery
from leads.catalog.storefronts import Storefront
from leads.lifecycle.services import leads_storefronts_refresh
from leads.models import Campaign, CampaignListing, Lead, LeadActivity, Listing, ScoringRule
from portal.models import Membership, Publisher

_seq = itertools.count(1)


def _n() -> int:
    return next(_seq)


def make_user(*, username=None, password="correct horse battery staple", **fields):
    n = _n()
    user = get_user_model().objects.create_user(
        username=username or f"user{n}",
        email=fields.pop("email", f"user{n}@example.com"),
        password=password,
        **fields,
    )
    return user


def make_publisher(**fields) -> Publisher:
    n = _n()
    defaults = {
        "name": f"Publisher {n}",
        "slug": f"publisher-{n}",
        "publisher_id": f"publisher{n}",
        "lead_contact_email": f"leads{n}@publisher.example",
    }
    return Publisher.objects.create(**(defaults | fields))


def make_membership(*, user=None, publisher=None, role=Membership.Role.OWNER) -> Membership:
    return Membership.objects.create(
        user=user or make_user(), publisher=publisher or make_publisher(), role=role
    )


def make_listing(*, publisher=None, storefront=Storefront.APPSOURCE, **fields) -> Listing:
    publisher = publisher or make_publisher()
    n = _n()
    default_type = "app" if storefront == Storefront.APPSOURCE else "offer"
    defaults = {
        "listing_type": default_type,
        "name": f"Listing {n}",
        "offer_id": f"{publisher.publisher_id}.offer-{n}",
    }
    return Listing.objects.create(publisher=publisher, storefront=storefront, **(defaults | fields))


def make_campaign(*, publisher=None, storefront=Storefront.APPSOURCE, listings=(), **fields):
    publisher = publisher or make_publisher()
    n = _n()
    defaults = {"name": f"Campaign {n}", "code": f"campaign-{n}", "starts_on": date(2026, 1, 1)}
    campaign = Campaign.objects.create(
        publisher=publisher, storefront=storefront, **(defaults | fields)
    )
    for listing in listings:
        CampaignListing.objects.create(
            campaign=campaign, listing=listing, storefront=listing.storefront
        )
    return campaign


def make_lead(*, publisher=None, email=None, **fields) -> Lead:
    publisher = publisher or make_publisher()
    email = email or f"person{_n()}@contoso.example"
    defaults = {"first_name": "Ada", "last_name": "Lovelace", "company": "Contoso"}
    return Lead.objects.create(
        publisher=publisher,
        email=email,
        email_normalized=Lead.normalize_email(email),
        last_activity_at=timezone.now(),
        **(defaults | fields),
    )


def make_activity(*, lead=None, listing=None, **fields) -> LeadActivity:
    lead = lead or make_lead()
    listing = listing or make_listing(publisher=lead.publisher)
    defaults = {
        "storefront": listing.storefront,
        "action_code": "INS",
        "lead_source": f"AppSource-INS|{listing.name}",
        "occurred_at": timezone.now(),
    }
    activity = LeadActivity.objects.create(lead=lead, listing=listing, **(defaults | fields))
    # As intake does: the lead's storefront bits include this activity's.
    leads_storefronts_refresh(lead_ids=[lead.pk])
    lead.storefronts = Lead.objects.values_list("storefronts", flat=True).get(pk=lead.pk)
    return activity


def make_target(*, publisher=None, kind=CrmTarget.Kind.HTTPS, config=None, **fields) -> CrmTarget:
    config = (
        config
        if config is not None
        else {
            "httpsEndpointUrl": "https://crm.example/leads",
            "signingSecret": "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0",
        }
    )
    target = CrmTarget(
        publisher=publisher, kind=kind, name=fields.pop("name", f"Target {_n()}"), config=config
    )
    for name, value in fields.items():
        setattr(target, name, value)
    target.apply_kind_defaults()
    target.save()
    return target


def make_delivery(*, lead=None, target=None, **fields) -> Delivery:
    lead = lead or make_lead()
    target = target or make_target(publisher=lead.publisher)
    defaults = {"event": Delivery.Event.QUALIFIED, "next_attempt_at": timezone.now()}
    return Delivery.objects.create(lead=lead, target=target, **(defaults | fields))


def make_rule(*, publisher=None, **fields) -> ScoringRule:
    defaults = {"name": "Installs", "condition": "action_code", "value": "INS", "points": 30}
    return ScoringRule.objects.create(
        publisher=publisher or make_publisher(), **(defaults | fields)
    )
