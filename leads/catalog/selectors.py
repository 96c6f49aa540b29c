"""Reads for listings, campaigns and leads. Every selector takes the publisher it serves."""

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from leads.catalog.storefronts import Storefront
from leads.models import Listing


@dataclass(frozen=True)
class PublishBlocker:
    """Why a listing cannot be published, in words, and what fixes it."""

    code: str
    message: str
    fix: str  # a portal URL name that leads to the fix


def listings_for_publisher(*, publisher) -> QuerySet[Listing]:
    return Listing.objects.filter(publisher=publisher).order_by("storefront", "name")


def listing_get_for_publisher(*, publisher, listing_id: int) -> Listing | None:
    return Listing.objects.filter(publisher=publisher, pk=listing_id).first()


# Whether a verified CRM target covers a listing is crm's to say, and leads does not import
# crm (the layers point leads ← crm): crm registers its selector here when it is ready.
_delivery_checks: list[Callable[..., bool]] = []


def listing_delivery_check_register(check: Callable[..., bool]) -> None:
    """Let a delivery app tell the publish gate whether a listing's leads reach a CRM."""
    if check not in _delivery_checks:
        _delivery_checks.append(check)


def listing_has_verified_target(*, listing: Listing) -> bool:
    """True when a registered delivery check says a verified CRM target covers the listing."""
    return any(check(listing=listing) for check in _delivery_checks)


def listing_publish_blockers(*, listing: Listing) -> list[PublishBlocker]:
    """The publish gate of DESIGN §1: every reason the listing cannot be published now."""
    blockers = []
    if not listing.lead_management_enabled:
        blockers.append(
            PublishBlocker(
                code="lead_management_disabled",
                message=str(
                    _("Lead management is not enabled. Enable it so that leads reach you.")
                ),
                fix="listing-detail",
            )
        )
    if listing.storefront == Storefront.APPSOURCE and not listing_has_verified_target(
        listing=listing
    ):
        blockers.append(
            PublishBlocker(
                code="no_verified_crm_target",
                message=str(
                    _(
                        "AppSource listings need an active CRM target that covers this listing "
                        "and whose test lead has succeeded."
                    )
                ),
                fix="crm-targets",
            )
        )
    return blockers
