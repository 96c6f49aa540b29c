"""Listings, campaigns, leads, their activities, and scoring rules (DESIGN §3)."""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from leads.storefronts import (
    CAMPAIGN_KIND_BY_STOREFRONT,
    LISTING_TYPES_BY_STOREFRONT,
    CampaignKind,
    ListingType,
    Storefront,
    listing_type_is_valid,
    listing_type_labels,
)
from portal.models import Publisher

offer_id_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_-]*\.[A-Za-z0-9][A-Za-z0-9._-]*$",
    _("Enter the offer id as publisherid.offerid, for example contoso.contoso-crm."),
)

# One CHECK per storefront row of DESIGN §1: (storefront = X AND type IN X's types) OR …
_LISTING_TYPE_MATCHES_STOREFRONT = Q()
for _storefront, _types in LISTING_TYPES_BY_STOREFRONT.items():
    _LISTING_TYPE_MATCHES_STOREFRONT |= Q(storefront=_storefront, listing_type__in=_types)


class Listing(models.Model):
    """An app, consulting service, offer or technology on one storefront."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        UNPUBLISHED = "unpublished", _("Unpublished")

    publisher = models.ForeignKey(
        Publisher, on_delete=models.CASCADE, related_name="listings", verbose_name=_("publisher")
    )
    storefront = models.CharField(_("storefront"), max_length=20, choices=Storefront)
    listing_type = models.CharField(_("listing type"), max_length=20, choices=ListingType)
    name = models.CharField(_("name"), max_length=200)
    offer_id = models.CharField(
        _("offer id"),
        max_length=200,
        validators=[offer_id_validator],
        help_text=_("publisherid.offerid, as Partner Center shows it."),
    )
    status = models.CharField(_("status"), max_length=12, choices=Status, default=Status.DRAFT)
    lead_management_enabled = models.BooleanField(_("lead management enabled"), default=False)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("listing")
        verbose_name_plural = _("listings")
        constraints = [
            models.UniqueConstraint(
                fields=["storefront", "offer_id"], name="listing_offer_unique_per_storefront"
            ),
            # Target of the composite foreign key from CampaignListing (see migrations).
            models.UniqueConstraint(fields=["id", "storefront"], name="listing_id_storefront"),
            models.CheckConstraint(
                condition=_LISTING_TYPE_MATCHES_STOREFRONT,
                name="listing_type_valid_for_storefront",
                violation_error_message=_("This listing type is not sold on this storefront."),
            ),
            models.CheckConstraint(
                condition=~Q(status="published")
                | Q(lead_management_enabled=True, published_at__isnull=False),
                name="listing_published_needs_lead_management",
                violation_error_message=_("A published listing must have lead management."),
            ),
        ]
        indexes = [models.Index(fields=["publisher", "storefront"], name="listing_pub_sf")]

    def __str__(self):
        return f"{self.name} ({self.get_storefront_display()})"

    def clean(self):
        super().clean()
        if (
            self.storefront
            and self.listing_type
            and not listing_type_is_valid(self.storefront, self.listing_type)
        ):
            raise ValidationError(
                {
                    "listing_type": _(
                        "%(storefront)s does not sell this listing type. Choose one of: %(types)s."
                    )
                    % {
                        "storefront": Storefront(self.storefront).label,
                        "types": listing_type_labels(self.storefront),
                    }
                }
            )

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED


class Campaign(models.Model):
    """A marketing campaign; its kind follows from its storefront (DESIGN §1)."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        ENDED = "ended", _("Ended")

    publisher = models.ForeignKey(
        Publisher, on_delete=models.CASCADE, related_name="campaigns", verbose_name=_("publisher")
    )
    storefront = models.CharField(_("storefront"), max_length=20, choices=Storefront)
    # Derived by the database from the storefront, so it can never disagree with it.
    kind = models.GeneratedField(
        expression=models.Case(
            *(
                models.When(storefront=storefront, then=models.Value(str(kind)))
                for storefront, kind in CAMPAIGN_KIND_BY_STOREFRONT.items()
            ),
            default=models.Value(""),
        ),
        output_field=models.CharField(max_length=20, choices=CampaignKind),
        db_persist=True,
        verbose_name=_("kind"),
    )
    name = models.CharField(_("name"), max_length=200)
    code = models.SlugField(
        _("attribution code"),
        max_length=64,
        help_text=_("Storefront links carry this code as CampaignCode; intake matches on it."),
    )
    listings = models.ManyToManyField(
        Listing,
        through="CampaignListing",
        related_name="campaigns",
        blank=True,
        verbose_name=_("listings"),
    )
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    goal_qualified_leads = models.PositiveIntegerField(
        _("goal (qualified leads)"), default=0, help_text=_("0 means no goal.")
    )
    qualification_threshold = models.PositiveSmallIntegerField(
        _("qualification threshold override"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text=_("Leaves the publisher's threshold in force when empty."),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.DRAFT)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["-starts_on", "name"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        constraints = [
            models.UniqueConstraint(
                fields=["publisher", "code"], name="campaign_code_unique_per_publisher"
            ),
            models.UniqueConstraint(fields=["id", "storefront"], name="campaign_id_storefront"),
            models.CheckConstraint(
                condition=Q(storefront__in=Storefront.values), name="campaign_storefront_valid"
            ),
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=F("starts_on")),
                name="campaign_ends_after_start",
                violation_error_message=_("A campaign cannot end before it starts."),
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def kind_label(self) -> str:
        """The kind in words (a generated column gets no get_kind_display())."""
        kind = self.kind or self.derived_kind
        return str(CampaignKind(kind).label) if kind else ""

    @property
    def derived_kind(self) -> str:
        """The kind before the row is saved (the generated column fills in on save)."""
        return CAMPAIGN_KIND_BY_STOREFRONT.get(self.storefront, "")


class CampaignListing(models.Model):
    """A listing in a campaign. The storefront column lets PostgreSQL refuse a listing of
    another storefront through two composite foreign keys (migration 0002)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="+")
    storefront = models.CharField(max_length=20, choices=Storefront)

    class Meta:
        verbose_name = _("campaign listing")
        verbose_name_plural = _("campaign listings")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "listing"], name="campaign_listing_unique")
        ]

    def __str__(self):
        return f"{self.campaign_id} ↔ {self.listing_id}"

    def clean(self):
        super().clean()
        campaign_storefront = self.campaign.storefront if self.campaign_id else None
        listing_storefront = self.listing.storefront if self.listing_id else None
        if campaign_storefront and listing_storefront and campaign_storefront != listing_storefront:
            raise ValidationError(
                {
                    "listing": _(
                        "%(listing)s is on %(listing_storefront)s; this campaign runs on "
                        "%(campaign_storefront)s."
                    )
                    % {
                        "listing": self.listing.name,
                        "listing_storefront": Storefront(listing_storefront).label,
                        "campaign_storefront": Storefront(campaign_storefront).label,
                    }
                }
            )
        if campaign_storefront:
            self.storefront = campaign_storefront


class LeadOrigin(models.TextChoices):
    MARKETPLACE = "marketplace", _("Marketplace")
    CO_SELL = "co-sell", _("Co-Sell referral")


class LeadStatus(models.TextChoices):
    NEW = "new", _("New")
    QUALIFIED = "qualified", _("Qualified")
    ACCEPTED = "accepted", _("Accepted")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")
    DISQUALIFIED = "disqualified", _("Disqualified")


class Lead(models.Model):
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
    publisher = models.ForeignKey(
        Publisher, on_delete=models.CASCADE, related_name="leads", verbose_name=_("publisher")
    )
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
    first_campaign = models.ForeignKey(
        Campaign,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="first_leads",
        verbose_name=_("first campaign"),
    )
    latest_campaign = models.ForeignKey(
        Campaign,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="latest_leads",
        verbose_name=_("latest campaign"),
    )
    qualified_at = models.DateTimeField(_("qualified"), null=True, blank=True)
    status_changed_at = models.DateTimeField(_("status changed"), null=True, blank=True)
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("status changed by"),
    )
    status_reason = models.CharField(_("reason"), max_length=500, blank=True)
    last_activity_at = models.DateTimeField(_("last activity"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

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
            models.Index(fields=["-created_at", "-id"], name="lead_created"),
            # Staff look a person up by email across publishers (admin search).
            models.Index(fields=["email_normalized"], name="lead_email"),
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


class LeadActivity(models.Model):
    """One storefront interaction of a lead: a trial, an install, a contact request."""

    class ActionCode(models.TextChoices):
        INS = "INS", _("Install / get it now")
        PLT = "PLT", _("Contact me (partner-led trial)")
        DNC = "DNC", _("Do not contact (cross-listing)")
        CREATE = "Create", _("Created in the Azure portal")
        START_TEST_DRIVE = "StartTestDrive", _("Test drive started")

    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="activities", verbose_name=_("lead")
    )
    listing = models.ForeignKey(
        Listing,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="activities",
        verbose_name=_("listing"),
    )
    campaign = models.ForeignKey(
        Campaign,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="activities",
        verbose_name=_("campaign"),
    )
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
            models.Index(fields=["lead", "-occurred_at"], name="activity_lead_occurred"),
            models.Index(fields=["campaign", "occurred_at"], name="activity_campaign_occurred"),
        ]

    def __str__(self):
        return f"{self.action_code or '?'} {self.occurred_at:%Y-%m-%d %H:%M}"


class ScoringRule(models.Model):
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

    publisher = models.ForeignKey(
        Publisher,
        on_delete=models.CASCADE,
        related_name="scoring_rules",
        verbose_name=_("publisher"),
    )
    name = models.CharField(_("name"), max_length=120)
    condition = models.CharField(_("condition"), max_length=40, choices=Condition)
    value = models.CharField(
        _("value"),
        max_length=500,
        blank=True,
        help_text=_("Comma-separated values, a number, or empty, depending on the condition."),
    )
    listing = models.ForeignKey(
        Listing,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="scoring_rules",
        verbose_name=_("listing"),
    )
    points = models.SmallIntegerField(
        _("points"), validators=[MinValueValidator(-100), MaxValueValidator(100)]
    )
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

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


class LeadTransition(models.Model):
    """One move in a lead's lifecycle: who (empty for the system), when, and why."""

    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="transitions", verbose_name=_("lead")
    )
    from_status = models.CharField(_("from"), max_length=12, choices=LeadStatus)
    to_status = models.CharField(_("to"), max_length=12, choices=LeadStatus)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("changed by"),
    )
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("when"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("lead transition")
        verbose_name_plural = _("lead transitions")
        indexes = [models.Index(fields=["lead", "-created_at"], name="transition_lead_created")]

    def __str__(self):
        return f"{self.from_status} → {self.to_status}"


class ApiKey(models.Model):
    """A machine credential for intake: a storefront key, or a Microsoft-seller key for
    Co-Sell referrals. Only the SHA-256 of the key is stored; the key is shown once."""

    class Kind(models.TextChoices):
        STOREFRONT = "storefront", _("Storefront")
        MICROSOFT_SELLER = "microsoft-seller", _("Microsoft seller (Co-Sell referrals)")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind)
    storefront = models.CharField(_("storefront"), max_length=20, choices=Storefront, blank=True)
    name = models.CharField(_("name"), max_length=120)
    prefix = models.CharField(_("prefix"), max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="microsoft-seller", storefront="")
                | Q(kind="storefront", storefront__in=Storefront.values),
                name="apikey_storefront_matches_kind",
                violation_error_message=_(
                    "A storefront key names its storefront; a seller key none."
                ),
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"


