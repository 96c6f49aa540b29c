"""Writes for listings and campaigns. Views, admin and commands call these, never save()."""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.models import Campaign, CampaignListing, Listing
from leads.selectors import PublishBlocker, listing_publish_blockers


class ListingPublishRefused(ValidationError):
    """The publish gate refused; `blockers` says why, each with its fix."""

    def __init__(self, blockers: list[PublishBlocker]):
        self.blockers = blockers
        super().__init__([blocker.message for blocker in blockers], code="publish_refused")


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
def campaign_set_listings(*, campaign: Campaign, listings: Iterable[Listing]) -> Campaign:
    """Replace a campaign's listings. Each must be the publisher's and on its storefront."""
    listings = list(listings)
    errors = []
    for listing in listings:
        if listing.publisher_id != campaign.publisher_id:
            errors.append(_("%(listing)s belongs to another publisher.") % {"listing": listing})
        elif listing.storefront != campaign.storefront:
            errors.append(
                _("%(listing)s is not on this campaign's storefront (%(storefront)s).")
                % {"listing": listing.name, "storefront": campaign.get_storefront_display()}
            )
    if errors:
        raise ValidationError({"listings": errors})
    CampaignListing.objects.filter(campaign=campaign).delete()
    CampaignListing.objects.bulk_create(
        CampaignListing(campaign=campaign, listing=listing, storefront=campaign.storefront)
        for listing in listings
    )
    return campaign
