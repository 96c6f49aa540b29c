"""Claiming due nurture enrolments for one sender (leads.nurture.send), in one statement.

On PostgreSQL the claim is a single data-modifying statement: a CTE picks up to N due
enrolments of running sequences with `FOR UPDATE OF e SKIP LOCKED` (so concurrent senders
take disjoint rows), and the UPDATE moves their `next_send_at` a lease ahead, returning
their ids. The embedded SQLite default has one writer at a time and no row locks, so it
runs the same selection through the ORM and the same UPDATE in one transaction.
"""

from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from leads.models import EmailSend, Enrollment, NurtureSequence

LEASE = timedelta(seconds=15)  # renewed while the sender lives (leads.nurture.send)

_CLAIM = """
WITH due AS (
    SELECT e.id FROM {enrollment} e
    JOIN {sequence} s ON s.campaign_id = e.campaign_id
    WHERE e.state = %(active)s AND e.next_send_at <= %(now)s AND s.status = %(running)s
    {interrupted}
    ORDER BY e.next_send_at, e.id
    LIMIT %(limit)s
    FOR UPDATE OF e SKIP LOCKED
)
UPDATE {enrollment} AS claimed SET next_send_at = %(lease_until)s
FROM due WHERE claimed.id = due.id
RETURNING claimed.id
"""
_INTERRUPTED = (
    "AND EXISTS (SELECT 1 FROM {send} x WHERE x.enrollment_id = e.id AND x.status = %(sending)s)"
)


def enrollments_claim(*, batch_size: int, interrupted_only: bool = False) -> list[int]:
    """Claim up to batch_size due enrolments of running sequences for this sender (only
    those with a send left `sending` by a dead sender, when `interrupted_only`); their ids
    in ascending order."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        return _claim_postgresql(now, batch_size, interrupted_only)
    return _claim_portable(now, batch_size, interrupted_only)


def _claim_postgresql(now, batch_size: int, interrupted_only: bool) -> list[int]:
    tables = {
        "enrollment": Enrollment._meta.db_table,
        "sequence": NurtureSequence._meta.db_table,
        "send": EmailSend._meta.db_table,
    }
    sql = _CLAIM.format(
        interrupted=_INTERRUPTED.format(**tables) if interrupted_only else "", **tables
    )
    params = {
        "active": Enrollment.State.ACTIVE,
        "running": NurtureSequence.Status.RUNNING,
        "sending": EmailSend.Status.SENDING,
        "now": now,
        "limit": batch_size,
        "lease_until": now + LEASE,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(row[0] for row in cursor.fetchall())


def _claim_portable(now, batch_size: int, interrupted_only: bool) -> list[int]:
    due = Enrollment.objects.filter(
        state=Enrollment.State.ACTIVE,
        next_send_at__lte=now,
        campaign__nurture_sequence__status=NurtureSequence.Status.RUNNING,
    )
    if interrupted_only:
        sending = EmailSend.objects.filter(
            enrollment=OuterRef("pk"), status=EmailSend.Status.SENDING
        )
        due = due.filter(Exists(sending))
    with transaction.atomic():
        ids = list(
            due.select_for_update(skip_locked=True, of=("self",))
            .order_by("next_send_at", "pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if ids:
            Enrollment.objects.filter(pk__in=ids).update(next_send_at=now + LEASE)
    return sorted(ids)
