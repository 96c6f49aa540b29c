"""The lead, its storefront activities, its status transitions and its daily figures."""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce, Greatest, Lower
from django.utils.translation import gettext_lazy as _

from leads.campaigns.models import Campaign, campaign_key
from leads.catalog.models import Listing
from leads.catalog.storefronts import Storefront
from portal.tenancy.model_fields import (
    TimestampedModel,
    acting_user_key,
    optional_key,
    parent_key,
    publisher_key,
)


def campaign_attribution_key(verbose_name, *, related_name: str, **options) -> models.ForeignKey:
    """A campaign a lead or activity is attributed to; the row stays when the campaign goes."""
    return optional_key(Campaign, verbose_name, related_name=related_name, **options)


class LeadOrigin(models.TextChoices):
    MARKETPLACE = "marketplace", _("Marketplace")
    CO_SELL = "co-sell", _("Co-Sell referral")


CO_SELL_INDEXES = (
    models.Index(
        fields=["publisher", "-created_at", "-id"],
        name="lead_cosell_created",
        condition=Q(origin=LeadOrigin.CO_SELL),
    ),
    models.Index(
        fields=["publisher", "status", "-created_at", "-id"],
        name="lead_cosell_status_created",
        condition=Q(origin=LeadOrigin.CO_SELL),
    ),
)


class LeadStatus(models.TextChoices):
    NEW = "new", _("New")
    QUALIFIED = "qualified", _("Qualified")
    ACCEPTED = "accepted", _("Accepted")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")
    DISQUALIFIED = "disqualified", _("Disqualified")


# An erased lead keeps its row, with this domain in its address (privacy.registry): the
# retention index leaves such rows out, so the leads erased over the years cost nothing.
ERASED_EMAIL_DOMAIN = "@erased.invalid"


def lead_last_active():
    """When a lead was last active: its latest storefront activity or status change, else
    its creation. Retention counts from it; the index `lead_pub_last_active` is on this very
    expression, so a query must use this function for PostgreSQL to use the index."""
    return Greatest(
        Coalesce("last_activity_at", "created_at"), Coalesce("status_changed_at", "created_at")
    )


