"""Writes for listings: create, edit, and the publish gate. Views, admin and commands call these."""

from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.catalog.selectors import PublishBlocker, listing_publish_blockers
from leads.models import Listing
from portal.models import Publisher


class ListingPublishRefused(ValidationError):
    """The publish gate refused; `blockers` says why, each with its fix."""

    def __init__(self, blockers: list[PublishBlocker]):
        self.blockers = blockers
        super().__init__([blocker.message for blocker in blockers], code="publish_refused")


# Apps above leads that act when a listing starts taking leads (inbound processes the
# items that waited for it) register here when they are ready; leads imports none of them.
_published_callbacks: list[Callable[..., object]] = []


def listing_published_register(callback: Callable[..., object]) -> None:
    """Call `callback(listing_id=…)` in the transaction that publishes a listing."""
    if callback not in _published_callbacks:
        _published_callbacks.append(callback)


@transaction.atomic
def listing_publish(*, listing: Listing) -> Listing:
    """Publish a listing, or raise ListingPublishRefused with every reason it cannot be."""
    listing = Listing.objects.select_for_update().select_related("publisher").get(pk=listing.pk)
    if listing.is_published:
        return listing
    blockers = listing_publish_blockers(listing=listing)
    if blockers:
        raise ListingPublishRefused(blockers)
    listing.status = Listing.Status.PUBLISHED
    listing.published_at = timezone.now()
    listing.save(update_fields=["status", "published_at", "updated_at"])
    for callback in _published_callbacks:
        callback(listing_id=listing.pk)
    return listing


@transaction.atomic
def listing_unpublish(*, listing: Listing) -> Listing:
    """Take a listing off the storefront; its leads and history stay."""
    listing = Listing.objects.select_for_update().get(pk=listing.pk)
    if listing.is_published:
        listing.status = Listing.Status.UNPUBLISHED
        listing.save(update_fields=["status", "updated_at"])
    return listing


@transaction.atomic
def listing_set_lead_management(*, listing: Listing, enabled: bool) -> Listing:
    """Turn lead management on or off. A published listing cannot lose it (DESIGN §1)."""
    listing = Listing.objects.select_for_update().get(pk=listing.pk)
    if not enabled and listing.is_published:
        raise ValidationError(
            _("Unpublish the listing first: a published listing must keep lead management."),
            code="published_needs_lead_management",
        )
    listing.lead_management_enabled = enabled
    listing.save(update_fields=["lead_management_enabled", "updated_at"])
    return listing


@transaction.atomic
def listing_create(
    *,
    publisher: Publisher,
    storefront: str,
    listing_type: str,
    name: str,
    offer_id: str,
    nurture_on_offer_consent: bool = False,
    consent_strict_countries: str = "",
) -> Listing:
    """Create a draft listing; the storefront is fixed from now on. The consent policy is
    off unless the owner turns it on (docs/partner-center.md, "Consent")."""
    listing = Listing(
        publisher=publisher,
        storefront=storefront,
        listing_type=listing_type,
        name=name,
        offer_id=offer_id,
        nurture_on_offer_consent=nurture_on_offer_consent,
        consent_strict_countries=consent_strict_countries,
    )
    listing.full_clean()
    listing.save()
    return listing


@transaction.atomic
def listing_update(
    *,
    listing: Listing,
    listing_type: str,
    name: str,
    offer_id: str,
    nurture_on_offer_consent: bool | None = None,
    consent_strict_countries: str | None = None,
) -> Listing:
    """Edit a listing's type, name, offer id and (when given) consent policy; its
    storefront never changes. A policy change applies to the next lead and the next email."""
    listing = Listing.objects.select_for_update().get(pk=listing.pk)
    listing.listing_type, listing.name, listing.offer_id = listing_type, name, offer_id
    fields = ["listing_type", "name", "offer_id", "updated_at"]
    if nurture_on_offer_consent is not None:
        listing.nurture_on_offer_consent = nurture_on_offer_consent
        fields.append("nurture_on_offer_consent")
    if consent_strict_countries is not None:
        listing.consent_strict_countries = consent_strict_countries
        fields.append("consent_strict_countries")
    listing.full_clean()
    listing.save(update_fields=fields)
    return listing
