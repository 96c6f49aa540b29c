"""What the storefront simulator reads from the database: the listings it may name, and
the storefront of the key it posts with."""

from demo.simulation import STOREFRONTS, Target
from leads.intake import api_keys
from leads.models import ApiKey, Listing


def targets_published(*, storefronts: tuple[str, ...] = STOREFRONTS) -> list[Target]:
    """The published, lead-managed listings of these storefronts."""
    rows = (
        Listing.objects.filter(
            storefront__in=storefronts,
            status=Listing.Status.PUBLISHED,
            lead_management_enabled=True,
        )
        .order_by("storefront", "offer_id")
        .values_list("offer_id", "name", "storefront")
    )
    return [Target(*row) for row in rows]


def storefront_of_key(*, key: str) -> str | None:
    """The storefront of a live storefront key, or None."""
    return (
        ApiKey.objects.filter(
            key_hash=api_keys.key_hash(key), kind=ApiKey.Kind.STOREFRONT, revoked_at__isnull=True
        )
        .values_list("storefront", flat=True)
        .first()
    )
