"""Nurture email: sequences, steps, enrolments, sends and suppressed addresses (docs/nurture.md)."""

from datetime import timedelta

from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from leads.campaigns.models import Campaign, campaign_key
from leads.catalog.models import listing_reference_key
from leads.lifecycle.models import lead_key
from leads.nurture.delays import MAX_DELAY_MINUTES, delay_words
from portal.tenancy.model_fields import (
    TimestampedModel,
    acting_user_key,
    choice_is_valid_constraint,
    optional_key,
    publisher_key,
)


class NurtureSequenceStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    RUNNING = "running", _("Running")
    PAUSED = "paused", _("Paused")


class NurtureSequence(models.Model):
    """A campaign's email sequence: whether it runs. Its steps hang off the campaign."""

    Status = NurtureSequenceStatus

    campaign = models.OneToOneField(
        Campaign,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="nurture_sequence",
        verbose_name=_("campaign"),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.DRAFT)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    started_by = acting_user_key(_("started by"))
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    click_tracking = models.BooleanField(
        _("click tracking"),
        db_default=False,
        help_text=_("Links in the steps go through a signed redirect that records the click."),
    )

    class Meta:
        verbose_name = _("nurture sequence")
        verbose_name_plural = _("nurture sequences")
        constraints = [
            choice_is_valid_constraint(
                field="status",
                choices=NurtureSequenceStatus,
                name="nurturesequence_status_valid",
            )
        ]

    def __str__(self):
        return f"{self.campaign} ({self.get_status_display()})"


class NurtureStep(TimestampedModel):
    """One email of a sequence: sent `delay_minutes` after enrolment (first step) or after
    the previous step. Subject and body are placeholder templates (leads.nurture.render)."""

    class StopCondition(models.TextChoices):
        NONE = "", _("Only the standard stops")
        QUALIFIED = "qualified", _("Stop here once the lead is qualified")

    campaign = campaign_key(related_name="nurture_steps")
    position = models.PositiveSmallIntegerField(_("order"))
    delay_minutes = models.PositiveIntegerField(
        _("delay (minutes)"),
        validators=[MaxValueValidator(MAX_DELAY_MINUTES)],
        help_text=_("After enrolment for the first step, after the previous step otherwise."),
    )
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("body"), max_length=20_000)
    stop_condition = models.CharField(
        _("stop condition"), max_length=12, choices=StopCondition, blank=True, default=""
    )

    class Meta:
        ordering = ["campaign", "position"]
        verbose_name = _("nurture step")
        verbose_name_plural = _("nurture steps")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "position"], name="nurturestep_position_unique"
            )
        ]

    def __str__(self):
        return f"{self.position}. {self.subject}"

    @property
    def delay(self) -> timedelta:
        return timedelta(minutes=self.delay_minutes)

    @property
    def delay_words(self) -> str:
        """The delay in words ("2 days", "30 minutes"), in the active language."""
        return delay_words(self.delay_minutes)


class EnrollmentState(models.TextChoices):
    ACTIVE = "active", _("Active")
    COMPLETED = "completed", _("Completed")
    STOPPED = "stopped", _("Stopped")


class Enrollment(models.Model):
    """A lead in a campaign's sequence: which step it has had, and when the next is due."""

    State = EnrollmentState

    class StopReason(models.TextChoices):
        STATUS = "status", _("Lead accepted, won, lost or disqualified")
        ACQUIRED = "acquired", _("Lead acquired the offer")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        BOUNCED = "bounced", _("Bounced")
        NO_CONSENT = "no-consent", _("Consent withdrawn")
        SUPPRESSED = "suppressed", _("Address suppressed")
        STEP_CONDITION = "step-condition", _("A step's stop condition")
        STAFF = "staff", _("Stopped by staff")
        MERGED = "merged", _("Lead merged into another")

    lead = lead_key(related_name="enrollments")
    campaign = campaign_key(related_name="enrollments")
    state = models.CharField(_("state"), max_length=10, choices=State, default=State.ACTIVE)
    stop_reason = models.CharField(
        _("stop reason"), max_length=16, choices=StopReason, blank=True, default=""
    )
    # Position of the last step sent (0: none yet); the next step is the first one after it.
    last_position = models.PositiveSmallIntegerField(_("last step sent"), default=0)
    # When the next step is due; while a sender works on it, the end of its lease.
    next_send_at = models.DateTimeField(_("next send"), null=True, blank=True)
    soft_failures = models.PositiveSmallIntegerField(_("temporary failures"), default=0)
    # Set when the lead stated no consent and this listing's policy enrolled it: the sender
    # re-checks that policy before each step (leads.consent.policy.nurture_allowed).
    consent_listing = listing_reference_key(_("enrolled by the consent policy of"))
    enrolled_at = models.DateTimeField(_("enrolled"))
    last_sent_at = models.DateTimeField(_("last sent"), null=True, blank=True)
    stopped_at = models.DateTimeField(_("stopped"), null=True, blank=True)

    class Meta:
        ordering = ["-enrolled_at", "-id"]
        verbose_name = _("enrollment")
        verbose_name_plural = _("enrollments")
        constraints = [
            models.UniqueConstraint(fields=["lead", "campaign"], name="enrollment_unique"),
            choice_is_valid_constraint(
                field="state", choices=EnrollmentState, name="enrollment_state_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_send_at"],
                condition=Q(state=EnrollmentState.ACTIVE),
                name="enrollment_due",
            ),
            models.Index(fields=["campaign", "state"], name="enrollment_campaign_state"),
            models.Index(fields=["lead", "state"], name="enrollment_lead_state"),
        ]

    def __str__(self):
        return f"{self.lead_id} in {self.campaign_id} ({self.get_state_display()})"