class PublisherApiToken(models.Model):
    """A publisher's token for the publisher API. Stored hashed, shown once, revocable."""

    publisher = models.ForeignKey(
        Publisher, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("publisher")
    )
    name = models.CharField(_("name"), max_length=120)
    prefix = models.CharField(_("prefix"), max_length=16, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("publisher API token")
        verbose_name_plural = _("publisher API tokens")

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"


class RescoreRun(models.Model):
    """A background rescoring of one publisher's leads, with its progress."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    publisher = models.ForeignKey(
        Publisher,
        on_delete=models.CASCADE,
        related_name="rescore_runs",
        verbose_name=_("publisher"),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.QUEUED)
    total = models.PositiveIntegerField(_("leads"), default=0)
    processed = models.PositiveIntegerField(_("processed"), default=0)
    requalified = models.PositiveIntegerField(_("newly qualified"), default=0)
    error = models.TextField(_("error"), blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
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


class CoSellReferral(Lead):
    """Co-Sell referrals as staff see and enter them in admin (origin co-sell)."""

    class Meta:
        proxy = True
        verbose_name = _("Co-Sell referral")
        verbose_name_plural = _("Co-Sell referrals")


_DAILY_STAT_DIMENSIONS = ["publisher", "day", "storefront", "action_code", "origin", "is_test"]


class LeadDailyStat(models.Model):
    """A publisher's lead counts for one day and one combination of dimensions.

    Written only by `leads.rollup.rollup_days`, which recomputes whole days; the dashboard
    reads these rows instead of counting a million leads (see portal/dashboard.py).
    """

    publisher = models.ForeignKey(
        Publisher, on_delete=models.CASCADE, related_name="+", verbose_name=_("publisher")
    )
    day = models.DateField(_("day"))
    # The storefront and action code of the lead's first activity ("" when it has none).
    storefront = models.CharField(_("storefront"), max_length=20, blank=True)
    action_code = models.CharField(_("action code"), max_length=40, blank=True)
    origin = models.CharField(_("origin"), max_length=12, choices=LeadOrigin)
    campaign = models.ForeignKey(
        Campaign,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="daily_stats",
        verbose_name=_("campaign"),
    )
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


# --- Nurture email (issue 6; see docs/nurture.md) -------------------------------------------

from django.utils import timezone  # noqa: E402  (this section was appended by the nurture issue)


class NurtureSequence(models.Model):
    """A campaign's email sequence: whether it runs. Its steps hang off the campaign."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")

    campaign = models.OneToOneField(
        Campaign,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="nurture_sequence",
        verbose_name=_("campaign"),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.DRAFT)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("started by"),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("nurture sequence")
        verbose_name_plural = _("nurture sequences")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["draft", "running", "paused"]),
                name="nurturesequence_status_valid",
            )
        ]

    def __str__(self):
        return f"{self.campaign} ({self.get_status_display()})"


