"""Canonical delivery payloads, built from the outbox rows (reference: crm-contracts.md).

crm reads leads through leads.selectors; the connectors get plain dataclasses.
"""

from datetime import UTC

from django.utils import timezone

from crm.connectors import DeliveryPayload
from crm.models import CrmTarget, Delivery
from leads.lifecycle import selectors as leads_selectors
from leads.lifecycle.snapshot import CO_SELL_SOURCE, LeadSnapshot

TEST_MARKER = "MSFT_TEST_"


def payloads_for(deliveries: list[Delivery], target: CrmTarget) -> list[DeliveryPayload]:
    """One payload per delivery, in order (three queries whatever the batch size)."""
    facts = leads_selectors.leads_with_latest_activity(
        lead_ids=[d.lead_id for d in deliveries if d.lead_id]
    )
    payloads = []
    for delivery in deliveries:
        if delivery.lead_id is None:
            payloads.append(test_payload(target, str(delivery.idempotency_key)))
            continue
        lead, activity = facts[delivery.lead_id]
        payloads.append(_lead_payload(delivery, target, lead, activity))
    return payloads


def _lead_payload(delivery, target, lead, activity) -> DeliveryPayload:
    listing = activity.listing if activity else None
    campaign = (activity.campaign if activity else None) or lead.latest_campaign
    lead_source = activity.lead_source if activity else ""
    if lead.origin == "co-sell":
        lead_source = CO_SELL_SOURCE
    return DeliveryPayload(
        delivery_id=str(delivery.idempotency_key),
        event=delivery.event,
        **LeadSnapshot.of(lead).fields(),
        storefront=activity.storefront if activity else "",
        action_code=activity.action_code if activity else "",
        lead_source=lead_source,
        offer_id=listing.offer_id if listing else "",
        offer_title=listing.name if listing else "",
        publisher_id=lead.publisher.publisher_id,
        publisher_name=lead.publisher.name,
        description=activity.description if activity else "",
        campaign_code=campaign.code if campaign else "",
        extra_fields=dict(target.extra_fields or {}),
    )


def test_payload(target: CrmTarget, delivery_id: str) -> DeliveryPayload:
    """A synthetic lead in Partner Center's MSFT_TEST_ form, flagged as a test."""
    marker = f"{TEST_MARKER}{int(timezone.now().timestamp() * 10_000_000)}"
    publisher = target.publisher
    return DeliveryPayload(
        delivery_id=delivery_id,
        event=Delivery.Event.TEST,
        lead_id=delivery_id,
        first_name=marker,
        last_name=marker,
        email=f"{marker}@test.com",
        phone="1234567890",
        country="US",
        company=marker,
        title=marker,
        storefront="appsource",
        action_code="INS",
        lead_source=f"{marker}-{marker}|Lead Portal test",
        offer_id=f"{publisher.publisher_id}.test" if publisher else "microsoft.test",
        offer_title="Lead Portal test",
        publisher_id=publisher.publisher_id if publisher else "microsoft",
        publisher_name=publisher.name if publisher else "Microsoft",
        description=marker,
        campaign_code="",
        score=0,
        status="new",
        created_at=timezone.now().astimezone(UTC).isoformat(),
        origin="marketplace",
        is_test=True,
        extra_fields=dict(target.extra_fields or {}),
    )