class EmailSend(models.Model):
    """One step sent (or being sent) to one enrollment. The unique pair is the idempotency
    key: the row is committed as `sending` before the SMTP exchange (docs/nurture.md)."""

    class Status(models.TextChoices):
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        DEFERRED = "deferred", _("Temporary failure, will retry")
        BOUNCED = "bounced", _("Bounced")
        INTERRUPTED = "interrupted", _("Interrupted (maybe sent)")

    enrollment = models.ForeignKey(
        Enrollment, on_delete=models.CASCADE, related_name="sends", verbose_name=_("enrollment")
    )
    # PROTECT: a step that was sent keeps its figures; it can be edited, not deleted.
    step = models.ForeignKey(
        NurtureStep, on_delete=models.PROTECT, related_name="sends", verbose_name=_("step")
    )
    status = models.CharField(_("status"), max_length=12, choices=Status, default=Status.SENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=1)
    smtp_code = models.PositiveSmallIntegerField(_("SMTP code"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    # The Message-ID we sent, or the ESP's own id (anymail): how ESP events find the send.
    message_id = models.CharField(
        _("message id"), max_length=200, blank=True, db_default="", db_index=True
    )
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("email send")
        verbose_name_plural = _("email sends")
        constraints = [
            models.UniqueConstraint(fields=["enrollment", "step"], name="emailsend_unique_step")
        ]
        indexes = [models.Index(fields=["step", "status"], name="emailsend_step_status")]

    def __str__(self):
        return f"{self.enrollment_id}/{self.step_id} {self.get_status_display()}"


class EmailEvent(models.Model):
    """What happened to a send after it left: an ESP's tracking event (through anymail) or a
    click on a tracked link. Idempotent by the ESP's event id; no address is kept."""

    class Kind(models.TextChoices):
        DELIVERED = "delivered", _("Delivered")
        BOUNCED = "bounced", _("Bounced")
        SOFT_BOUNCED = "soft_bounced", _("Soft bounce")
        COMPLAINED = "complained", _("Complained")
        OPENED = "opened", _("Opened")
        CLICKED = "clicked", _("Clicked")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")

    send = models.ForeignKey(
        EmailSend, on_delete=models.CASCADE, related_name="events", verbose_name=_("send")
    )
    esp = models.CharField(_("source"), max_length=40)
    event_id = models.CharField(_("event id"), max_length=200)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind)
    url = models.URLField(_("link"), max_length=2000, blank=True)
    detail = models.CharField(_("detail"), max_length=300, blank=True)
    occurred_at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = _("email event")
        verbose_name_plural = _("email events")
        constraints = [
            models.UniqueConstraint(fields=["esp", "event_id"], name="emailevent_unique_event")
        ]
        indexes = [models.Index(fields=["send", "kind"], name="emailevent_send_kind")]

    def __str__(self):
        return f"{self.send_id} {self.get_kind_display()}"


class Suppression(models.Model):
    """An address a publisher must not email again. Only a keyed HMAC of the normalized
    address is kept (leads.nurture.address_hash), so an opt-out outlives the lead's erasure.
    Rows from before the HMAC whose address was known nowhere any more keep their bare
    SHA-256, marked `is_legacy`, and are matched by it."""

    class Reason(models.TextChoices):
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        BOUNCED = "bounced", _("Bounced")
        COMPLAINED = "complained", _("Complained")

    publisher = publisher_key(related_name="suppressions")
    email_hash = models.CharField(_("email (HMAC-SHA256)"), max_length=64)
    is_legacy = models.BooleanField(
        _("legacy SHA-256"),
        default=False,
        help_text=_("The hash is the bare SHA-256 of the address, from before the HMAC."),
    )
    reason = models.CharField(_("reason"), max_length=12, choices=Reason)
    send = optional_key(EmailSend, _("from the message"), related_name="suppressions")
    detail = models.CharField(_("detail"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("suppression")
        verbose_name_plural = _("suppressions")
        constraints = [
            models.UniqueConstraint(
                fields=["publisher", "email_hash"], name="suppression_unique_per_publisher"
            )
        ]

    def __str__(self):
        return f"{self.email_hash[:12]}… ({self.get_reason_display()})"
