"""The retention run: erase every publisher's leads past its retention, in batches.

The algorithm (docs/privacy.md, "Retention"):
  1. Begin. With no run unfinished, plan one in a transaction: a row per publisher with
     retention on, its cutoff fixed now (`months` calendar months before the start). The
     partial unique constraint allows one unfinished run, so two beats cannot start two.
     A run left unfinished by a dead worker (its lease passed) is taken over instead.
  2. Work the publishers in id order. Each batch is one transaction: extend the lease if
     it is still ours (a guarded UPDATE, which also locks the run row until the commit),
     select up to RETENTION_BATCH_SIZE ids past the cutoff (a range scan of a partial
     index, ids only), hand them to the erasure service and count them. Memory holds one
     batch of ids; a crash loses at most the batch in flight, which rolls back whole, and
     erased leads no longer match, so the run resumes where it stopped and never erases a
     lead twice.
  3. A batch the erasure refuses (an exception) rolls back; the publisher's part records
     the exception's class, the run counts an error, and the next publisher goes on. The
     next day's run tries the publisher again.
  4. Past its time budget the worker lets go of the run between batches (the lease
     cleared) and the task queues itself again, which takes the run at once. With no
     part left, the run is finished and its figures are logged (counts and ids only,
     never a lead's data).
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from leads.models import Lead
from privacy.retention import selectors
from privacy.retention.models import RetentionRun, RetentionRunPublisher

logger = logging.getLogger(__name__)

# privacy.services.leads_erase: (*, leads, actor, reason, source) -> ErasureReport; the
# erasure of one publisher's leads in one transaction.
Erase = Callable[..., object]
SOURCE = "retention"


@dataclass(frozen=True)
class RetentionLimits:
    batch_size: int
    lease: timedelta
    budget_seconds: float

    @classmethod
    def from_settings(cls) -> "RetentionLimits":
        return cls(
            batch_size=settings.RETENTION_BATCH_SIZE,
            lease=timedelta(seconds=settings.RETENTION_LEASE_SECONDS),
            budget_seconds=settings.RETENTION_TASK_BUDGET_SECONDS,
        )


class LeaseLost(Exception):
    """Another worker took the run over: this one stops without touching it."""


def retention_run_begin(*, now: datetime, lease: timedelta) -> RetentionRun | None:
    """Plan a new run, or take over one whose worker died; None while one is worked."""
    running = RetentionRun.objects.filter(status=RetentionRun.Status.RUNNING).first()
    if running is not None:
        open_run = RetentionRun.objects.filter(pk=running.pk, status=RetentionRun.Status.RUNNING)
        # Handed over (a worker past its budget let go), or lost (its lease passed).
        handed = open_run.filter(lease_until__isnull=True).update(lease_until=now + lease)
        lost = not handed and open_run.filter(lease_until__lt=now).update(
            lease_until=now + lease, resumes=F("resumes") + 1
        )
        if not (handed or lost):
            return None
        running.refresh_from_db()
        if lost:
            logger.warning("privacy.retention.resumed", extra={"run_id": running.pk})
        return running
    try:
        return _plan(now=now, lease=lease)
    except IntegrityError:
        return None  # another worker planned one at the same moment


@transaction.atomic
def _plan(*, now: datetime, lease: timedelta) -> RetentionRun:
    publishers = selectors.publishers_with_retention()
    run = RetentionRun.objects.create(
        started_at=now, lease_until=now + lease, publishers=len(publishers)
    )
    RetentionRunPublisher.objects.bulk_create(
        RetentionRunPublisher(
            run=run,
            publisher_id=publisher_id,
            months=months,
            cutoff=selectors.months_before(now, months),
        )
        for publisher_id, months in publishers
    )
    logger.info(
        "privacy.retention.started", extra={"run_id": run.pk, "publishers": len(publishers)}
    )
    return run


def retention_run_work(
    *,
    run: RetentionRun,
    erase: Erase,
    limits: RetentionLimits,
    clock: Callable[[], datetime] = timezone.now,
) -> bool:
    """Work the run's open parts until done (True) or past the budget (False)."""
    deadline = time.monotonic() + limits.budget_seconds
    parts = run.parts.filter(finished_at__isnull=True).order_by("publisher_id")
    try:
        for part in parts.iterator():
            while True:
                if time.monotonic() >= deadline:
                    _hand_over(run)
                    return False
                if not _batch(run=run, part=part, erase=erase, limits=limits, clock=clock):
                    break
    except LeaseLost:
        logger.warning("privacy.retention.lease_lost", extra={"run_id": run.pk})
        return True
    except SoftTimeLimitExceeded:
        # Celery's soft limit came before the budget (a slow batch): the batch rolled back,
        # and the next stretch takes the run over at once.
        _hand_over(run)
        return False
    _finish(run=run, now=clock())
    return True