class Lead(TimestampedModel):
    """One person per publisher per origin; intake consolidates on the normalized email."""

    Origin = LeadOrigin
    Status = LeadStatus

    # The sales lifecycle of DESIGN §3: where each status may move next.
    TRANSITIONS: dict[str, tuple[str, ...]] = {
        Status.NEW: (Status.QUALIFIED, Status.DISQUALIFIED),
        Status.QUALIFIED: (Status.ACCEPTED, Status.DISQUALIFIED),
        Status.ACCEPTED: (Status.WON, Status.LOST),
        Status.WON: (),
        Status.LOST: (),
        Status.DISQUALIFIED: (),
    }

    uuid = models.UUIDField(_("lead id"), default=uuid.uuid4, unique=True, editable=False)
    # Every index of the lead list leads with the publisher: no index of its own.
    publisher = publisher_key(related_name="leads", db_index=False)
    origin = models.CharField(
        _("origin"), max_length=12, choices=Origin, default=Origin.MARKETPLACE
    )
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    email = models.EmailField(_("email"), max_length=254)
    email_normalized = models.CharField(_("normalized email"), max_length=254, editable=False)
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    country = models.CharField(
        _("country"), max_length=2, blank=True, help_text=_("ISO 3166-1 alpha-2 code.")
    )
    company = models.CharField(_("company"), max_length=200, blank=True)
    title = models.CharField(_("job title"), max_length=200, blank=True)
    score = models.PositiveSmallIntegerField(
        _("score"), default=0, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    score_breakdown = models.JSONField(_("score breakdown"), default=list, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status, default=Status.NEW)
    marketing_consent = models.BooleanField(_("marketing consent"), default=False)
    marketing_consent_at = models.DateTimeField(
        _("consent recorded"), null=True, blank=True, help_text=_("When consent was last stated.")
    )
    is_test = models.BooleanField(
        _("test lead"), default=False, help_text=_("Partner Center validation lead (MSFT_TEST_…).")
    )
    first_campaign = campaign_attribution_key(_("first campaign"), related_name="first_leads")
    latest_campaign = campaign_attribution_key(_("latest campaign"), related_name="latest_leads")
    qualified_at = models.DateTimeField(_("qualified"), null=True, blank=True)
    status_changed_at = models.DateTimeField(_("status changed"), null=True, blank=True)
    status_changed_by = acting_user_key(_("status changed by"))
    status_reason = models.CharField(_("reason"), max_length=500, blank=True)
    last_activity_at = models.DateTimeField(_("last activity"), null=True, blank=True)
    # The storefronts the lead has activities on, one bit each (catalog.storefronts.
    # STOREFRONT_BITS), so that the list's storefront filter is a condition on the row.
    # Kept by every write that adds or moves activities (docs/data-model.md).
    storefronts = models.PositiveSmallIntegerField(
        _("storefronts"), default=0, db_default=0, editable=False
    )
    # Working the lead (docs/portal.md, Working leads): a member of the publisher who owns
    # it, and the next step with its due date.
    owner = optional_key(
        settings.AUTH_USER_MODEL,
        _("owner"),
        related_name="owned_leads",
        db_index=False,  # lead_owner_next_step leads with it
    )
    next_step = models.CharField(_("next step"), max_length=200, blank=True)
    next_step_due = models.DateField(_("next step due"), null=True, blank=True)
    next_step_done_at = models.DateTimeField(_("next step done"), null=True, blank=True)
    # Set when this lead was merged into another (leads.work.services.lead_merge): the row
    # stays, hidden from lists, until the merge is undone.
    merged_into = optional_key("self", _("merged into"), related_name="merged_leads")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        constraints = [
            models.UniqueConstraint(
                fields=["publisher", "origin", "email_normalized"],
                name="lead_unique_person_per_publisher_origin",
                violation_error_message=_(
                    "This publisher already has a lead of this origin with this email."
                ),
            ),
            models.CheckConstraint(condition=Q(score__lte=100), name="lead_score_0_100"),
            models.CheckConstraint(
                condition=Q(email_normalized=Lower("email_normalized")),
                name="lead_email_normalized_lowercase",
            ),
            models.CheckConstraint(
                condition=Q(status__in=LeadStatus.values), name="lead_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(origin__in=LeadOrigin.values), name="lead_origin_valid"
            ),
        ]
        indexes = [
            # The portal's lead list: a publisher's leads by time, by status, by score.
            models.Index(fields=["publisher", "-created_at", "-id"], name="lead_pub_created"),
            models.Index(
                fields=["publisher", "status", "-created_at", "-id"], name="lead_pub_status_created"
            ),
            models.Index(fields=["publisher", "-score", "-id"], name="lead_pub_score"),
            # The Co-Sell list, by time and by status: a publisher's few referral leads
            # without walking its marketplace leads (leads/0030).
            *CO_SELL_INDEXES,
            # The storefront filter's count, with a status and a score range or not: an
            # index-only scan (the page itself walks the sort's index, filtering the row).
            # The storefronts lead, so that no query without that filter is drawn to it.
            models.Index(
                fields=["storefronts", "publisher", "origin", "status", "score"],
                name="lead_pub_storefront_status",
                condition=Q(merged_into__isnull=True),
            ),
            models.Index(fields=["-created_at", "-id"], name="lead_created"),
            # Staff look a person up by email across publishers (admin search).
            models.Index(fields=["email_normalized"], name="lead_email"),
            # "My leads": a user's open next steps by due date.
            models.Index(fields=["owner", "next_step_due"], name="lead_owner_next_step"),
            # Retention: a publisher's leads last active before a cutoff (privacy.retention).
            models.Index(
                models.F("publisher"),
                lead_last_active(),
                name="lead_pub_last_active",
                condition=~Q(email_normalized__endswith=ERASED_EMAIL_DOMAIN),
            ),
        ]

    def __str__(self):
        full_name = f"{self.first_name} {self.last_name}".strip()
        return full_name or self.email

    @staticmethod
    def normalize_email(email: str) -> str:
        """The consolidation key: surrounding space removed, the whole address lowercased."""
        return email.strip().lower()

    def clean(self):
        super().clean()
        self.email_normalized = self.normalize_email(self.email or "")
        if self.country:
            self.country = self.country.upper()

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.status, ())


def lead_key(*, related_name: str, **options) -> models.ForeignKey:
    """The lead a row belongs to; the row goes when its lead goes."""
    return parent_key(Lead, _("lead"), related_name=related_name, **options)


