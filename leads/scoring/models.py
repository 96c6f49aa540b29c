"""Scoring rules, and the runs that rescore a publisher's leads after they change."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from leads.catalog.models import listing_key
from portal.tenancy.model_fields import TimestampedModel, acting_user_key, publisher_key


class ScoringRule(TimestampedModel):
    """A publisher's rule: when the condition holds, the lead gets the points."""

    class Condition(models.TextChoices):
        ACTION_CODE = "action_code", _("Action code is one of")
        STOREFRONT = "storefront", _("Storefront is")
        LISTING = "listing", _("Listing is")
        COUNTRY_IN = "country_in", _("Country is one of")
        TITLE_MATCHES = "title_matches", _("Job title contains a word of")
        COMPANY_MATCHES = "company_matches", _("Company contains a word of")
        BUSINESS_EMAIL = "business_email", _("Email is on a business domain")
        FREE_EMAIL = "free_email", _("Email is on a free-mail domain")
        PHONE_PRESENT = "phone_present", _("Phone number given")
        ACTIVITY_COUNT_AT_LEAST = "activity_count_at_least", _("Number of activities at least")
        DAYS_SINCE_LAST_ACTIVITY_AT_MOST = (
            "days_since_last_activity_at_most",
            _("Days since the last activity at most"),
        )

    publisher = publisher_key(related_name="scoring_rules")
    name = models.CharField(_("name"), max_length=120)
    condition = models.CharField(_("condition"), max_length=40, choices=Condition)
    value = models.CharField(
        _("value"),
        max_length=500,
        blank=True,
        help_text=_("Comma-separated values, a number, or empty, depending on the condition."),
    )
    listing = listing_key(related_name="scoring_rules", null=True, blank=True)
    points = models.SmallIntegerField(
        _("points"), validators=[MinValueValidator(-100), MaxValueValidator(100)]
    )
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["publisher", "position", "id"]
        verbose_name = _("scoring rule")
        verbose_name_plural = _("scoring rules")
        constraints = [
            models.CheckConstraint(
                condition=Q(points__gte=-100, points__lte=100), name="scoring_points_range"
            ),
            models.CheckConstraint(
                condition=~Q(condition="listing") | Q(listing__isnull=False),
                name="scoring_listing_rule_names_listing",
                violation_error_message=_("A listing rule must name its listing."),
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.points:+d})"

    def clean(self):
        super().clean()
        if self.condition == self.Condition.LISTING and not self.listing_id:
            raise ValidationError({"listing": _("Choose the listing this rule scores.")})
        if self.listing_id and self.publisher_id and self.listing.publisher_id != self.publisher_id:
            raise ValidationError({"listing": _("This listing belongs to another publisher.")})
        numeric = {
            self.Condition.ACTIVITY_COUNT_AT_LEAST,
            self.Condition.DAYS_SINCE_LAST_ACTIVITY_AT_MOST,
        }
        if self.condition in numeric and not self.value.strip().isdigit():
            raise ValidationError({"value": _("Enter a whole number.")})


class RescoreRun(models.Model):
    """A background rescoring of one publisher's leads, with its progress."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    publisher = publisher_key(related_name="rescore_runs")
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.QUEUED)
    total = models.PositiveIntegerField(_("leads"), default=0)
    processed = models.PositiveIntegerField(_("processed"), default=0)
    requalified = models.PositiveIntegerField(_("newly qualified"), default=0)
    error = models.TextField(_("error"), blank=True)
    requested_by = acting_user_key(_("requested by"))
    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("rescore run")
        verbose_name_plural = _("rescore runs")

    def __str__(self):
        return f"{self.publisher} {self.get_status_display()} {self.processed}/{self.total}"

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, round(100 * self.processed / self.total))
