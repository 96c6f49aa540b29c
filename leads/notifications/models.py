"""New-lead notification email: members' choices, and what was mailed to whom
(docs/notifications.md)."""

from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from leads.catalog.models import Listing
from leads.lifecycle.models import LeadActivity
from portal.tenancy.model_fields import (
    TimestampedModel,
    choice_is_valid_constraint,
    parent_key,
    publisher_key,
)

DEFAULT_DIGEST_HOUR = 8
DEFAULT_TIME_ZONE = "UTC"


def member_key() -> models.ForeignKey:
    """The member a notification is for; it goes when they leave the publisher."""
    return parent_key("portal.Membership", _("membership"), related_name="+")


class NotificationPreferenceMode(models.TextChoices):
    OFF = "off", _("No email")
    IMMEDIATE = "immediate", _("An email as leads arrive")
    DIGEST = "digest", _("A daily digest")


class NotificationPreference(TimestampedModel):
    """One member's choice: no email, one as leads arrive, or a daily digest, and for
    which of the publisher's listings. A member without a row has the default
    (selectors.choice_for: owners immediate for every listing, members none)."""

    Mode = NotificationPreferenceMode

    membership = models.OneToOneField(
        "portal.Membership",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="lead_notifications",
        verbose_name=_("membership"),
    )
    mode = models.CharField(_("new-lead email"), max_length=10, choices=Mode)
    all_listings = models.BooleanField(_("every listing"), default=True)
    listings = models.ManyToManyField(
        Listing, blank=True, related_name="+", verbose_name=_("listings")
    )
    digest_hour = models.PositiveSmallIntegerField(
        _("digest hour"), default=DEFAULT_DIGEST_HOUR, validators=[MaxValueValidator(23)]
    )
    time_zone = models.CharField(_("time zone"), max_length=64, default=DEFAULT_TIME_ZONE)
    # The language the member used when saving: the email is written in it.
    language = models.CharField(_("language"), max_length=10, blank=True)

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")
        constraints = [
            choice_is_valid_constraint(
                field="mode",
                choices=NotificationPreferenceMode,
                name="notificationpreference_mode_valid",
            ),
            models.CheckConstraint(
                condition=Q(digest_hour__lte=23), name="notificationpreference_hour_0_23"
            ),
        ]

    def __str__(self):
        return f"{self.membership}: {self.get_mode_display()}"


class NotificationEmailKind(models.TextChoices):
    IMMEDIATE = "immediate", _("As leads arrive")
    DIGEST = "digest", _("Daily digest")


class NotificationEmailStatus(models.TextChoices):
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    DEFERRED = "deferred", _("Deferred")
    FAILED = "failed", _("Failed")
    INTERRUPTED = "interrupted", _("Interrupted")


class NotificationEmail(models.Model):
    """One email to one member, listing the leads attached to it."""

    Kind = NotificationEmailKind
    Status = NotificationEmailStatus

    membership = member_key()
    publisher = publisher_key(related_name="+")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind)
    status = models.CharField(_("status"), max_length=12, choices=Status, default=Status.SENDING)
    lead_count = models.PositiveIntegerField(_("leads"), default=0)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # Deferred: when to try again. Sending: when its sender's lease ends.
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    smtp_code = models.PositiveSmallIntegerField(_("SMTP code"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created"))
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("notification email")
        verbose_name_plural = _("notification emails")
        constraints = [
            choice_is_valid_constraint(
                field="kind", choices=NotificationEmailKind, name="notificationemail_kind_valid"
            ),
            choice_is_valid_constraint(
                field="status",
                choices=NotificationEmailStatus,
                name="notificationemail_status_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["status", "next_attempt_at"],
                condition=Q(
                    status__in=[NotificationEmailStatus.DEFERRED, NotificationEmailStatus.SENDING]
                ),
                name="notificationemail_waiting",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.lead_count} · {self.get_status_display()}"


class LeadNotification(models.Model):
    """The record that a member is to hear, or heard, of one new activity: unique per
    (member, activity), so nothing is announced twice."""

    membership = member_key()
    activity = models.ForeignKey(
        LeadActivity, on_delete=models.CASCADE, related_name="+", verbose_name=_("activity")
    )
    publisher = publisher_key(related_name="+")
    due_at = models.DateTimeField(_("due"))
    email = models.ForeignKey(
        NotificationEmail,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("email"),
    )
    created_at = models.DateTimeField(_("created"))

    class Meta:
        verbose_name = _("lead notification")
        verbose_name_plural = _("lead notifications")
        constraints = [
            models.UniqueConstraint(
                fields=["membership", "activity"], name="leadnotification_once_per_member"
            ),
        ]
        indexes = [
            models.Index(
                fields=["due_at"], condition=Q(email__isnull=True), name="leadnotification_due"
            ),
        ]

    def __str__(self):
        return f"{self.membership_id} · {self.activity_id}"
