"""The outbox's claims and leases: claimed rows and drain slots follow the work
(docs/delivery.md#leases). With crm.services, the only writer of Delivery rows.

`deliveries_claim` takes due rows in one UPDATE … FOR UPDATE SKIP LOCKED … RETURNING
(crm.outbox_sql), counting the attempt and setting the lease before anything is sent. A
drain holds its target's drain slot (in the cache) and the rows it claimed (in the
database), each under a short lease of CRM_LEASE_SECONDS. While it works, a heartbeat
(portal.leases.Heartbeat) renews both every third of that, so a live worker keeps them
however slow the CRM is, and a dead worker loses them within one lease:
- the sweep (`deliveries_reclaim_expired`) puts a row whose lease ran out back to
  `pending`, due at once. The attempt counted at the claim stays counted, and the dead
  holder's late answer is dropped (its writes are guarded by status and attempt count);
- the slot lapses in the cache on its own, so the sweep wakes a worker for the target.
A worker asked to stop (SIGTERM) finishes its call in flight and gives back the rows it
has not sent (`deliveries_give_back`), their attempt uncounted, then frees its slot.
"""

import logging
import threading
from collections import Counter, defaultdict
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from crm import outbox_sql
from crm.models import CrmTarget, Delivery
from crm.selectors import due_filter
from portal.leases import Heartbeat

logger = logging.getLogger(__name__)


def renew_seconds() -> float:
    """How often a holder renews: a third of the lease, so two missed beats are survived."""
    return max(0.5, settings.CRM_LEASE_SECONDS / 3)


class Holding:
    """What one drain holds: its drain slot and its claimed rows (id -> claim's attempt)."""

    def __init__(self, slot: str | None = None) -> None:
        self.slot = slot
        self._rows: dict[int, int] = {}
        self._lock = threading.Lock()

    def hold(self, rows: list[Delivery]) -> None:
        with self._lock:
            self._rows.update((row.pk, row.attempts) for row in rows)

    def let_go(self, rows: list[Delivery]) -> None:
        with self._lock:
            for row in rows:
                self._rows.pop(row.pk, None)

    def held(self) -> dict[int, int]:
        with self._lock:
            return dict(self._rows)

    def renew(self) -> None:
        """The heartbeat's call: push the slot's and the rows' leases one lease ahead."""
        if self.slot is not None:
            try:
                cache.touch(self.slot, settings.CRM_LEASE_SECONDS)
            except Exception:  # the cache is away: the rows' leases matter more
                logger.warning("crm.lease.slot_not_renewed")
        held = self.held()
        if held:
            until = timezone.now() + timedelta(seconds=settings.CRM_LEASE_SECONDS)
            Delivery.objects.filter(_claimed(held), status=Delivery.Status.SENDING).update(
                lease_until=until
            )

    def heartbeat(self, *, deadline: float) -> Heartbeat:
        return Heartbeat(renew=self.renew, interval=renew_seconds(), deadline=deadline)


def deliveries_claim(*, target: CrmTarget, limit: int) -> list[Delivery]:
    """Claim up to `limit` due rows of the target, oldest due first: count the attempt,
    set a short lease (the drain's heartbeat renews it). On PostgreSQL one statement
    (crm.outbox_sql.claim); elsewhere the portable two-step below, same meaning."""
    now = timezone.now()
    lease_until = now + timedelta(seconds=settings.CRM_LEASE_SECONDS)
    if connection.vendor == "postgresql":
        return outbox_sql.claim(target_id=target.pk, limit=limit, now=now, lease_until=lease_until)
    return _claim_portable(target=target, limit=limit, now=now, lease_until=lease_until)


