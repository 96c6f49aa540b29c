"""The send log's rows as the nurture sender writes them (leads.nurture.send): each
(enrolment, step) row committed as `sending` before any of its message's data goes to the
SMTP server, one autocommitted statement a message (docs/nurture.md, "At most once per step").
"""

from contextlib import contextmanager

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from leads.models import EmailSend, Enrollment, NurtureStep

_RESERVE = """
SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)
"""
_INSERT_SENDING_RESERVED = """
INSERT INTO leads_emailsend (id, enrollment_id, step_id, status, attempts, error, created_at)
VALUES (%s, %s, %s, 'sending', 1, '', %s)
ON CONFLICT (enrollment_id, step_id) DO NOTHING
RETURNING id
"""


@contextmanager
def commits_unflushed():
    """On PostgreSQL, the send loop's commits (the `sending` rows) return without waiting for
    their WAL flush (`synchronous_commit` off for this session until the loop ends).

    A dead worker loses nothing by it: the server holds a row once its INSERT returns, so the
    step is still never sent twice. Only a crash of PostgreSQL itself could lose the rows of
    its last moments (at most three `wal_writer_delay`s) and let those steps be sent again;
    the batch's outcomes are committed synchronously after it, which flushes them all
    (docs/nurture.md, "At most once per step").
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


def send_row_start(enrollment: Enrollment, step: NurtureStep) -> tuple[EmailSend, bool]:
    """Commit the (enrolment, step) row as `sending` before any SMTP traffic.

    Returns (row, True) when this run may send, or (an earlier run's row, False).
    """
    row = _send_row_insert(enrollment, step)
    if row is not None:
        return row, True
    row = EmailSend.objects.get(enrollment=enrollment, step=step)
    if row.status == EmailSend.Status.DEFERRED:
        retried = EmailSend.objects.filter(pk=row.pk, status=EmailSend.Status.DEFERRED).update(
            status=EmailSend.Status.SENDING, attempts=F("attempts") + 1
        )
        if retried:
            row.refresh_from_db()
            return row, True
    return row, False


_INSERT_SENDING = """
INSERT INTO leads_emailsend (enrollment_id, step_id, status, attempts, error, created_at)
VALUES (%s, %s, 'sending', 1, '', %s)
ON CONFLICT (enrollment_id, step_id) DO NOTHING
RETURNING id
"""


def _send_row_insert(enrollment: Enrollment, step: NurtureStep) -> EmailSend | None:
    """The new row, or None if the pair exists. On PostgreSQL one autocommitted statement
    (one round trip and one commit per message is the price of at-most-once), its commit
    unflushed (`commits_unflushed`)."""
    now = timezone.now()
    if connection.vendor != "postgresql":
        try:
            with transaction.atomic():
                return EmailSend.objects.create(enrollment=enrollment, step=step, created_at=now)
        except IntegrityError:
            return None
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SENDING, [enrollment.pk, step.pk, now])
        found = cursor.fetchone()
    if found is None:
        return None
    return EmailSend(id=found[0], enrollment=enrollment, step=step, created_at=now)


def row_ids_reserve(count: int) -> list[int]:
    """`count` ids of the send log's sequence, for rows not yet written (one round trip)."""
    with connection.cursor() as cursor:
        cursor.execute(_RESERVE, [EmailSend._meta.db_table, count])
        return [row[0] for row in cursor.fetchall()]


def row_insert(row: EmailSend) -> bool:
    """Commit `row` (its id reserved) as `sending`: False if its (enrolment, step) exists."""
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_SENDING_RESERVED, [row.pk, row.enrollment_id, row.step_id, row.created_at]
        )
        return cursor.fetchone() is not None


def rows_existing(enrollment_ids: list[int]) -> set[tuple[int, int]]:
    """The (enrolment, step) pairs of these enrolments that have a send row already."""
    return set(
        EmailSend.objects.filter(enrollment_id__in=enrollment_ids).values_list(
            "enrollment_id", "step_id"
        )
    )