def _batch(
    *,
    run: RetentionRun,
    part: RetentionRunPublisher,
    erase: Erase,
    limits: RetentionLimits,
    clock: Callable[[], datetime],
) -> bool:
    """Erase one batch of the part; False when the part is done (or failed)."""
    try:
        with transaction.atomic():
            lease_until = _hold(run=run, now=clock(), lease=limits.lease)
            ids = selectors.lead_ids_past_retention(
                publisher_id=part.publisher_id, cutoff=part.cutoff, limit=limits.batch_size
            )
            if ids:
                erase(
                    leads=Lead.objects.filter(pk__in=ids),
                    actor=None,
                    reason=f"Retention: {part.months} months after the last activity.",
                    source=SOURCE,
                )
                _count(run=run, part=part, erased=len(ids))
            else:
                RetentionRunPublisher.objects.filter(pk=part.pk).update(finished_at=clock())
    except (LeaseLost, SoftTimeLimitExceeded):
        raise
    except Exception as exc:
        # The batch rolled back whole (the lease too): record the class, go on.
        _fail(run=run, part=part, error=type(exc).__name__, now=clock())
        return False
    run.lease_until = lease_until  # committed with the batch
    if ids:
        logger.info(
            "privacy.retention.batch",
            extra={"run_id": run.pk, "publisher_id": part.publisher_id, "leads": len(ids)},
        )
    return bool(ids)


def _hold(*, run: RetentionRun, now: datetime, lease: timedelta) -> datetime:
    """Extend the lease if it is still ours, in one guarded UPDATE that also locks the run
    row until the batch commits (a takeover waits, then finds the lease renewed)."""
    held = RetentionRun.objects.filter(
        pk=run.pk, status=RetentionRun.Status.RUNNING, lease_until=run.lease_until
    ).update(lease_until=now + lease)
    if not held:
        raise LeaseLost
    return now + lease


def _count(*, run: RetentionRun, part: RetentionRunPublisher, erased: int) -> None:
    RetentionRunPublisher.objects.filter(pk=part.pk).update(
        leads_erased=F("leads_erased") + erased, batches=F("batches") + 1
    )
    RetentionRun.objects.filter(pk=run.pk).update(
        leads_erased=F("leads_erased") + erased, batches=F("batches") + 1
    )


def _hand_over(run: RetentionRun) -> None:
    """Let go of the run between batches, so that the next stretch takes it at once."""
    RetentionRun.objects.filter(pk=run.pk, lease_until=run.lease_until).update(lease_until=None)


@transaction.atomic
def _fail(*, run: RetentionRun, part: RetentionRunPublisher, error: str, now: datetime) -> None:
    RetentionRunPublisher.objects.filter(pk=part.pk).update(error=error[:100], finished_at=now)
    RetentionRun.objects.filter(pk=run.pk).update(errors=F("errors") + 1)
    logger.error(
        "privacy.retention.failed",
        extra={"run_id": run.pk, "publisher_id": part.publisher_id, "error": error},
    )


def _finish(*, run: RetentionRun, now: datetime) -> None:
    RetentionRun.objects.filter(pk=run.pk, status=RetentionRun.Status.RUNNING).update(
        status=RetentionRun.Status.FINISHED, finished_at=now, lease_until=None
    )
    run.refresh_from_db()
    logger.info(
        "privacy.retention.finished",
        extra={
            "run_id": run.pk,
            "publishers": run.publishers,
            "leads_erased": run.leads_erased,
            "batches": run.batches,
            "errors": run.errors,
            "resumes": run.resumes,
        },
    )


def retention_run(
    *,
    erase: Erase,
    limits: RetentionLimits | None = None,
    clock: Callable[[], datetime] = timezone.now,
) -> RetentionRun | None:
    """Begin or take over a run and work it within the budget; the run, or None when
    another worker holds it. The run is still `running` when the budget ran out."""
    limits = limits or RetentionLimits.from_settings()
    run = retention_run_begin(now=clock(), lease=limits.lease)
    if run is None:
        return None
    retention_run_work(run=run, erase=erase, limits=limits, clock=clock)
    run.refresh_from_db()
    return run
