"""Tenancy: the publisher (the tenant) and who may act for it."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from portal.tenancy.model_fields import (
    CreatedModel,
    choice_is_valid_constraint,
    publisher_key,
    user_key,
)

DEFAULT_QUALIFICATION_THRESHOLD = 50


def validate_time_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValidationError(
            _("Unknown time zone %(value)s. Use an IANA name such as Europe/Madrid."),
            params={"value": value},
        ) from error


def send_window_hour(verbose_name, help_text) -> models.PositiveSmallIntegerField:
    """One end of a publisher's send window: an hour of the day, or empty for none."""
    return models.PositiveSmallIntegerField(
        verbose_name, null=True, blank=True, validators=[MaxValueValidator(23)], help_text=help_text
    )


# Retention (privacy.retention): off, or this many months after a lead's last activity.
RETENTION_MONTHS_MIN, RETENTION_MONTHS_MAX = 1, 120
# The contact and sending settings an owner edits together (portal.shell's settings page).
PUBLISHER_SETTINGS_FIELDS = (
    "lead_contact_email",
    "postal_address",
    "nurture_daily_cap",
    "time_zone",
    "send_window_start",
    "send_window_end",
)


class Publisher(CreatedModel):
    """A software publisher that lists offers on AppSource or Azure Marketplace."""

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    publisher_id = models.CharField(
        _("marketplace publisher id"),
        max_length=100,
        unique=True,
        help_text=_("The seller id in Partner Center, the first part of publisherid.offerid."),
    )
    lead_contact_email = models.EmailField(
        _("lead contact email"),
        blank=True,
        help_text=_("Receives the alerts when a CRM target keeps failing."),
    )
    postal_address = models.TextField(
        _("postal address"),
        blank=True,
        help_text=_("Printed in the footer of every nurture email, as anti-spam law requires."),
    )
    nurture_daily_cap = models.PositiveIntegerField(
        _("nurture emails per day"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_(
            "At most this many nurture emails a day (UTC), so that a new sending domain warms "
            "up; the rest wait for the next day. Empty: no limit."
        ),
    )
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        default="UTC",
        db_default="UTC",  # rows written by code that predates the field get UTC too
        validators=[validate_time_zone],
        help_text=_("An IANA name such as Europe/Madrid; the send window's hours are in it."),
    )
    send_window_start = send_window_hour(
        _("send from (hour)"),
        _("Nurture emails go out from this hour (0–23) … Empty: at any time."),
    )
    send_window_end = send_window_hour(
        _("send until (hour)"), _("… until this hour (0–23, excluded); 22 to 6 spans midnight.")
    )
    co_sell_enrolled = models.BooleanField(
        _("Co-Sell enrolled"),
        default=False,
        help_text=_("Only Co-Sell enrolled publishers can receive Co-Sell referrals."),
    )
    qualification_threshold = models.PositiveSmallIntegerField(
        _("qualification threshold"),
        default=DEFAULT_QUALIFICATION_THRESHOLD,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text=_("A lead whose score reaches this value (0–100) is qualified."),
    )
    retention_months = models.PositiveSmallIntegerField(
        _("retention (months)"),
        null=True,
        blank=True,
        validators=[
            MinValueValidator(RETENTION_MONTHS_MIN),
            MaxValueValidator(RETENTION_MONTHS_MAX),
        ],
        help_text=_(
            "Erase a lead this many months (1–120) after its last activity; empty: keep leads."
        ),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("publisher")
        verbose_name_plural = _("publishers")
        constraints = [
            models.CheckConstraint(
                condition=Q(qualification_threshold__lte=100),
                name="publisher_threshold_0_100",
            ),
            models.CheckConstraint(
                condition=Q(retention_months__isnull=True)
                | Q(
                    retention_months__gte=RETENTION_MONTHS_MIN,
                    retention_months__lte=RETENTION_MONTHS_MAX,
                ),
                name="publisher_retention_1_120",
            ),
        ]

    def __str__(self):
        return self.name


class MembershipRole(models.TextChoices):
    OWNER = "owner", _("Owner")
    MEMBER = "member", _("Member")


class Membership(CreatedModel):
    """A user's role in one publisher. A user may belong to several publishers."""

    Role = MembershipRole

    user = user_key(related_name="memberships")
    publisher = publisher_key(related_name="memberships")
    role = models.CharField(_("role"), max_length=10, choices=Role, default=Role.MEMBER)

    class Meta:
        ordering = ["publisher__name", "user__username"]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "publisher"], name="membership_unique_user"),
            choice_is_valid_constraint(
                field="role", choices=MembershipRole, name="membership_role_valid"
            ),
        ]

    def __str__(self):
        return f"{self.user} @ {self.publisher} ({self.get_role_display()})"

    @property
    def is_owner(self) -> bool:
        return self.role == self.Role.OWNER
