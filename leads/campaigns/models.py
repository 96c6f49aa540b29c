"""Campaigns: attribution codes, their listings, dates and goals."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from leads.catalog.models import Listing
from leads.catalog.storefronts import CAMPAIGN_KIND_BY_STOREFRONT, CampaignKind, Storefront
from portal.tenancy.model_fields import CreatedModel, parent_key, publisher_key


class Campaign(CreatedModel):
    """A marketing campaign; its kind follows from its storefront (DESIGN §1)."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        ENDED = "ended", _("Ended")

    publisher = publisher_key(related_name="campaigns")
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


def campaign_key(*, related_name: str, **options) -> models.ForeignKey:
    """The campaign a row belongs to; the row goes when its campaign goes."""
    return parent_key(Campaign, _("campaign"), related_name=related_name, **options)


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
