"""The outbox: the writes of Delivery rows (claims and leases in crm.leases), and the
wake-up of the workers (DESIGN §4).

A lead change writes its rows in its own transaction (deliveries_create). The row is
the truth; after commit one Celery message per target only wakes a worker (at most one
queued per target and drain slot), and the beat sweep wakes the targets whose message
was lost. A worker
  1. takes tokens from the target's bucket (its CRM's published rate limit),
  2. claims up to a batch of due or stuck rows in one statement (crm.leases,
     crm.outbox_sql), counting the attempt and setting a lease before anything is sent,
  3. sends them (one call per batch, or per row without a batch API, those together on
     a few threads: crm.sending), outside any transaction, with timeouts,
  4. records the batch's results in one statement (crm.records): delivered; retryable
     (next attempt on the schedule, or later when the CRM sent Retry-After); permanent
     or out of attempts (failed, and one alert email per target per day).
The claimed rows and the drain slot are held under a short lease that the drain's
heartbeat renews while it works (crm.leases): a killed worker's rows go back to
`pending` within one lease (CRM_LEASE_SECONDS), and a worker asked to stop gives back
what it has not sent at once. Delivery is therefore at least once; the connectors make
it exactly once at the CRM wherever the CRM allows it (reference/crm-contracts.md).
The two tasks that a wake-up queues (deliver_target, send_test_lead) end this module:
they call the outbox and the outbox queues them, so one module holds both (no cycle).
"""

import logging
import threading
import time
from dataclasses import dataclass

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from crm import erasure, leases, pacing, ratelimit, records, selectors, sending, test_leads
from crm.connectors import Result
from crm.coverage import targets_covering_cached
from crm.models import CrmTarget, Delivery
from portal.leases import stopping

# The test lead's sending lives in crm.test_leads; these names stay importable from here.
TEST_STALE_SECONDS = test_leads.TEST_STALE_SECONDS
TestLeadResult = test_leads.TestLeadResult

logger = logging.getLogger(__name__)

# Publish once, never retry in a request: the sweep retries a wake-up, an owner waits.
ONE_TRY = {"max_retries": 0}


@dataclass
class DrainReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    rate_limited_for: float = 0.0  # seconds until the bucket has a token again

    @property
    def attempted(self) -> int:
        return self.delivered + self.retrying + self.failed


EVENTS = {"qualified": Delivery.Event.QUALIFIED, "updated": Delivery.Event.UPDATED}


def deliveries_create(*, events: list[tuple], field_seller: bool = True) -> list[Delivery]:
    """Write the outbox rows for (lead, "qualified" | "updated", listing id) events: one per
    target that covers the listing, the field-seller targets included. Call it inside the
    transaction that changed the lead; workers are woken after commit. Co-Sell referrals
    pass field_seller=False: they came from the field-seller CRM."""
    if not events:
        return []
    now = timezone.now()
    targets = targets_covering_cached(publisher_ids={lead.publisher_id for lead, _, _ in events})
    rows = [
        Delivery(lead=lead, target_id=target.target_id, event=EVENTS[event], next_attempt_at=now)
        for lead, event, listing_id in events
        for target in targets
        if target.covers(
            publisher_id=lead.publisher_id, listing_id=listing_id, field_seller=field_seller
        )
    ]
    if not rows:
        return []
    # A lead is qualified once per target: a repeated qualification is absorbed by the
    # partial unique index instead of failing the whole intake.
    created = Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    target_ids = {row.target_id for row in rows}
    transaction.on_commit(lambda: deliveries_wake(target_ids=target_ids), robust=True)
    return created


def erasure_deliveries_create(*, lead, now=None) -> list[Delivery]:
    """Write one lead.erased delivery for every target that received the lead (the
    field-seller's included), cancel its unsent deliveries and blank the answers they
    kept; returns the lead's erasure deliveries. Call it in the erase transaction, before
    the lead is blanked."""
    now = now or timezone.now()
    rows = erasure.erasure_rows(lead=lead, now=now)
    erasure.lead_deliveries_close(lead=lead, now=now)
    # One erasure per lead and target (a constraint): erasing again writes nothing.
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    if rows:
        target_ids = {row.target_id for row in rows}
        transaction.on_commit(lambda: deliveries_wake(target_ids=target_ids), robust=True)
    return list(
        Delivery.objects.filter(lead=lead, event=Delivery.Event.ERASED)
        .select_related("target")
        .order_by("id")
    )


