"""Recording a claim's results in one statement per batch
(docs/delivery.md#claims-and-records).

`settlement_for` decides what each attempt's result writes: delivered; retryable (the
next attempt on the schedule, or later when the CRM sent Retry-After); permanent or out
of attempts (failed). `deliveries_record` writes the whole batch at once, each row only
if this attempt still holds it, then logs, counts, pauses a target that answered 410
and sends the day's failure alert. On PostgreSQL the write is one statement
(crm.outbox_sql.settle); elsewhere one ORM update per row in one transaction.
"""

import logging
from collections import Counter
from contextlib import nullcontext
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from crm import alerts, erasure, outbox_sql, pacing
from crm.connectors import Result
from crm.models import CrmTarget, Delivery
from crm.outbox_sql import Settlement
from portal import metrics

logger = logging.getLogger(__name__)

DELIVERED, RETRYING, FAILED = "delivered", "retrying", "failed"


def settlement_for(*, delivery: Delivery, result: Result, now: datetime) -> tuple[str, Settlement]:
    """The outcome ("delivered", "retrying" or "failed") and what it writes."""
    fields: dict = {}
    if result.is_delivered:
        outcome, status, fields["delivered_at"] = DELIVERED, Delivery.Status.DELIVERED, now
    elif result.outcome == "retryable" and delivery.attempts < settings.CRM_MAX_ATTEMPTS:
        outcome, status = RETRYING, Delivery.Status.PENDING
        delay = pacing.next_delay(delivery.attempts, result.retry_after)
        fields["next_attempt_at"] = now + timedelta(seconds=delay)
    else:
        outcome, status = FAILED, Delivery.Status.FAILED
    if delivery.event == Delivery.Event.ERASED:
        settled = erasure.settled_fields(result=result, status=status)
        fields["outcome"] = settled.get("outcome")
        fields["lookup_wiped"] = "lookup" in settled
    return outcome, Settlement(
        delivery_id=delivery.pk,
        attempts=delivery.attempts,
        status=status,
        status_code=result.status_code,
        error="" if result.is_delivered else result.error[:2000],
        excerpt=result.response_excerpt[:500],
        **fields,
    )


def deliveries_record(
    *, pairs: list[tuple[Delivery, Result]], target: CrmTarget
) -> dict[int, str | None]:
    """Record a batch's results; returns each delivery's outcome, None for a row this
    attempt no longer holds (its lease ran out and the sweep or another worker took it:
    the late answer is dropped)."""
    if not pairs:
        return {}
    now = timezone.now()
    decided = {d.pk: settlement_for(delivery=d, result=r, now=now) for d, r in pairs}
    settlements = [settlement for _, settlement in decided.values()]
    on_postgresql = connection.vendor == "postgresql"
    # One statement needs no transaction block, unless a failure pauses or alerts with it.
    failing = any(outcome == FAILED for outcome, _ in decided.values())
    with transaction.atomic() if failing or not on_postgresql else nullcontext():
        if on_postgresql:
            written = outbox_sql.settle(settlements=settlements, now=now)
        else:
            written = {s.delivery_id for s in settlements if _settle_portable(s, now)}
        outcomes = {
            pk: (outcome if pk in written else None) for pk, (outcome, _) in decided.items()
        }
        _after(pairs, outcomes, target, now)
    return outcomes


def _settle_portable(s: Settlement, now: datetime) -> bool:
    fields = {
        "status": s.status,
        "last_status_code": s.status_code,
        "last_error": s.error,
        "response_excerpt": s.excerpt,
        "lease_until": None,
        "updated_at": now,
    }
    for name in ("delivered_at", "next_attempt_at", "outcome"):
        if getattr(s, name) is not None:
            fields[name] = getattr(s, name)
    if s.lookup_wiped:
        fields["lookup"] = {}
    # Only the attempt that holds the row may write it (its lease may have been taken).
    return bool(
        Delivery.objects.filter(
            pk=s.delivery_id, status=Delivery.Status.SENDING, attempts=s.attempts
        ).update(**fields)
    )


def _after(pairs, outcomes: dict[int, str | None], target: CrmTarget, now: datetime) -> None:
    """Logs and metrics of what was written; a 410 pauses the target; a failure sends
    the day's alert (one a day per target, crm.alerts)."""
    counts = Counter(outcome for outcome in outcomes.values() if outcome)
    bulk = [d for d, _ in pairs if outcomes[d.pk] == DELIVERED and d.event != Delivery.Event.ERASED]
    if bulk:
        logger.info("crm.delivery.delivered", extra={"target_id": target.pk, "count": len(bulk)})
    failed: list[Result] = []
    for delivery, result in pairs:
        outcome = outcomes[delivery.pk]
        if outcome is None or (outcome == DELIVERED and delivery.event != Delivery.Event.ERASED):
            continue
        extra = {"delivery_id": delivery.pk, "target_id": target.pk, "status": result.status_code}
        logger.info(f"crm.delivery.{outcome}", extra=extra)
        if outcome == FAILED:
            failed.append(result)
    for outcome, count in counts.items():
        metrics.DELIVERIES.labels(kind=target.kind, outcome=outcome).inc(count)
    if counts[RETRYING]:
        metrics.DELIVERY_RETRIES.labels(kind=target.kind).inc(counts[RETRYING])
    if gone := next((r for r in failed if r.status_code == 410), None):
        _pause_gone_target(target, gone)
    if failed:
        alerts.failure_alert_maybe(target=target, error=failed[0].error, now=now)


def _pause_gone_target(target: CrmTarget, result: Result) -> None:
    """410 Gone: the endpoint says it will never take leads again (Standard Webhooks)."""
    CrmTarget.objects.filter(pk=target.pk).update(
        is_active=False, paused_reason=f"The endpoint answered 410 Gone: {result.error}"[:300]
    )
    target.is_active = False
