"""The delivery engine: drain a target's outbox rows into its CRM (DESIGN §4).

The Delivery row is the truth; Celery messages only wake a worker. A worker
  1. takes tokens from the target's bucket (its CRM's published rate limit),
  2. claims up to a batch of due or stuck rows with SELECT … FOR UPDATE SKIP LOCKED,
     counting the attempt and setting a lease before anything is sent,
  3. sends them in one connector call, outside any transaction, with timeouts,
  4. records each result: delivered; retryable (next attempt on the schedule, or later
     when the CRM sent Retry-After); permanent or out of attempts (failed, and one alert
     email per target per day).
A killed worker leaves its rows `sending` with a lease; when the lease ends the sweep
hands them to another worker. Delivery is therefore at least once; the connectors make
it exactly once at the CRM wherever the CRM allows it (reference/crm-contracts.md).
"""

import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from crm import alerts, payloads, ratelimit
from crm.connectors import ConfigurationError, Result, SendOptions, connector_for
from crm.models import CrmTarget, Delivery

logger = logging.getLogger(__name__)

JITTER = 0.2
MAX_RETRY_AFTER = 24 * 3600


@dataclass
class DrainReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    rate_limited_for: float = 0.0  # seconds until the bucket has a token again

    @property
    def attempted(self) -> int:
        return self.delivered + self.retrying + self.failed


def due_filter(now) -> Q:
    """Rows a worker may take: pending and due, or sending with an expired lease."""
    return Q(status=Delivery.Status.PENDING, next_attempt_at__lte=now) | Q(
        status=Delivery.Status.SENDING, lease_until__lt=now
    )


def next_delay(attempts: int, retry_after: float | None = None) -> float:
    """Seconds before the next attempt after `attempts` failed ones, with jitter."""
    schedule = settings.CRM_RETRY_SCHEDULE
    base = schedule[min(attempts, len(schedule) - 1)]
    delay = base * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311  (jitter, not crypto)
    if retry_after:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


