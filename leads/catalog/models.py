"""The publisher's listings on the storefronts, and the gate they pass to be published."""

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from leads.catalog.regions import countries_of, countries_parse
from leads.catalog.storefronts import (
    LISTING_TYPES_BY_STOREFRONT,
    ListingType,
    Storefront,
    listing_type_is_valid,
    listing_type_labels,
)
from portal.tenancy.model_fields import TimestampedModel, optional_key, parent_key, publisher_key

offer_id_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_-]*\.[A-Za-z0-9][A-Za-z0-9._-]*$",
    _("Enter the offer id as publisherid.offerid, for example contoso.contoso-crm."),
)

CONSENT_POLICY_HELP = _(
    "Partner Center sends no consent flag. Before a lead reaches you, the customer clicked the "
    "offer's call to action and agreed to this (Get it now, as Microsoft documents it): "
    "“I give Microsoft permission to use or share my account information so that the "
    "provider or Microsoft can contact me regarding this product and related products…” "
    "For Contact me, Microsoft says the customer consents to sharing their information. "
    "Tick this if your own privacy terms let you send such a customer this listing's nurture "
    "emails without an explicit MarketingConsent flag. An explicit refusal always wins."
)
STRICT_COUNTRIES_HELP = _(
    "Leads from these countries get no nurture email without an explicit MarketingConsent "
    "flag; once the list has a country, so do leads whose country is unknown. ISO alpha-2 "
    "codes separated by commas (DE, FR); "
    "type EEA for the 30 countries of the European Economic Area, or EU for the 27 member "
    "states."
)

# One CHECK per storefront row of DESIGN §1: (storefront = X AND type IN X's types) OR …
_LISTING_TYPE_MATCHES_STOREFRONT = Q()
for _storefront, _types in LISTING_TYPES_BY_STOREFRONT.items():
    _LISTING_TYPE_MATCHES_STOREFRONT |= Q(storefront=_storefront, listing_type__in=_types)


class Listing(TimestampedModel):
    """An app, consulting service, offer or technology on one storefront."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        UNPUBLISHED = "unpublished", _("Unpublished")

    publisher = publisher_key(related_name="listings")
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
    # The consent policy (docs/partner-center.md, "Consent"): off unless the owner turns it on.
    nurture_on_offer_consent = models.BooleanField(
        _("nurture leads who agreed to be contacted about this offer"),
        default=False,
        help_text=CONSENT_POLICY_HELP,
    )
    consent_strict_countries = models.CharField(
        _("stricter regions"),
        max_length=800,
        blank=True,
        default="",
        help_text=STRICT_COUNTRIES_HELP,
    )

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
        try:  # stored sorted and unique, shorthands expanded: "AT,BE,…"
            self.consent_strict_countries = countries_parse(self.consent_strict_countries)
        except ValidationError as error:
            raise ValidationError({"consent_strict_countries": error}) from None
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

    @property
    def strict_countries(self) -> frozenset[str]:
        return countries_of(self.consent_strict_countries)


def listing_key(*, related_name: str, **options) -> models.ForeignKey:
    """The listing a row belongs to; the row goes when its listing goes."""
    return parent_key(Listing, _("listing"), related_name=related_name, **options)


def listing_reference_key(verbose_name) -> models.ForeignKey:
    """A listing a row refers to as evidence; the row stays (empty) when the listing goes."""
    return optional_key(Listing, verbose_name)
