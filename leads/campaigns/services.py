"""Writes for campaigns from the portal: create and edit, with their listings.

The storefront fixes the kind (a generated column) and, once saved, cannot change: the
campaign's listings reference (listing, storefront) through composite foreign keys.
"""

from collections.abc import Iterable
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from leads.intake import reference
from leads.models import Campaign, CampaignListing, Listing
from portal.models import Publisher

EDITABLE_FIELDS = (
    "name",
    "code",
    "starts_on",
    "ends_on",
    "goal_qualified_leads",
    "qualification_threshold",
    "status",
)


def campaign_code_taken(*, publisher: Publisher, code: str, exclude_id: int | None = None) -> bool:
    """Codes are matched case-insensitively by intake, so they are unique that way."""
    campaigns = Campaign.objects.filter(publisher=publisher, code__iexact=code)
    if exclude_id is not None:
        campaigns = campaigns.exclude(pk=exclude_id)
    return campaigns.exists()


def _check_code(campaign: Campaign) -> None:
    if campaign_code_taken(
        publisher=campaign.publisher, code=campaign.code, exclude_id=campaign.pk
    ):
        raise ValidationError(
            {
                "code": _("You already have a campaign with the code %(code)s.")
                % {"code": campaign.code}
            }
        )


@transaction.atomic
def campaign_create(
    *,
    publisher: Publisher,
    storefront: str,
    name: str,
    code: str,
    starts_on: date,
    ends_on: date | None = None,
    goal_qualified_leads: int = 0,
    qualification_threshold: int | None = None,
    status: str = Campaign.Status.DRAFT,
    listings: Iterable[Listing] = (),
) -> Campaign:
    """Create a campaign on a storefront, with listings of that storefront."""
    campaign = Campaign(
        publisher=publisher,
        storefront=storefront,
        name=name,
        code=code,
        starts_on=starts_on,
        ends_on=ends_on,
        goal_qualified_leads=goal_qualified_leads,
        qualification_threshold=qualification_threshold,
        status=status,
    )
    _check_code(campaign)
    campaign.full_clean(exclude=["kind"])
    campaign.save()
    campaign_set_listings(campaign=campaign, listings=listings)
    return campaign


@transaction.atomic
def campaign_update(*, campaign: Campaign, listings: Iterable[Listing], **fields) -> Campaign:
    """Edit a campaign's details and listings; its storefront (and kind) stay."""
    campaign = Campaign.objects.select_for_update().select_related("publisher").get(pk=campaign.pk)
    for name, value in fields.items():
        if name not in EDITABLE_FIELDS:
            raise ValueError(f"{name} cannot be edited")
        setattr(campaign, name, value)
    _check_code(campaign)
    campaign.full_clean(exclude=["kind"])
    campaign.save(update_fields=list(fields))
    campaign_set_listings(campaign=campaign, listings=listings)
    return campaign


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
    reference.bump("campaigns")  # bulk_create sends no post_save
    return campaign