@transaction.atomic
def deliveries_claim(*, target: CrmTarget, limit: int) -> list[Delivery]:
    """Claim up to `limit` due rows of the target: count the attempt, set the lease."""
    now = timezone.now()
    rows = list(
        Delivery.objects.select_for_update(skip_locked=True)
        .filter(due_filter(now), target=target)
        .order_by("next_attempt_at", "id")[:limit]
    )
    if not rows:
        return []
    lease_until = now + timedelta(seconds=_lease_seconds(target))
    Delivery.objects.filter(pk__in=[row.pk for row in rows]).update(
        status=Delivery.Status.SENDING,
        lease_until=lease_until,
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    for row in rows:
        row.status, row.lease_until, row.attempts = (
            Delivery.Status.SENDING,
            lease_until,
            row.attempts + 1,
        )
    return rows


BATCH_API_KINDS = {"marketo", "azure-table"}
# Kinds without a batch API still claim several rows at once (one POST each), so that a
# busy target costs one claim and one payload query per few rows, not per row.
CLAIM_WITHOUT_BATCH_API = 10


def claim_size(target: CrmTarget) -> int:
    if target.kind in BATCH_API_KINDS:
        return target.batch_size
    return max(target.batch_size, CLAIM_WITHOUT_BATCH_API)


def _lease_seconds(target: CrmTarget) -> int:
    # A connector without a batch API makes one call per row, each within its timeout.
    per_call = int(settings.CRM_TOTAL_TIMEOUT)
    calls = 1 if target.kind in BATCH_API_KINDS else claim_size(target)
    return settings.CRM_LEASE_SECONDS + per_call * calls


def send_options() -> SendOptions:
    return SendOptions(
        allow_private_targets=settings.CRM_ALLOW_PRIVATE_TARGETS,
        require_https=not settings.DEBUG,
        connect_timeout=settings.CRM_CONNECT_TIMEOUT,
        total_timeout=settings.CRM_TOTAL_TIMEOUT,
    )


def deliveries_drain(*, target_id: int, budget_seconds: float | None = None) -> DrainReport:
    """Send the target's due deliveries, batch by batch, within a time budget."""
    report = DrainReport()
    target = CrmTarget.objects.select_related("publisher").filter(pk=target_id).first()
    if target is None or not target.is_active:
        return report
    deadline = time.monotonic() + (budget_seconds or settings.CRM_TASK_BUDGET_SECONDS)
    while time.monotonic() < deadline:
        grant = ratelimit.take(
            target_id=target.pk,
            rate_limit=target.rate_limit,
            period_seconds=target.rate_period_seconds,
            wanted=claim_size(target),
        )
        if grant.granted == 0:
            report.rate_limited_for = grant.wait_seconds
            break
        batch = deliveries_claim(target=target, limit=grant.granted)
        if not batch:
            break
        _send_batch(target, batch, report)
        if not target.is_active:  # a 410 paused it
            break
    return report


def _send_batch(target: CrmTarget, batch: list[Delivery], report: DrainReport) -> None:
    try:
        results = connector_for(target.kind).send(
            target.config, payloads.payloads_for(batch, target), send_options()
        )
    except ConfigurationError as exc:
        results = [Result(str(d.idempotency_key), "permanent", error=str(exc)) for d in batch]
    except Exception as exc:  # a connector bug must not wedge the rows: retry later
        logger.exception("crm.delivery.connector_error", extra={"target_id": target.pk})
        results = [
            Result(
                str(d.idempotency_key), "retryable", error=f"internal error: {type(exc).__name__}"
            )
            for d in batch
        ]
    pairs = list(zip(batch, results, strict=True))
    delivered = [(d, r) for d, r in pairs if r.is_delivered]
    report.delivered += deliveries_record_delivered(pairs=delivered, target=target)
    for delivery, result in pairs:
        if not result.is_delivered:
            outcome = delivery_record(delivery=delivery, result=result, target=target)
            setattr(report, outcome, getattr(report, outcome) + 1)


def deliveries_record_delivered(*, pairs: list[tuple[Delivery, Result]], target) -> int:
    """Record the successes of a claim in one statement (PostgreSQL), each row only if
    this attempt still holds it; failures go through delivery_record one by one."""
    if not pairs:
        return 0
    if connection.vendor != "postgresql":
        return sum(
            delivery_record(delivery=d, result=r, target=target) == "delivered" for d, r in pairs
        )
    now = timezone.now()
    values = ", ".join(["(%s::bigint, %s::smallint, %s::smallint, %s::varchar)"] * len(pairs))
    params: list = []
    for delivery, result in pairs:
        params += [
            delivery.pk,
            delivery.attempts,
            result.status_code,
            result.response_excerpt[:500],
        ]
    table = Delivery._meta.db_table
    # The table name is the model's; every value is a bound parameter.
    sql = (
        f'UPDATE "{table}" AS d SET status = %s, delivered_at = %s, updated_at = %s, '  # noqa: S608
        "lease_until = NULL, last_error = '', last_status_code = v.code, "
        "response_excerpt = v.excerpt "
        f"FROM (VALUES {values}) AS v(id, attempts, code, excerpt) "
        "WHERE d.id = v.id AND d.status = %s AND d.attempts = v.attempts"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [Delivery.Status.DELIVERED, now, now, *params, Delivery.Status.SENDING])
        written = cursor.rowcount
    logger.info("crm.delivery.delivered", extra={"target_id": target.pk, "count": written})
    return written


@transaction.atomic
def delivery_record(*, delivery: Delivery, result: Result, target: CrmTarget) -> str:
    """Record one attempt's result; returns "delivered", "retrying" or "failed"."""
    now = timezone.now()
    fields = {
        "last_status_code": result.status_code,
        "last_error": result.error[:2000],
        "response_excerpt": result.response_excerpt[:500],
        "lease_until": None,
        "updated_at": now,
    }
    if result.is_delivered:
        outcome, fields["status"], fields["delivered_at"] = "delivered", "delivered", now
        fields["last_error"] = ""
    elif result.outcome == "retryable" and delivery.attempts < settings.CRM_MAX_ATTEMPTS:
        outcome, fields["status"] = "retrying", Delivery.Status.PENDING
        delay = next_delay(delivery.attempts, result.retry_after)
        fields["next_attempt_at"] = now + timedelta(seconds=delay)
    else:
        outcome, fields["status"] = "failed", Delivery.Status.FAILED
    # Only the attempt that holds the row may write it (its lease may have been taken).
    written = Delivery.objects.filter(
        pk=delivery.pk, status=Delivery.Status.SENDING, attempts=delivery.attempts
    ).update(**fields)
    if not written:
        return "retrying"
    log_extra = {"delivery_id": delivery.pk, "target_id": target.pk, "status": result.status_code}
    logger.info(f"crm.delivery.{outcome}", extra=log_extra)
    if outcome == "failed":
        if result.status_code == 410:
            _pause_gone_target(target, result)
        alerts.failure_alert_maybe(target=target, error=result.error, now=now)
    return outcome


def _pause_gone_target(target: CrmTarget, result: Result) -> None:
    """410 Gone: the endpoint says it will never take leads again (Standard Webhooks)."""
    CrmTarget.objects.filter(pk=target.pk).update(
        is_active=False, paused_reason=f"The endpoint answered 410 Gone: {result.error}"[:300]
    )
    target.is_active = False


def target_has_due(*, target_id: int) -> bool:
    """Whether the (active) target has a delivery due or stuck now."""
    return Delivery.objects.filter(
        due_filter(timezone.now()), target_id=target_id, target__is_active=True
    ).exists()


def due_targets(*, now=None) -> list[int]:
    """Targets with at least one due or stuck delivery (the sweep's question)."""
    now = now or timezone.now()
    return list(
        Delivery.objects.filter(due_filter(now), target__is_active=True)
        .values_list("target_id", flat=True)
        .distinct()
        .order_by()
    )


_RESET_FIELDS = ["status", "attempts", "next_attempt_at", "lease_until", "delivered_at"]


@transaction.atomic
def delivery_redeliver(*, delivery: Delivery) -> Delivery:
    """Send a delivered or failed delivery again, with the same delivery id (the CRM
    deduplicates on it where it can), from a fresh attempt count."""
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.status == Delivery.Status.SENDING:
        return delivery
    now = timezone.now()
    delivery.status, delivery.attempts, delivery.next_attempt_at = "pending", 0, now
    delivery.lease_until = delivery.delivered_at = None
    delivery.save(
        update_fields=[
            "status",
            "attempts",
            "next_attempt_at",
            "lease_until",
            "delivered_at",
            "updated_at",
        ]
    )
    from crm import services

    transaction.on_commit(
        lambda: services.deliveries_wake(target_ids={delivery.target_id}), robust=True
    )
    return delivery


@transaction.atomic
def deliveries_retry_now(*, deliveries) -> int:
    """Make pending deliveries due at once (staff's "retry now")."""
    now = timezone.now()
    count = Delivery.objects.filter(
        pk__in=[d.pk for d in deliveries], status=Delivery.Status.PENDING
    ).update(next_attempt_at=now, updated_at=now)
    from crm import services

    target_ids = {d.target_id for d in deliveries}
    transaction.on_commit(lambda: services.deliveries_wake(target_ids=target_ids), robust=True)
    return count


def oldest_due_age_seconds(*, now=None) -> float | None:
    """How long the oldest due delivery has waited (the health check reports it)."""
    now = now or timezone.now()
    oldest = (
        Delivery.objects.filter(due_filter(now))
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    return (now - oldest).total_seconds() if oldest else None


def outbox_health() -> dict:
    """For /healthz: how long the oldest due delivery has waited, in seconds."""
    age = oldest_due_age_seconds()
    return {"oldest_due_seconds": round(age, 1) if age is not None else None}
