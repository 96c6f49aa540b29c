"""The nurture sender: due steps out over SMTP, each at most once (docs/nurture.md).

Each minute, beat runs `nurture_send_due`. Batch by batch it
  1. claims due enrolments in one statement (leads.nurture.claim: FOR UPDATE SKIP LOCKED
     in an UPDATE … RETURNING) that moves their `next_send_at` a short lease ahead, so a
     concurrent sender skips them; while it sends, a heartbeat renews the lease
     (portal.leases), so a live sender keeps them and a dead one loses them within LEASE;
  2. re-checks each lead (status, consent, suppression, the step's stop condition);
     consent is the lead's stated one, else the current policy of the listing that
     enrolled it (leads.consent.policy.nurture_allowed);
  3. for each message, commits the (enrolment, step) EmailSend row as `sending` in its
     own transaction (not waiting for the WAL flush: rows.commits_unflushed), then hands the
     message to the SMTP server over the batch's one connection (each step's template
     compiled once a batch: render.StepTemplate; the bytes written by leads.nurture.wire;
     MAIL and RCPT sent by a second thread while the row commits: leads.nurture.overlap);
  4. records the outcomes in one transaction: sent (the enrolment moves to its next
     step), 5xx (bounced: the address is suppressed and its enrolments stop), 4xx
     (deferred, retried with backoff; suppressed after MAX_SOFT_FAILURES).
An enrolment over its publisher's daily cap (rows created since midnight UTC) waits for
the next day; one outside its publisher's send window waits for the window to open.
A process that dies between 3's commit and 4 leaves a `sending` row. When the lease
ends, `nurture_interrupted_settle` (beat, every few seconds) claims the enrolment, the
row is marked `interrupted` and the enrolment moves on without resending: at most once
per step. Staff can release an interrupted send from admin if they prefer a possible
duplicate to a missing step. A sender asked to stop (SIGTERM) finishes the message in
flight and gives the enrolments it has not reached back at once.
"""

import logging
import smtplib
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from email.utils import make_msgid

from django.conf import settings
from django.core import mail
from django.core.mail.utils import DNS_NAME
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from leads.consent.policy import nurture_allowed
from leads.lifecycle.snapshot import LeadSnapshot
from leads.models import (
    CampaignListing,
    EmailSend,
    Enrollment,
    NurtureStep,
)
from leads.nurture import overlap, rows, unsubscribe
from leads.nurture import render as nurture_render
from leads.nurture.claim import LEASE, enrollments_claim
from leads.nurture.links import campaigns_click_tracked, message_links_tracked
from leads.nurture.outcomes import (
    Outcomes,
    SendReport,
    next_utc_day,
    outcomes_record,
)
from leads.nurture.services import STOP_STATUSES
from leads.nurture.window import window_next_open
from leads.nurture.wire import Wire, message_wire
from leads.sending import selectors as sending_selectors
from leads.sending.signing import dkim_signer, signs_itself
from portal import metrics
from portal.leases import Heartbeat, stopping

logger = logging.getLogger(__name__)

BATCH_SIZE = 200
RENEW_SECONDS = 5.0
BUDGET_SECONDS = 50.0  # beat runs every minute; a run hands over before the next
UNREACHABLE_RETRY = timedelta(minutes=1)

SENT, DEFERRED, BOUNCED, UNKNOWN, NO_CONNECTION = (
    "sent",
    "deferred",
    "bounced",
    "unknown",
    "no-connection",
)


def nurture_send_due(
    *, batch_size: int = BATCH_SIZE, budget_seconds: float = BUDGET_SECONDS
) -> SendReport:
    """Send every due step, batch by batch, until none is due or the budget is spent."""
    report = SendReport()
    deadline = time.monotonic() + budget_seconds
    while time.monotonic() < deadline and not stopping.is_set():
        claimed = enrollments_claim(batch_size=batch_size)
        if not claimed:
            break
        report.add(_Batch(claimed).run())
        if report.unreachable:
            break
    if report.sent or report.deferred or report.bounced:
        logger.info("leads.nurture.sent", extra=vars(report))
    _count(report)
    return report


