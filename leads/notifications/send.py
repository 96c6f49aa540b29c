"""New-lead email, the sender: due notifications out over SMTP, one email per member per
run, each lead announced at most once (docs/notifications.md).

Each run of `leads.notify_new_leads`, after the planner (services.notifications_plan):
  1. marks `interrupted` any email still `sending` after its LEASE: its sender died after
     committing it, so it may have gone out, and it is never sent again;
  2. finds the members with due notifications; for each, in one transaction, locks
     the member (SKIP LOCKED, so concurrent runs split the members), drops the ones the member
     no longer wants (re-read choice), and attaches the rest to a new NotificationEmail
     committed as `sending`;
  3. renders and sends that email over the run's one SMTP connection, and records the
     outcome: sent; 4xx deferred (retried with backoff, the same leads, up to
     MAX_ATTEMPTS); 5xx failed; no server reachable: that email and the rest of the
     round deferred a minute, uncounted.
A member with 40 due leads gets one email listing the first MAX_LISTED and "and 30
more". A digest member's notifications fall due at their digest hour, so the same path
sends the digest; a worker that was down sends what fell due when it is back.
"""

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.core import mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from leads.models import LeadNotification, NotificationEmail
from leads.notifications import render, selectors
from leads.nurture.send import BOUNCED, NO_CONNECTION, SENT, UNKNOWN, smtp_deliver
from portal.tenancy.models import Membership

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=15)
BUDGET_SECONDS = 20.0  # beat runs every LEAD_NOTIFY_SWEEP_SECONDS; a run hands over
MEMBERS_PER_ROUND = 100
MAX_ATTEMPTS = 5
BACKOFF = (timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2), timedelta(hours=6))
UNREACHABLE_RETRY = timedelta(minutes=1)

Status = NotificationEmail.Status


@dataclass
class NotifyReport:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    interrupted: int = 0
    dropped: int = 0
    unreachable: bool = False


def notifications_send_due(*, budget_seconds: float = BUDGET_SECONDS) -> NotifyReport:
    """Send every due notification email, member by member, until none is due."""
    report = NotifyReport()
    now = timezone.now()
    # A `sending` email's next_attempt_at is the end of its lease.
    report.interrupted = NotificationEmail.objects.filter(
        status=Status.SENDING, next_attempt_at__lt=now
    ).update(status=Status.INTERRUPTED, next_attempt_at=None)
    deadline = time.monotonic() + budget_seconds
    connection = mail.mailers.default
    try:
        while time.monotonic() < deadline and not report.unreachable:
            emails = _deferred_claim(now) + _fresh_claim(now, report)
            if not emails:
                break
            try:
                while emails and not report.unreachable:
                    _deliver(connection, emails.pop(0), report)
            finally:
                if emails:  # claimed, not reached (no server, or an error): soon, uncounted
                    NotificationEmail.objects.filter(pk__in=[e.pk for e in emails]).update(
                        status=Status.DEFERRED, next_attempt_at=timezone.now() + UNREACHABLE_RETRY
                    )
            now = timezone.now()
    finally:
        connection.close()
    if report.sent or report.deferred or report.failed:
        logger.info("leads.notifications.sent", extra=vars(report))
    return report


def _deferred_claim(now) -> list[NotificationEmail]:
    """Deferred emails whose retry time has come, each taken by one run only."""
    due = NotificationEmail.objects.filter(status=Status.DEFERRED, next_attempt_at__lte=now)
    claimed = []
    for email in due.order_by("next_attempt_at")[:MEMBERS_PER_ROUND]:
        taken = NotificationEmail.objects.filter(pk=email.pk, status=Status.DEFERRED).update(
            status=Status.SENDING, next_attempt_at=now + LEASE
        )
        if taken:
            email.status = Status.SENDING
            claimed.append(email)
    return claimed