class LeadActivity(models.Model):
    """One storefront interaction of a lead: a trial, an install, a contact request."""

    class ActionCode(models.TextChoices):
        INS = "INS", _("Install / get it now")
        PLT = "PLT", _("Contact me (partner-led trial)")
        DNC = "DNC", _("Do not contact (cross-listing)")
        CREATE = "Create", _("Created in the Azure portal")
        START_TEST_DRIVE = "StartTestDrive", _("Test drive started")

    # activity_lead_latest and activity_campaign_occurred lead with these keys: no index of
    # their own (one fewer to write per activity).
    lead = lead_key(related_name="activities", db_index=False)
    listing = models.ForeignKey(
        Listing,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="activities",
        verbose_name=_("listing"),
    )
    campaign = campaign_attribution_key(_("campaign"), related_name="activities", db_index=False)
    storefront = models.CharField(_("storefront"), max_length=20, choices=Storefront)
    # Unknown codes are kept as sent, so there are no choices enforced here.
    action_code = models.CharField(_("action code"), max_length=40, blank=True)
    lead_source = models.CharField(_("lead source"), max_length=500, blank=True)
    external_id = models.CharField(  # noqa: DJ001  NULL keeps id-less activities out of the unique index
        _("external id"),
        max_length=200,
        null=True,
        blank=True,
        help_text=_("The LeadId or Idempotency-Key the storefront sent."),
    )
    description = models.TextField(_("description"), blank=True)
    occurred_at = models.DateTimeField(_("occurred"))
    is_test = models.BooleanField(_("test lead"), default=False)
    raw_payload = models.JSONField(_("raw payload"), default=dict, blank=True)
    # The first answer intake gave; a replay of the same external id gets it back verbatim.
    intake_response = models.JSONField(_("intake response"), default=dict, blank=True)
    created_at = models.DateTimeField(_("received"), auto_now_add=True)
    # True until the new-lead email planner has read it (leads.notifications). Every row
    # the ORM writes starts pending, whatever path wrote it; the rows that existed before
    # the column, and rows written by SQL that leave it out, are never announced.
    notification_pending = models.BooleanField(
        _("notification pending"), default=True, db_default=False, editable=False
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = _("lead activity")
        verbose_name_plural = _("lead activities")
        constraints = [
            models.UniqueConstraint(
                fields=["storefront", "external_id"],
                condition=Q(external_id__isnull=False),
                name="activity_external_id_unique_per_storefront",
                violation_error_message=_("This storefront already sent an activity with this id."),
            ),
            models.CheckConstraint(
                condition=Q(storefront__in=Storefront.values), name="activity_storefront_valid"
            ),
        ]
        indexes = [
            # A lead's activities newest first, ties by id: the latest one is the first
            # entry (the export's latest listing, delivery payloads, the lead page).
            models.Index(fields=["lead", "-occurred_at", "-id"], name="activity_lead_latest"),
            models.Index(fields=["campaign", "occurred_at"], name="activity_campaign_occurred"),
            models.Index(
                fields=["id"],
                condition=Q(notification_pending=True),
                name="activity_notification_pending",
            ),
        ]

    def __str__(self):
        return f"{self.action_code or '?'} {self.occurred_at:%Y-%m-%d %H:%M}"


class LeadTransition(models.Model):
    """One move in a lead's lifecycle: who (empty for the system), when, and why."""

    # transition_lead_created leads with the lead: no index of its own.
    lead = lead_key(related_name="transitions", db_index=False)
    from_status = models.CharField(_("from"), max_length=12, choices=LeadStatus)
    to_status = models.CharField(_("to"), max_length=12, choices=LeadStatus)
    changed_by = acting_user_key(_("changed by"))
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("when"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("lead transition")
        verbose_name_plural = _("lead transitions")
        indexes = [models.Index(fields=["lead", "-created_at"], name="transition_lead_created")]

    def __str__(self):
        return f"{self.from_status} → {self.to_status}"


class CoSellReferral(Lead):
    """Co-Sell referrals as staff see and enter them in admin (origin co-sell)."""

    class Meta:
        proxy = True
        verbose_name = _("Co-Sell referral")
        verbose_name_plural = _("Co-Sell referrals")


_DAILY_STAT_DIMENSIONS = ["publisher", "day", "storefront", "action_code", "origin", "is_test"]


class LeadDailyStat(models.Model):
    """A publisher's lead counts for one day and one combination of dimensions.

    Written only by `leads.reporting.rollup.rollup_days`, which recomputes whole days; the dashboard
    reads these rows instead of counting a million leads (see portal/shell/dashboard.py).
    """

    publisher = publisher_key(related_name="+")
    day = models.DateField(_("day"))
    # The storefront and action code of the lead's first activity ("" when it has none).
    storefront = models.CharField(_("storefront"), max_length=20, blank=True)
    action_code = models.CharField(_("action code"), max_length=40, blank=True)
    origin = models.CharField(_("origin"), max_length=12, choices=LeadOrigin)
    campaign = campaign_key(related_name="daily_stats", null=True, blank=True)
    is_test = models.BooleanField(_("test leads"), default=False)
    new_count = models.PositiveIntegerField(_("new leads"), default=0)
    qualified_count = models.PositiveIntegerField(_("qualified leads"), default=0)
    accepted_count = models.PositiveIntegerField(_("accepted leads"), default=0)

    class Meta:
        ordering = ["publisher", "day"]
        verbose_name = _("daily lead figures")
        verbose_name_plural = _("daily lead figures")
        # One row per combination; the campaign may be empty, hence two partial indexes
        # (portable, where nulls_distinct=False is PostgreSQL-only).
        constraints = [
            models.UniqueConstraint(
                fields=[*_DAILY_STAT_DIMENSIONS, "campaign"],
                condition=Q(campaign__isnull=False),
                name="leaddailystat_unique_with_campaign",
            ),
            models.UniqueConstraint(
                fields=_DAILY_STAT_DIMENSIONS,
                condition=Q(campaign__isnull=True),
                name="leaddailystat_unique_without_campaign",
            ),
        ]
        indexes = [models.Index(fields=["publisher", "day"], name="leaddailystat_pub_day")]

    def __str__(self):
        return f"{self.publisher_id} {self.day}: {self.new_count}/{self.qualified_count}"