def nurture_interrupted_settle() -> SendReport:
    """Settle what a dead sender left `sending` once its lease ran out: the send becomes
    `interrupted` and its enrolment moves on, never resent (at most once per step)."""
    ids = enrollments_claim(batch_size=BATCH_SIZE, interrupted_only=True)
    if not ids:
        return SendReport()
    report = _Batch(ids).run()
    # An enrolment that stopped instead (the lead was lost meanwhile) keeps no `sending` row.
    EmailSend.objects.filter(enrollment_id__in=ids, status=EmailSend.Status.SENDING).update(
        status=EmailSend.Status.INTERRUPTED
    )
    logger.warning("leads.nurture.interrupted_settled", extra={"enrollments": len(ids)})
    _count(report)
    return report


@dataclass
class _Built:
    """A message built ahead of its row: the row (id reserved, not written) and the bytes."""

    row: EmailSend
    message: object
    wire: Wire | None


def _count(report: SendReport) -> None:
    for outcome in ("sent", "bounced", "deferred"):
        if getattr(report, outcome):
            metrics.NURTURE_EMAILS.labels(outcome=outcome).inc(getattr(report, outcome))


class _Batch:
    """One claimed batch: load, decide, send over one connection, record."""

    def __init__(self, enrollment_ids: list[int]):
        self.ids = enrollment_ids
        self.now = timezone.now()
        self.out = Outcomes()
        self.report = SendReport()
        self.templates: dict[int, nurture_render.StepTemplate] = {}  # compiled once a batch

    def run(self) -> SendReport:
        enrollments = list(
            Enrollment.objects.filter(pk__in=self.ids)
            .select_related("lead", "campaign__publisher", "consent_listing")
            .order_by("pk")
        )
        self.steps = _steps_by_campaign({e.campaign_id for e in enrollments})
        self.offers = _offer_titles({e.campaign_id for e in enrollments})
        self.suppressed = _suppressed(enrollments)
        self.sent_today = _sent_today({e.campaign.publisher_id for e in enrollments}, self.now)
        self.click_tracked = campaigns_click_tracked({e.campaign_id for e in enrollments})
        self.identities = sending_selectors.identities_verified(
            publisher_ids={e.campaign.publisher_id for e in enrollments}
        )
        connection = mail.mailers.default
        # The heartbeat ends before the outcomes are written, so a renewal never races them.
        heartbeat = Heartbeat(
            renew=self._renew,
            interval=RENEW_SECONDS,
            deadline=time.monotonic() + settings.CELERY_TASK_TIME_LIMIT,
        )
        try:
            with heartbeat, rows.commits_unflushed():
                self._send_all(connection, enrollments)
        finally:
            connection.close()
            self._record()
        return self.report

    def _send_all(self, connection, enrollments: list[Enrollment]) -> None:
        if overlap.possible(connection):
            self._send_overlapped(connection, enrollments)
            return
        for enrollment in enrollments:
            if stopping.is_set():
                return  # a graceful stop: the enrolments not reached are given back
            step = self._next_step(enrollment)
            if step is None:
                continue
            if self._send(connection, enrollment, step) == NO_CONNECTION:
                # The server is unreachable: the rest waits a minute, uncounted.
                self.out.retry_at = self.now + UNREACHABLE_RETRY
                self.report.unreachable += 1
                return

    def _renew(self) -> None:
        """The heartbeat's call: keep this batch's enrolments leased while it sends."""
        Enrollment.objects.filter(pk__in=self.ids, state=Enrollment.State.ACTIVE).update(
            next_send_at=timezone.now() + LEASE
        )

    def _step_after(self, enrollment: Enrollment) -> NurtureStep | None:
        """The enrolment's next step in its sequence, if any is left."""
        after = enrollment.last_position
        return next((s for s in self.steps[enrollment.campaign_id] if s.position > after), None)

    def _next_step(self, enrollment: Enrollment) -> NurtureStep | None:
        """The step to send now, or None after deciding to stop, complete or hold."""
        lead, publisher = enrollment.lead, enrollment.campaign.publisher
        step = self._step_after(enrollment)
        reason = None
        if lead.status in STOP_STATUSES:
            reason = Enrollment.StopReason.STATUS
        elif not nurture_allowed(lead=lead, consent_listing=enrollment.consent_listing):
            reason = Enrollment.StopReason.NO_CONSENT
        elif (publisher.pk, lead.email_normalized) in self.suppressed:
            reason = Enrollment.StopReason.SUPPRESSED
        elif (
            step
            and step.stop_condition == NurtureStep.StopCondition.QUALIFIED
            and lead.status == lead.Status.QUALIFIED
        ):
            reason = Enrollment.StopReason.STEP_CONDITION
        if reason:
            self.out.stopped[reason].append(enrollment.pk)
        elif step is None:
            self.out.stopped["completed"].append(enrollment.pk)
        elif not publisher.postal_address.strip():
            self.out.held.append(enrollment.pk)  # never send without the postal address
        elif (
            publisher.nurture_daily_cap is not None
            and self.sent_today[publisher.pk] >= publisher.nurture_daily_cap
        ):
            self.out.capped.append(enrollment.pk)  # the daily cap: tomorrow
        elif opens := window_next_open(
            now=self.now,
            time_zone=publisher.time_zone,
            start=publisher.send_window_start,
            end=publisher.send_window_end,
        ):
            self.out.later.append((enrollment.pk, opens))  # outside the send window
        else:
            return step
        self.out.done.add(enrollment.pk)
        return None

    def _send(self, connection, enrollment: Enrollment, step: NurtureStep) -> str | None:
        row, is_attempt = rows.send_row_start(enrollment, step)
        if not is_attempt:
            self._settle_existing(enrollment, step, row)
            return None
        self.sent_today[enrollment.campaign.publisher_id] += 1
        message = self._message(connection, enrollment, step, row)
        return self._deliver(connection, enrollment, step, row, message)

    def _send_overlapped(self, connection, enrollments: list[Enrollment]) -> None:
        """_send_all's loop with each message's envelope on the wire while its row commits
        and the next message is built (leads.nurture.overlap)."""
        existing = rows.rows_existing(self.ids)
        ids = rows.row_ids_reserve(len(enrollments))
        ahead = None
        with overlap.Courier() as courier:
            for index, enrollment in enumerate(enrollments):
                if stopping.is_set():
                    return  # a graceful stop: the enrolments not reached are given back
                step = self._next_step(enrollment)
                if step is None:
                    continue
                built = ahead if ahead and ahead.row.enrollment is enrollment else None
                if built is None and (enrollment.pk, step.pk) not in existing:
                    built = self._build_or_none(connection, enrollment, step, ids[index])
                if built is None or built.wire is None or built.row.step is not step:
                    outcome = self._send(connection, enrollment, step)
                else:
                    built.message.handover = courier.envelope(connection, built.wire)
                    built.row.created_at = timezone.now()
                    inserted = rows.row_insert(built.row)
                    ahead = self._build_ahead(connection, enrollments, index + 1, ids, existing)
                    if inserted:
                        self.sent_today[enrollment.campaign.publisher_id] += 1
                        outcome = self._deliver(
                            connection, enrollment, step, built.row, built.message
                        )
                    else:  # another run's row: as _send decides, with the envelope reset
                        overlap.envelope_dropped(connection, built.message.handover)
                        outcome = self._send(connection, enrollment, step)
                if outcome == NO_CONNECTION:
                    self.out.retry_at = self.now + UNREACHABLE_RETRY
                    self.report.unreachable += 1
                    return

    def _build_ahead(self, connection, enrollments, index: int, ids, existing) -> "_Built | None":
        """The next enrolment's message, built while this one's is on the wire, for the step
        it would get (if the decision after this message's answer sends another, or none,
        the message is dropped unsent)."""
        if index >= len(enrollments):
            return None
        enrollment = enrollments[index]
        step = self._step_after(enrollment)
        if step is None or (enrollment.pk, step.pk) in existing:
            return None
        return self._build_or_none(connection, enrollment, step, ids[index])

    def _build_or_none(self, connection, enrollment, step, row_id: int) -> "_Built | None":
        """The message built before its row, or None if building it failed: then it goes
        one after the other (_send), its row written first and the error raised after, as
        ever, so a message that cannot be built is settled like any interrupted one."""
        row = EmailSend(id=row_id, enrollment=enrollment, step=step)
        try:
            message = self._message(connection, enrollment, step, row)
            wire = None
            if isinstance(message, nurture_render.NurtureMessage):
                wire = message_wire(message, prep_address=connection.prep_address)
        except Exception:  # raised again by _send, after the row
            return None
        return _Built(row, message, wire)

    def _message(self, connection, enrollment: Enrollment, step: NurtureStep, row: EmailSend):
        """The step's message to the enrolment's lead; its links name `row`."""
        lead, publisher = enrollment.lead, enrollment.campaign.publisher
        recipient = nurture_render.Recipient(
            lead=LeadSnapshot.of(lead),
            publisher_name=publisher.name,
            postal_address=publisher.postal_address,
            reply_to=publisher.lead_contact_email,
            offer_title=self.offers.get(enrollment.campaign_id) or enrollment.campaign.name,
        )
        url = unsubscribe.unsubscribe_url(
            publisher_id=publisher.pk, email=lead.email, send_id=row.pk
        )
        # The publisher's own From once its identity is verified (leads.sending).
        identity = self.identities.get(publisher.pk)
        template = self.templates.get(step.pk)
        if template is None:
            template = self.templates[step.pk] = nurture_render.StepTemplate(
                step.subject, step.body
            )
        message = template.message(
            recipient=recipient,
            unsubscribe_url=url,
            from_email=identity.from_email if identity else "",
        )
        if identity and signs_itself(connection):
            message.signer = dkim_signer(identity)
        # --- Click tracking and the message id that ESP events match (docs/email.md) ---
        if enrollment.campaign_id in self.click_tracked:
            message_links_tracked(message, send=row)
        message.extra_headers.setdefault("Message-ID", make_msgid(domain=DNS_NAME))
        # ---
        return message

    def _deliver(self, connection, enrollment, step, row: EmailSend, message) -> str:
        outcome, code, error = smtp_deliver(connection, message)
        if outcome == NO_CONNECTION:
            # Nothing reached a server: the row waits as deferred, no failure counted.
            EmailSend.objects.filter(pk=row.pk).update(status=EmailSend.Status.DEFERRED)
            return outcome
        self.out.done.add(enrollment.pk)
        if outcome == SENT:
            self.out.sent.append(row.pk)
            self.out.message_ids[row.pk] = sent_message_id(message)
            self.out.advanced.append((enrollment, step))
        elif outcome == BOUNCED:
            self.out.bounced.append((enrollment, row, code, error))
        elif outcome == UNKNOWN:
            self.out.interrupted.append(row.pk)  # maybe delivered: never sent again
            self.out.advanced.append((enrollment, step))
        else:
            self.out.deferred.append((enrollment, row, code, error))
        return outcome

    def _settle_existing(self, enrollment, step, row: EmailSend) -> None:
        """A row from an earlier run: sent or interrupted moves on; bounced stops."""
        self.out.done.add(enrollment.pk)
        if row.status == EmailSend.Status.BOUNCED:
            self.out.stopped[Enrollment.StopReason.BOUNCED].append(enrollment.pk)
            return
        if row.status == EmailSend.Status.SENDING:
            # Its sender died after committing the row: maybe delivered, so not resent.
            self.out.interrupted.append(row.pk)
        self.out.advanced.append((enrollment, step))

    def _record(self) -> None:
        with transaction.atomic():
            outcomes_record(self.out, self.steps, self.now, self.report)
            released = [pk for pk in self.ids if pk not in self.out.done]
            if released:  # claimed but not reached (an error, or no connection): due again
                Enrollment.objects.filter(pk__in=released).update(
                    next_send_at=self.out.retry_at or self.now
                )