class NurtureStep(models.Model):
    """One email of a sequence: sent `delay_hours` after enrolment (first step) or after
    the previous step. Subject and body are placeholder templates (leads.nurture_render)."""

    class StopCondition(models.TextChoices):
        NONE = "", _("Only the standard stops")
        QUALIFIED = "qualified", _("Stop here once the lead is qualified")

    campaign = models.ForeignKey(
        Campaign,
        on_delete=models.CASCADE,
        related_name="nurture_steps",
        verbose_name=_("campaign"),
    )
    position = models.PositiveSmallIntegerField(_("order"))
    delay_hours = models.PositiveIntegerField(
        _("delay (hours)"),
        validators=[MaxValueValidator(24 * 365)],
        help_text=_("After enrolment for the first step, after the previous step otherwise."),
    )
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("body"), max_length=20_000)
    stop_condition = models.CharField(
        _("stop condition"), max_length=12, choices=StopCondition, blank=True, default=""
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

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


class Enrollment(models.Model):
    """A lead in a campaign's sequence: which step it has had, and when the next is due."""

    class State(models.TextChoices):
        ACTIVE = "active", _("Active")
        COMPLETED = "completed", _("Completed")
        STOPPED = "stopped", _("Stopped")

    class StopReason(models.TextChoices):
        STATUS = "status", _("Lead accepted, won, lost or disqualified")
        ACQUIRED = "acquired", _("Lead acquired the offer")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        BOUNCED = "bounced", _("Bounced")
        NO_CONSENT = "no-consent", _("Consent withdrawn")
        SUPPRESSED = "suppressed", _("Address suppressed")
        STEP_CONDITION = "step-condition", _("A step's stop condition")
        STAFF = "staff", _("Stopped by staff")

    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="enrollments", verbose_name=_("lead")
    )
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="enrollments", verbose_name=_("campaign")
    )
    state = models.CharField(_("state"), max_length=10, choices=State, default=State.ACTIVE)
    stop_reason = models.CharField(
        _("stop reason"), max_length=16, choices=StopReason, blank=True, default=""
    )
    # Position of the last step sent (0: none yet); the next step is the first one after it.
    last_position = models.PositiveSmallIntegerField(_("last step sent"), default=0)
    # When the next step is due; while a sender works on it, the end of its lease.
    next_send_at = models.DateTimeField(_("next send"), null=True, blank=True)
    soft_failures = models.PositiveSmallIntegerField(_("temporary failures"), default=0)
    enrolled_at = models.DateTimeField(_("enrolled"))
    last_sent_at = models.DateTimeField(_("last sent"), null=True, blank=True)
    stopped_at = models.DateTimeField(_("stopped"), null=True, blank=True)

    class Meta:
        ordering = ["-enrolled_at", "-id"]
        verbose_name = _("enrollment")
        verbose_name_plural = _("enrollments")
        constraints = [
            models.UniqueConstraint(fields=["lead", "campaign"], name="enrollment_unique"),
            models.CheckConstraint(
                condition=Q(state__in=["active", "completed", "stopped"]),
                name="enrollment_state_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_send_at"], condition=Q(state="active"), name="enrollment_due"
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


class Suppression(models.Model):
    """An address a publisher must not email again. Only a keyed HMAC of the normalized
    address is kept (leads.address_hash), so an opt-out outlives the lead's erasure.
    Rows from before the HMAC whose address was known nowhere any more keep their bare
    SHA-256, marked `is_legacy`, and are matched by it."""

    class Reason(models.TextChoices):
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        BOUNCED = "bounced", _("Bounced")
        COMPLAINED = "complained", _("Complained")

    publisher = models.ForeignKey(
        Publisher,
        on_delete=models.CASCADE,
        related_name="suppressions",
        verbose_name=_("publisher"),
    )
    email_hash = models.CharField(_("email (HMAC-SHA256)"), max_length=64)
    is_legacy = models.BooleanField(
        _("legacy SHA-256"),
        default=False,
        help_text=_("The hash is the bare SHA-256 of the address, from before the HMAC."),
    )
    reason = models.CharField(_("reason"), max_length=12, choices=Reason)
    send = models.ForeignKey(
        EmailSend,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="suppressions",
        verbose_name=_("from the message"),
    )
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