def deliveries_drain(
    *, target_id: int, budget_seconds: float | None = None, slot: str | None = None
) -> DrainReport:
    """Send the target's due deliveries, batch by batch, within a time budget, under
    renewed leases (crm.leases); stop early when the worker is asked to stop."""
    report = DrainReport()
    target = CrmTarget.objects.select_related("publisher").filter(pk=target_id).first()
    if target is None or not target.is_active:
        return report
    deadline = time.monotonic() + (budget_seconds or settings.CRM_TASK_BUDGET_SECONDS)
    holding = leases.Holding(slot)
    with holding.heartbeat(deadline=deadline + pacing.hold_seconds(target)):
        try:
            _drain_batches(target, deadline, holding, report)
        except (OperationalError, InterfaceError):
            # A cut connection (failover, pg_terminate_backend): give back on a fresh one.
            logger.warning("crm.drain.connection_lost", extra={"target_id": target_id})
            connection.close()
            leases.deliveries_give_back(held=holding.held(), uncount=False)
    return report


def _drain_batches(target, deadline: float, holding: leases.Holding, report) -> None:
    while time.monotonic() < deadline and not stopping.is_set():
        grant = ratelimit.take(
            target_id=target.pk,
            rate_limit=target.rate_limit,
            period_seconds=target.rate_period_seconds,
            wanted=pacing.claim_size(target),
        )
        if grant.granted == 0:
            report.rate_limited_for = grant.wait_seconds
            break
        batch = leases.deliveries_claim(target=target, limit=grant.granted)
        if not batch:
            break
        holding.hold(batch)
        _send_batch(target, batch, report)
        holding.let_go(batch)
        if not target.is_active:  # a 410 paused it
            break


def _send_batch(target: CrmTarget, batch: list[Delivery], report: DrainReport) -> None:
    """Send a claim (crm.sending: the first call alone, the rest together) and record its
    results in one statement. Rows whose call was not made because the worker was asked
    to stop are given back at once, their attempt uncounted."""
    batch = erasure.rows_of_erased_leads_refuse(rows=batch)
    calls = sending.calls_for(target, batch, pacing.send_options())
    pairs, unsent = sending.calls_run(target, calls)
    if unsent:
        leases.deliveries_give_back(held={d.pk: d.attempts for d in unsent}, uncount=True)
    outcomes = records.deliveries_record(pairs=pairs, target=target)
    for delivery, result in pairs:
        outcome = outcomes[delivery.pk]
        if outcome is None and result.is_delivered:
            continue  # a late success: the row is no longer this attempt's
        outcome = outcome or records.RETRYING  # a late failure: retried by its new holder
        setattr(report, outcome, getattr(report, outcome) + 1)


def deliveries_record_delivered(*, pairs: list[tuple[Delivery, Result]], target) -> int:
    """Record successes (crm.records, one statement); returns how many were written, a
    row only if this attempt still holds it."""
    outcomes = records.deliveries_record(pairs=pairs, target=target)
    return sum(outcome == records.DELIVERED for outcome in outcomes.values())


def delivery_record(*, delivery: Delivery, result: Result, target: CrmTarget) -> str:
    """Record one attempt's result; returns "delivered", "retrying" or "failed"."""
    outcomes = records.deliveries_record(pairs=[(delivery, result)], target=target)
    return outcomes[delivery.pk] or records.RETRYING


_RESET_FIELDS = ["status", "attempts", "next_attempt_at", "lease_until", "delivered_at"]