@transaction.atomic
def _claim_portable(*, target: CrmTarget, limit: int, now, lease_until) -> list[Delivery]:
    """SELECT … FOR UPDATE SKIP LOCKED (a no-op where the database has one writer, as
    SQLite), then UPDATE, in one transaction."""
    rows = list(
        Delivery.objects.select_for_update(skip_locked=True)
        .filter(due_filter(now), target=target)
        .order_by("next_attempt_at", "id")[:limit]
    )
    if not rows:
        return []
    Delivery.objects.filter(pk__in=[row.pk for row in rows]).update(
        status=Delivery.Status.SENDING,
        lease_until=lease_until,
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    for row in rows:
        row.status, row.lease_until = Delivery.Status.SENDING, lease_until
        row.attempts += 1
    return rows


# An interrupted row is due again in its place by age (claims take the oldest due first),
# not behind the backlog of rows that came in while its worker held it.
PUT_BACK = {"next_attempt_at": F("created_at")}


def _claimed(held: dict[int, int]) -> Q:
    """The rows as this holder claimed them: same id and the attempt it counted."""
    by_attempt: dict[int, list[int]] = defaultdict(list)
    for pk, attempts in held.items():
        by_attempt[attempts].append(pk)
    condition = Q(pk__in=[])
    for attempts, pks in by_attempt.items():
        condition |= Q(attempts=attempts, pk__in=pks)
    return condition


def deliveries_give_back(*, held: dict[int, int], uncount: bool) -> int:
    """Put rows this holder claimed back to `pending`, due at once and in their place by
    age (PUT_BACK), before any backlog of newer rows. `uncount` when no call was made for
    them (a graceful stop): the attempt is not spent."""
    if not held:
        return 0
    now = timezone.now()
    fields = {"status": Delivery.Status.PENDING, "lease_until": None, **PUT_BACK}
    if uncount:
        fields["attempts"] = F("attempts") - 1
    returned = Delivery.objects.filter(_claimed(held), status=Delivery.Status.SENDING).update(
        **fields, updated_at=now
    )
    logger.info("crm.lease.given_back", extra={"count": returned, "uncounted": uncount})
    return returned


@transaction.atomic
def deliveries_reclaim_expired() -> int:
    """The sweep's half: rows whose holder stopped renewing (a dead worker) go back to
    `pending`, due at once and in their place by age (PUT_BACK). Their attempt stays
    counted, so no duplicate effect comes of it."""
    now = timezone.now()
    expired = list(
        Delivery.objects.select_for_update(skip_locked=True)
        .filter(status=Delivery.Status.SENDING, lease_until__lt=now)
        .values_list("pk", "target_id")
    )
    if not expired:
        return 0
    Delivery.objects.filter(pk__in=[pk for pk, _ in expired]).update(
        status=Delivery.Status.PENDING, lease_until=None, updated_at=now, **PUT_BACK
    )
    for target_id, count in Counter(target_id for _, target_id in expired).items():
        logger.warning("crm.lease.reclaimed", extra={"target_id": target_id, "count": count})
    return len(expired)


def _drain_slot(target_id: int, slot: int) -> str:
    return f"leadportal:crm:draining:{target_id}:{slot}"


def drain_slot_take(target_id: int) -> str | None:
    """One of the target's CRM_TARGET_DRAINS slots, under a lease the heartbeat renews."""
    for slot in range(settings.CRM_TARGET_DRAINS):
        lock = _drain_slot(target_id, slot)
        if cache.add(lock, 1, timeout=settings.CRM_LEASE_SECONDS):
            return lock
    return None


def drain_slot_release(lock: str) -> None:
    cache.delete(lock)


def draining_fully(target_ids: list[int]) -> set[int]:
    """The targets whose every drain slot is taken: a wake-up would only be dropped."""
    slots = {
        _drain_slot(target_id, slot): target_id
        for target_id in target_ids
        for slot in range(settings.CRM_TARGET_DRAINS)
    }
    held = Counter(slots[key] for key in cache.get_many(list(slots)))
    return {target_id for target_id, count in held.items() if count >= settings.CRM_TARGET_DRAINS}
