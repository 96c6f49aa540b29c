"""The storefront table of DESIGN §1, as data that models, constraints and forms share.

| Storefront        | Campaign kind     | Listing types            |
| AppSource         | nurture           | app, consulting service  |
| Azure Marketplace | demand generation | offer, technology        |
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Storefront(models.TextChoices):
    APPSOURCE = "appsource", _("AppSource")
    AZURE_MARKETPLACE = "azure-marketplace", _("Azure Marketplace")


class ListingType(models.TextChoices):
    APP = "app", _("App")
    CONSULTING_SERVICE = "consulting-service", _("Consulting service")
    OFFER = "offer", _("Offer")
    TECHNOLOGY = "technology", _("Technology")


class CampaignKind(models.TextChoices):
    NURTURE = "nurture", _("Nurture")
    DEMAND_GENERATION = "demand-generation", _("Demand generation")


LISTING_TYPES_BY_STOREFRONT: dict[str, tuple[str, ...]] = {
    Storefront.APPSOURCE: (ListingType.APP, ListingType.CONSULTING_SERVICE),
    Storefront.AZURE_MARKETPLACE: (ListingType.OFFER, ListingType.TECHNOLOGY),
}

CAMPAIGN_KIND_BY_STOREFRONT: dict[str, str] = {
    Storefront.APPSOURCE: CampaignKind.NURTURE,
    Storefront.AZURE_MARKETPLACE: CampaignKind.DEMAND_GENERATION,
}


def listing_type_is_valid(storefront: str, listing_type: str) -> bool:
    return listing_type in LISTING_TYPES_BY_STOREFRONT.get(storefront, ())


def listing_type_labels(storefront: str) -> str:
    """The listing types a storefront accepts, in words, for error messages."""
    return ", ".join(str(ListingType(t).label) for t in LISTING_TYPES_BY_STOREFRONT[storefront])


# A lead's storefronts (`Lead.storefronts`): one bit per storefront it has an activity on.
# The bits are stored: never renumber one, give a new storefront the next free bit.
STOREFRONT_BITS: dict[str, int] = {
    Storefront.APPSOURCE: 1,
    Storefront.AZURE_MARKETPLACE: 2,
}


def storefront_mask(storefronts) -> int:
    """The bits of these storefronts (unknown names add none)."""
    mask = 0
    for storefront in storefronts:
        mask |= STOREFRONT_BITS.get(storefront, 0)
    return mask


def storefront_masks_with(storefront: str) -> list[int]:
    """Every mask that holds this storefront's bit, for an `IN` the planner can index
    (a bitwise AND cannot be); none for an unknown storefront."""
    bit = STOREFRONT_BITS.get(storefront, 0)
    every = sum(STOREFRONT_BITS.values())
    return [mask for mask in range(1, every + 1) if mask & bit] if bit else []