def smtp_deliver(connection, message) -> tuple[str, int | None, str]:
    """Hand one message to the SMTP server: (outcome, SMTP code, error text). A message
    whose envelope the courier sent (leads.nurture.overlap) gets its DATA here."""
    handover, failure = message.__dict__.get("handover"), None
    if handover is not None:
        unreachable, failure = handover.envelope.result()
    else:
        try:
            unreachable = None
            connection.open()
        except (OSError, smtplib.SMTPException) as exc:
            unreachable = exc
    if unreachable is not None:
        return NO_CONNECTION, None, str(unreachable)[:300]
    try:
        if failure is not None:
            raise failure
        if handover is not None:
            overlap.data_send(connection.connection, handover.wire)
        elif (wire := _wire(connection, message)) is None:
            connection.send_messages([message])
        else:
            connection.connection.sendmail(wire.sender, wire.recipients, wire.data)
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        return _classify(code), code, _text(text)
    except smtplib.SMTPSenderRefused as exc:
        # Our own From was refused: not the recipient's fault, so never a bounce.
        return DEFERRED, exc.smtp_code, _text(exc.smtp_error)
    except smtplib.SMTPResponseException as exc:
        return _classify(exc.smtp_code), exc.smtp_code, _text(exc.smtp_error)
    except (OSError, smtplib.SMTPException) as exc:
        connection.close()  # the next message reconnects
        return UNKNOWN, None, str(exc)[:300]
    return SENT, 250, ""