def _fresh_claim(now, report: NotifyReport) -> list[NotificationEmail]:
    """A new email for each member with due notifications, committed as `sending`."""
    membership_ids = list(
        LeadNotification.objects.filter(email__isnull=True, due_at__lte=now)
        .order_by("membership_id")
        .values_list("membership_id", flat=True)
        .distinct()[:MEMBERS_PER_ROUND]
    )
    memberships = Membership.objects.filter(pk__in=membership_ids).select_related("user")
    return [
        email
        for membership in memberships
        if (email := _email_open(membership, now, report)) is not None
    ]


@transaction.atomic
def _email_open(membership: Membership, now, report: NotifyReport) -> NotificationEmail | None:
    """Attach the member's due notifications that they still want to a new email.

    The member's row is the lock: a run that cannot take it leaves the member to the run
    that has it. Skipping locked notification rows instead would let two runs split one
    member's leads into two emails.
    """
    taken = Membership.objects.select_for_update(skip_locked=True).filter(pk=membership.pk)
    if not list(taken.values_list("pk", flat=True)):
        return None
    rows = list(
        LeadNotification.objects.select_for_update(of=("self",))
        .filter(membership=membership, email__isnull=True, due_at__lte=now)
        .values_list("pk", "activity__listing_id")
    )
    choice = selectors.choice_for_membership(membership=membership)
    reachable = membership.user.is_active and membership.user.email
    wanted = [pk for pk, listing_id in rows if reachable and choice.wants(listing_id)]
    keep = frozenset(wanted)
    unwanted = [pk for pk, _listing in rows if pk not in keep]
    if unwanted:  # the member changed their mind since these were planned
        LeadNotification.objects.filter(pk__in=unwanted).delete()
        report.dropped += len(unwanted)
    if not wanted:
        return None
    digest = choice.mode == selectors.Mode.DIGEST
    email = NotificationEmail.objects.create(
        membership=membership,
        publisher_id=membership.publisher_id,
        kind=NotificationEmail.Kind.DIGEST if digest else NotificationEmail.Kind.IMMEDIATE,
        lead_count=len(wanted),
        created_at=now,
        next_attempt_at=now + LEASE,
    )
    LeadNotification.objects.filter(pk__in=wanted).update(email=email)
    return email


def _deliver(connection, email: NotificationEmail, report: NotifyReport) -> None:
    """Render and send one email, then record what the server said."""
    message = render.notification_message(email=email)
    now = timezone.now()
    rows = NotificationEmail.objects.filter(pk=email.pk)
    if message is None:  # every lead it was to announce has been deleted since
        rows.update(status=Status.FAILED, next_attempt_at=None, error="No lead left to announce.")
        report.failed += 1
        return
    outcome, code, error = smtp_deliver(connection, message)
    if outcome == NO_CONNECTION:  # nothing reached a server: retried soon, uncounted
        rows.update(status=Status.DEFERRED, next_attempt_at=now + UNREACHABLE_RETRY, error=error)
        report.unreachable = True
        return
    attempts = email.attempts + 1
    changes = {"attempts": F("attempts") + 1, "smtp_code": code, "error": error}
    if outcome == SENT:
        rows.update(**changes, status=Status.SENT, sent_at=now, next_attempt_at=None)
        report.sent += 1
    elif outcome == UNKNOWN:  # may have been delivered: never sent again
        rows.update(**changes, status=Status.INTERRUPTED)
        report.interrupted += 1
    elif outcome == BOUNCED or attempts >= MAX_ATTEMPTS:
        rows.update(**changes, status=Status.FAILED, next_attempt_at=None)
        report.failed += 1
        logger.warning(
            "leads.notifications.failed",
            extra={"email_id": email.pk, "membership_id": email.membership_id, "code": code},
        )
    else:
        delay = BACKOFF[min(attempts - 1, len(BACKOFF) - 1)]
        rows.update(**changes, status=Status.DEFERRED, next_attempt_at=now + delay)
        report.deferred += 1