@transaction.atomic
def delivery_redeliver(*, delivery: Delivery) -> Delivery:
    """Send a delivered or failed delivery again, with the same delivery id (the CRM
    deduplicates on it where it can), from a fresh attempt count."""
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.status == Delivery.Status.SENDING:
        return delivery
    if not selectors.delivery_may_redeliver(delivery=delivery):
        return delivery
    now = timezone.now()
    delivery.status, delivery.attempts, delivery.next_attempt_at = "pending", 0, now
    delivery.lease_until = delivery.delivered_at = None
    delivery.save(update_fields=[*_RESET_FIELDS, "updated_at"])
    transaction.on_commit(lambda: deliveries_wake(target_ids={delivery.target_id}), robust=True)
    return delivery


@transaction.atomic
def deliveries_retry_now(*, deliveries) -> int:
    """Make pending deliveries due at once (staff's "retry now")."""
    now = timezone.now()
    count = Delivery.objects.filter(
        pk__in=[d.pk for d in deliveries], status=Delivery.Status.PENDING
    ).update(next_attempt_at=now, updated_at=now)
    target_ids = {d.target_id for d in deliveries}
    transaction.on_commit(lambda: deliveries_wake(target_ids=target_ids), robust=True)
    return count


_wake = threading.local()


def deliveries_wake(*, target_ids: set[int], copies: int = 1) -> int:
    """Tell the workers that these targets have due deliveries; returns how many
    wake-ups were queued. Best effort: when the broker is down, the beat sweep finds the
    rows anyway (DESIGN §4), so the publish makes one attempt and never retries in the
    request. Each thread keeps one broker connection for this, instead of opening one
    per commit.

    At most one wake-up per (target, slot) is queued at a time: a mark in the shared cache
    is added with the message and cleared when its task starts (`wake_taken`). A target
    with a wake-up already queued is skipped, so a sweep every few seconds cannot pile
    up messages for failing targets ahead of everything else. The mark's lifetime
    (CRM_WAKE_TTL_SECONDS) bounds how long a lost message holds a target back."""
    queued, mark = 0, None
    try:
        if getattr(_wake, "connection", None) is None:
            _wake.connection = deliver_target.app.connection_for_write(transport_options=ONE_TRY)
        for target_id in sorted(target_ids):
            for slot in range(copies):
                mark = _wake_mark(target_id, slot)
                if not _wake_mark_add(mark):
                    continue  # one is queued already
                deliver_target.apply_async(
                    args=[target_id],
                    kwargs={"wake_slot": slot},
                    connection=_wake.connection,
                    retry=False,
                )
                queued, mark = queued + 1, None
    except Exception as exc:  # the broker is down: the outbox row is the truth
        if mark is not None:
            _wake_marks_clear([mark])  # not queued: let the next sweep try again
        connection, _wake.connection = getattr(_wake, "connection", None), None
        if connection is not None:
            connection.release()
        logger.warning(
            "crm.wake.failed", extra={"targets": len(target_ids), "error": type(exc).__name__}
        )
    return queued


def wake_taken(*, target_id: int, slot: int) -> None:
    """A wake-up's task has started: the next one may be queued."""
    _wake_marks_clear([_wake_mark(target_id, slot)])


def _wake_mark(target_id: int, slot: int) -> str:
    return f"leadportal:crm:wake:{target_id}:{slot}"


def _marks_are_shared() -> bool:
    # The first run's local-memory cache is one per process: marks there would never be
    # cleared by the worker, so without a shared cache every wake-up is queued.
    return "locmem" not in settings.CACHES["default"]["BACKEND"].lower()


def _wake_mark_add(mark: str) -> bool:
    if not _marks_are_shared():
        return True
    try:
        return cache.add(mark, 1, timeout=settings.CRM_WAKE_TTL_SECONDS)
    except Exception:  # the cache is down: waking twice beats not waking
        return True


def _wake_marks_clear(marks: list[str]) -> None:
    if not _marks_are_shared():
        return
    try:
        cache.delete_many(marks)
    except Exception:  # the mark lapses on its own
        logger.warning("crm.wake.mark_not_cleared", extra={"marks": len(marks)})


