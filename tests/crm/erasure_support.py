"""Helpers for the erasure tests: a person with marker values, delivered to a target
through the real outbox, then erased (the erase service's call into crm)."""

from django.db import transaction
from django.utils import timezone

from crm import ratelimit, services
from crm.models import CrmTarget, Delivery
from leads.models import Lead
from tests.factories import make_activity, make_delivery, make_lead

# Each personal field of the person holds a marker, so a leak is found by a search.
MARKERS = {
    "first_name": "Qwxfirst",
    "last_name": "Qwxlast",
    "email": "qwx.person.marker@leak.example",
    "phone": "+1 555 0199 731",
    "company": "Qwxcompany Ltd",
    "title": "Qwxtitle",
}


def make_person(*, publisher, **fields) -> Lead:
    lead = make_lead(publisher=publisher, **{**MARKERS, **fields})
    make_activity(lead=lead, description="Qwxdescription")
    return lead


def drain(target: CrmTarget) -> None:
    ratelimit.reset(target_id=target.pk)
    services.deliveries_drain(target_id=target.pk, budget_seconds=5)


def deliver(lead: Lead, target: CrmTarget, *, event=Delivery.Event.QUALIFIED) -> Delivery:
    """Deliver the lead to the target for real, through the outbox and the connector."""
    row = make_delivery(lead=lead, target=target, event=event)
    drain(target)
    row.refresh_from_db()
    assert row.status == Delivery.Status.DELIVERED, row.last_error
    return row


def erase(lead: Lead) -> list[Delivery]:
    """What the erase service does for crm: in its transaction, before the lead is blanked.
    The lead's contact fields are then replaced by placeholders, as privacy does."""
    with transaction.atomic():
        rows = services.erasure_deliveries_create(lead=lead, now=timezone.now())
        Lead.objects.filter(pk=lead.pk).update(
            first_name="", last_name="", email=f"erased-{lead.pk}@erased.invalid", phone=""
        )
    return rows


def erasure_of(lead: Lead, target: CrmTarget) -> Delivery:
    return Delivery.objects.get(lead=lead, target=target, event=Delivery.Event.ERASED)
