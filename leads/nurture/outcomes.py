"""Recording what a nurture batch did (leads.nurture.send), with set-wise statements.

One transaction per batch: sent rows and the enrolments' next step, 4xx retries with
backoff (suppressed after MAX_SOFT_FAILURES), 5xx bounces (suppressed, enrolments
stopped), and the stops the batch decided.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import (
    Case,
    CharField,
    DateTimeField,
    F,
    IntegerField,
    PositiveSmallIntegerField,
    Value,
    When,
)

from leads.models import EmailSend, Enrollment, NurtureStep, Suppression
from leads.nurture import unsubscribe

MAX_SOFT_FAILURES = 5
SOFT_BACKOFF = (
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=4),
    timedelta(hours=12),
)
NO_ADDRESS_RETRY = timedelta(hours=1)


@dataclass
class SendReport:
    sent: int = 0
    deferred: int = 0
    bounced: int = 0
    interrupted: int = 0
    stopped: int = 0
    completed: int = 0
    unreachable: int = 0  # batches cut short because the SMTP server could not be reached
    capped: int = 0  # enrolments held to the next day by their publisher's daily cap
    outside_window: int = 0  # enrolments held until their publisher's send window opens

    def add(self, other: "SendReport") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Outcomes:
    """What a batch did, applied in one transaction at its end (or when it fails)."""

    advanced: list[tuple[Enrollment, NurtureStep]] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    message_ids: dict[int, str] = field(default_factory=dict)  # sent row -> its message id
    interrupted: list[int] = field(default_factory=list)
    deferred: list[tuple[Enrollment, EmailSend, int | None, str]] = field(default_factory=list)
    bounced: list[tuple[Enrollment, EmailSend, int | None, str]] = field(default_factory=list)
    stopped: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    held: list[int] = field(default_factory=list)
    capped: list[int] = field(default_factory=list)  # over the publisher's daily cap
    later: list[tuple[int, datetime]] = field(default_factory=list)  # outside the window
    done: set[int] = field(default_factory=set)
    retry_at: datetime | None = None  # for claimed enrolments the batch did not reach


def outcomes_record(out: Outcomes, steps, now: datetime, report: SendReport) -> None:
    """Write a batch's outcomes with a handful of set-wise statements."""
    EmailSend.objects.filter(pk__in=out.sent).update(
        status=EmailSend.Status.SENT,
        sent_at=now,
        smtp_code=250,
        error="",
        message_id=Case(
            *(When(pk=pk, then=Value(mid)) for pk, mid in out.message_ids.items()),
            default=F("message_id"),
        ),
    )
    EmailSend.objects.filter(pk__in=out.interrupted).update(status=EmailSend.Status.INTERRUPTED)
    report.sent += len(out.sent)
    report.interrupted += len(out.interrupted)
    _advance(out.advanced, steps, now, report)
    _defer(out, now, report)
    _bounce(out.bounced, now, report)
    for reason, ids in out.stopped.items():
        if reason == "completed":
            Enrollment.objects.filter(pk__in=ids).update(
                state=Enrollment.State.COMPLETED, next_send_at=None
            )
            report.completed += len(ids)
            continue
        Enrollment.objects.filter(pk__in=ids).update(
            state=Enrollment.State.STOPPED, stop_reason=reason, stopped_at=now, next_send_at=None
        )
        report.stopped += len(ids)
    Enrollment.objects.filter(pk__in=out.held).update(next_send_at=now + NO_ADDRESS_RETRY)
    Enrollment.objects.filter(pk__in=out.capped).update(next_send_at=next_utc_day(now))
    report.capped += len(out.capped)
    opens: dict[datetime, list[int]] = defaultdict(list)
    for enrollment_id, at in out.later:
        opens[at].append(enrollment_id)
    for at, ids in opens.items():  # one statement per publisher's window
        Enrollment.objects.filter(pk__in=ids).update(next_send_at=at)
    report.outside_window += len(out.later)


def next_utc_day(now: datetime) -> datetime:
    """Midnight UTC after `now`: when a publisher's daily cap starts again."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day + timedelta(days=1)


def _advance(advanced, steps, now: datetime, report: SendReport) -> None:
    """Move each enrolment past its step: to the next step's time, or completed."""
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for enrollment, step in advanced:
        groups[(enrollment.campaign_id, step.position)].append(enrollment.pk)
    for (campaign_id, position), ids in groups.items():
        following = next((s for s in steps[campaign_id] if s.position > position), None)
        changes = {"last_position": position, "last_sent_at": now, "soft_failures": 0}
        if following is None:
            changes |= {"state": Enrollment.State.COMPLETED, "next_send_at": None}
            report.completed += len(ids)
        else:
            changes["next_send_at"] = now + following.delay
        Enrollment.objects.filter(pk__in=ids).update(**changes)


def _defer(out: Outcomes, now: datetime, report: SendReport) -> None:
    """4xx: retry with backoff; after MAX_SOFT_FAILURES the address is suppressed."""
    retried: list[tuple[Enrollment, EmailSend, int | None, str]] = []
    for enrollment, row, code, error in out.deferred:
        if enrollment.soft_failures + 1 >= MAX_SOFT_FAILURES:
            out.bounced.append((enrollment, row, code, error))
        else:
            retried.append((enrollment, row, code, error))
    if not retried:
        return
    _rows_failed(retried, EmailSend.Status.DEFERRED)
    failures = {enrollment.pk: enrollment.soft_failures + 1 for enrollment, *_ in retried}
    Enrollment.objects.filter(pk__in=failures).update(
        soft_failures=_by_pk(failures, "soft_failures", IntegerField()),
        next_send_at=_by_pk(
            {
                pk: now + SOFT_BACKOFF[min(count - 1, len(SOFT_BACKOFF) - 1)]
                for pk, count in failures.items()
            },
            "next_send_at",
            DateTimeField(),
        ),
    )
    report.deferred += len(retried)


def _bounce(bounced, now: datetime, report: SendReport) -> None:
    """5xx (or too many 4xx): suppress the address for the publisher, stop its enrolments.

    The rows are marked in one statement; each address then goes through the suppression
    service (its consent evidence and the stop of every enrolment of that address)."""
    if not bounced:
        return
    _rows_failed(bounced, EmailSend.Status.BOUNCED)
    for enrollment, row, code, error in bounced:
        unsubscribe.suppression_add_email(
            publisher_id=enrollment.campaign.publisher_id,
            email=enrollment.lead.email_normalized,
            reason=Suppression.Reason.BOUNCED,
            send_id=row.pk,
            detail=f"{code or ''} {error}".strip(),
        )
    report.bounced += len(bounced)


def _rows_failed(failed, status: str) -> None:
    """One UPDATE: the rows' status, and each row's own SMTP code and error text."""
    codes = {row.pk: code for _enrollment, row, code, _error in failed}
    errors = {row.pk: error for _enrollment, row, _code, error in failed}
    EmailSend.objects.filter(pk__in=codes).update(
        status=status,
        smtp_code=_by_pk(codes, "smtp_code", PositiveSmallIntegerField()),
        error=_by_pk(errors, "error", CharField()),
    )


def _by_pk(values: dict, column: str, output_field) -> Case:
    """A per-row value for a set-wise UPDATE (CASE id WHEN … THEN …)."""
    return Case(
        *(When(pk=pk, then=Value(v, output_field=output_field)) for pk, v in values.items()),
        default=F(column),
        output_field=output_field,
    )