def _wire(connection, message) -> Wire | None:
    """The message's SMTP bytes written directly (leads.nurture.wire) when the mailer is
    Django's SMTP backend with an open connection; None leaves it to the mailer."""
    if (
        not signs_itself(connection)
        or connection.fail_silently
        or connection.connection is None
        or not isinstance(message, nurture_render.NurtureMessage)
    ):
        return None
    return message_wire(message, prep_address=connection.prep_address)


def sent_message_id(message) -> str:
    """The id ESP events name the message by: anymail's (the ESP's) id, else our Message-ID."""
    status = getattr(message, "anymail_status", None)
    esp_id = status.message_id if status is not None else None
    if esp_id is not None and not isinstance(esp_id, set) and str(esp_id):
        return str(esp_id)[:200]
    return str(message.extra_headers.get("Message-ID", ""))[:200]


def _classify(code: int) -> str:
    return BOUNCED if 500 <= code < 600 else DEFERRED


def _text(value) -> str:
    return (value.decode(errors="replace") if isinstance(value, bytes) else str(value))[:300]


def _steps_by_campaign(campaign_ids: set[int]) -> dict[int, list[NurtureStep]]:
    steps: dict[int, list[NurtureStep]] = {campaign_id: [] for campaign_id in campaign_ids}
    for step in NurtureStep.objects.filter(campaign_id__in=campaign_ids).order_by("position"):
        steps[step.campaign_id].append(step)
    return steps


def _offer_titles(campaign_ids: set[int]) -> dict[int, str]:
    """Each campaign's offer: the name of its first listing (by name)."""
    titles: dict[int, str] = {}
    links = CampaignListing.objects.filter(campaign_id__in=campaign_ids).order_by("-listing__name")
    for campaign_id, name in links.values_list("campaign_id", "listing__name"):
        titles[campaign_id] = name
    return titles


def _sent_today(publisher_ids: set[int], now) -> Counter:
    """Messages each publisher has handed over since midnight UTC (its daily cap's count)."""
    since = next_utc_day(now) - timedelta(days=1)
    rows = (
        EmailSend.objects.filter(
            enrollment__campaign__publisher_id__in=publisher_ids, created_at__gte=since
        )
        .values_list("enrollment__campaign__publisher_id")
        .annotate(count=Count("pk"))
    )
    return Counter(dict(rows))


def _suppressed(enrollments: list[Enrollment]) -> set[tuple[int, str]]:
    """The (publisher id, normalized address) pairs of these enrolments that are suppressed."""
    return unsubscribe.suppressed_addresses(
        pairs={(e.campaign.publisher_id, e.lead.email_normalized) for e in enrollments}
    )
