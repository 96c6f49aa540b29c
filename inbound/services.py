"""Store first, then process: inbound items in, leads out (docs/partner-center.md).

`inbound_item_store` is all the web process does for a webhook, and all a table read does
per entity: one INSERT, or nothing when the same item is already stored. Processing is
the worker's (`inbound_item_process`), and the beat sweep (`inbound_items_process_due`)
picks up whatever a lost task or a worker outage left pending.
"""

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from inbound import parsing
from inbound.models import InboundItem, InboundSource
from leads.intake import services as intake
from leads.intake.offers import eligibility_problem
from leads.models import LeadActivity, Listing
from portal import metrics

logger = logging.getLogger(__name__)

# A pending item older than this is the sweep's: its task was lost or the worker was down.
SWEEP_AFTER_SECONDS = 30
SWEEP_BATCH = 200
WAITING_RECHECK_SECONDS = 600


def inbound_item_store(
    *,
    source: InboundSource,
    body: str,
    dedupe_key: str,
    is_test: bool = False,
    received_at: datetime | None = None,
) -> tuple[InboundItem, bool]:
    """Keep an item as received; (item, False) when the same key was already stored.

    inbound.receive adds the worker's task; this is the store alone.
    """
    received_at = received_at or timezone.now()
    with transaction.atomic():
        # get_or_create: a concurrent replay loses on the unique key and gets the winner's row.
        item, is_new = InboundItem.objects.get_or_create(
            source=source,
            dedupe_key=dedupe_key,
            defaults={
                "publisher_id": source.publisher_id,
                "received_at": received_at,
                "body": body,
                "is_test": is_test,
            },
        )
        if is_new:
            InboundSource.objects.filter(pk=source.pk).update(last_received_at=received_at)
    return item, is_new


def inbound_item_process(*, item_id: int) -> InboundItem | None:
    """Process one pending or waiting item; None when another worker holds it."""
    with transaction.atomic():
        item = (
            InboundItem.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("source", "source__listing")
            .filter(pk=item_id, status__in=[InboundItem.Status.PENDING, InboundItem.Status.WAITING])
            .first()
        )
        if item is None:
            return None
        item.attempts += 1
        result = parsing.PARSERS[item.source.kind](item)
        if isinstance(result, parsing.InboundReject):
            return _finish(item, InboundItem.Status.REJECTED, result.code, result.reason)
        problem = eligibility_problem(result.listing)
        if problem:
            # A draft listing: kept until the listing is published (inbound_listing_published).
            return _finish(item, InboundItem.Status.WAITING, problem[0], problem[1])
        # The item is the lead's identity: processing it again (a retry after a crash)
        # is a replay, never a second activity.
        external_id = f"inbound:{item.pk}"
        result.payload.LeadId = external_id
        (outcome,) = intake.leads_ingest(
            storefront=result.storefront,
            items=[intake.IntakeItem(payload=result.payload, raw=result.raw)],
        )
        if outcome.errors:
            reason = "; ".join(error["msg"] for error in outcome.errors)
            code = outcome.errors[0].get("type", "refused")
            return _finish(item, InboundItem.Status.REJECTED, code, reason)
        item.activity_id = (
            LeadActivity.objects.filter(storefront=result.storefront, external_id=external_id)
            .values_list("pk", flat=True)
            .first()
        )
        return _finish(item, InboundItem.Status.PROCESSED, "", "")


def _finish(item: InboundItem, status: str, code: str, reason: str) -> InboundItem:
    item.status, item.reason_code, item.reason = status, code, reason
    item.processed_at = timezone.now()
    item.save(
        update_fields=["status", "reason_code", "reason", "attempts", "processed_at", "activity"]
    )
    if status == InboundItem.Status.REJECTED:
        logger.info("inbound.rejected", extra={"item_id": item.pk, "code": code})
    kind = item.source.kind
    metrics.INBOUND_ITEMS.labels(kind=kind, outcome=status).inc()
    if status == InboundItem.Status.PROCESSED:
        lag = (item.processed_at - item.received_at).total_seconds()
        metrics.INBOUND_LAG.labels(kind=kind).observe(max(lag, 0.0))
    return item


def inbound_items_process_due(*, limit: int = SWEEP_BATCH) -> int:
    """The beat sweep: process the pending items whose task was lost; returns how many."""
    cutoff = timezone.now() - timezone.timedelta(seconds=SWEEP_AFTER_SECONDS)
    ids = list(
        InboundItem.objects.filter(status=InboundItem.Status.PENDING, received_at__lte=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )
    # Items that waited for a listing now published (should its publish hook have been
    # missed: a listing published in admin's raw edit, or a lost task). Each is looked at
    # again at most every WAITING_RECHECK_SECONDS: one that waits for another listing (the
    # offer's sibling on the other storefront) must not be processed every minute.
    recheck = timezone.now() - timezone.timedelta(seconds=WAITING_RECHECK_SECONDS)
    ids += list(
        InboundItem.objects.filter(
            status=InboundItem.Status.WAITING,
            source__listing__status=Listing.Status.PUBLISHED,
            source__listing__lead_management_enabled=True,
            processed_at__lte=recheck,
        )
        .order_by("received_at")
        .values_list("pk", flat=True)[: max(0, limit - len(ids))]
    )
    for item_id in ids:
        inbound_item_process(item_id=item_id)
    return len(ids)


def inbound_items_reopen(*, items) -> list[int]:
    """Rejected or waiting items back to pending; their ids (inbound.receive enqueues them)."""
    ids = list(
        items.filter(
            status__in=[InboundItem.Status.REJECTED, InboundItem.Status.WAITING]
        ).values_list("pk", flat=True)
    )
    InboundItem.objects.filter(pk__in=ids).update(
        status=InboundItem.Status.PENDING, reason_code="", reason=""
    )
    return ids