def target_drain(*, target_id: int, wake_slot: int | None = None) -> None:
    """Drain one target's due deliveries in one of its CRM_TARGET_DRAINS slots."""
    # At most CRM_TARGET_DRAINS tasks drain one target at a time (kept below the worker
    # concurrency), so a slow or dead CRM holds a few workers, never all of them.
    if wake_slot is not None:
        wake_taken(target_id=target_id, slot=wake_slot)
    lock = leases.drain_slot_take(target_id)
    if lock is None:
        return
    try:
        report = deliveries_drain(target_id=target_id, slot=lock)
    finally:
        leases.drain_slot_release(lock)
    if not report.rate_limited_for and selectors.target_has_due(target_id=target_id):
        # Rows are due now (a backlog past the budget, new leads, rows a stopping worker
        # gave back): hand over to fresh tasks, one per free slot, so a backlog drains in
        # parallel and a deploy's next worker takes over at once. Rows backing off wake
        # nothing: the sweep finds them when they are due.
        deliveries_wake(target_ids={target_id}, copies=settings.CRM_TARGET_DRAINS)


def targets_sweep() -> None:
    """Put the rows of dead holders back (expired leases), then wake a worker for every
    target with due rows and no drain in every slot."""
    leases.deliveries_reclaim_expired()
    targets = selectors.due_targets()
    if targets and (waking := set(targets) - leases.draining_fully(targets)):
        deliveries_wake(target_ids=waking)


def wake_marks_forget() -> None:
    """A worker started: forget the wake-up marks. A killed worker's reserved messages
    come back only after the visibility timeout; their marks would hold targets back."""
    target_ids = CrmTarget.objects.filter(is_active=True).values_list("pk", flat=True)
    drains = range(settings.CRM_TARGET_DRAINS)
    _wake_marks_clear([_wake_mark(target_id, slot) for target_id in target_ids for slot in drains])


@transaction.atomic
def target_test_start(*, target: CrmTarget) -> Delivery:
    """Record a test lead as a pending `test` delivery and, after commit, queue its
    sending on a worker (`crm.send_test_lead`). The sweep never takes it (it has no
    next attempt): a test lead gets one attempt, its result shown on the target's page."""
    record = Delivery.objects.create(
        target=target, event=Delivery.Event.TEST, status=Delivery.Status.PENDING
    )
    transaction.on_commit(lambda: _test_enqueue(record.pk), robust=True)
    return record


def _test_enqueue(delivery_id: int) -> None:
    try:
        with send_test_lead.app.connection_for_write(transport_options=ONE_TRY) as connection:
            send_test_lead.apply_async(args=[delivery_id], connection=connection, retry=False)
    except Exception as exc:  # the broker is down: say so now rather than wait in vain
        Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING).update(
            status=Delivery.Status.FAILED,
            last_error="The task queue is unavailable. Try again in a moment.",
        )
        logger.warning(
            "crm.test_lead.not_queued",
            extra={"delivery_id": delivery_id, "error": type(exc).__name__},
        )


def target_test_run(*, delivery_id: int) -> test_leads.TestLeadResult | None:
    """The worker's half: send a pending test lead once; None when it is gone or was
    already taken (a redelivered message)."""
    taken = Delivery.objects.filter(
        pk=delivery_id, event=Delivery.Event.TEST, status=Delivery.Status.PENDING
    ).update(status=Delivery.Status.SENDING, attempts=1, updated_at=timezone.now())
    if not taken:
        return None
    record = Delivery.objects.select_related("target__publisher").get(pk=delivery_id)
    return test_leads.test_send(record)


@shared_task(name="crm.deliver_target")
def deliver_target(target_id: int, wake_slot: int | None = None) -> None:
    """Drain one target's due deliveries (queued by a wake-up)."""
    target_drain(target_id=target_id, wake_slot=wake_slot)


@shared_task(name="crm.send_test_lead")
def send_test_lead(delivery_id: int) -> None:
    """The portal's "send a test lead", off the web request: one attempt, its result
    written to the `test` delivery that the target's page polls."""
    target_test_run(delivery_id=delivery_id)
