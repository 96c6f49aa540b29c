"""The publish gate of DESIGN §1: lead management, and for AppSource a verified CRM target."""

import pytest
from django.utils import timezone

from leads.catalog import services as catalog_services
from leads.catalog.storefronts import Storefront
from leads.models import Listing
from tests.factories import make_listing, make_target

APPSOURCE = Storefront.APPSOURCE
AZURE = Storefront.AZURE_MARKETPLACE


def refusal_codes(listing) -> list[str]:
    with pytest.raises(catalog_services.ListingPublishRefused) as refused:
        catalog_services.listing_publish(listing=listing)
    listing.refresh_from_db()
    assert listing.status == Listing.Status.DRAFT
    assert listing.published_at is None
    return [blocker.code for blocker in refused.value.blockers]


@pytest.mark.parametrize("storefront", [APPSOURCE, AZURE])
def test_lead_management_must_be_enabled(db, publisher, storefront):
    listing = make_listing(publisher=publisher, storefront=storefront)
    make_target(publisher=publisher, verified_at=timezone.now())

    assert refusal_codes(listing) == ["lead_management_disabled"]


def test_refusal_reasons_are_readable(db, publisher):
    listing = make_listing(publisher=publisher, storefront=APPSOURCE)

    with pytest.raises(catalog_services.ListingPublishRefused) as refused:
        catalog_services.listing_publish(listing=listing)

    assert refused.value.messages == [
        "Lead management is not enabled. Enable it so that leads reach you.",
        "AppSource listings need an active CRM target that covers this listing and whose "
        "test lead has succeeded.",
    ]
    assert [b.fix for b in refused.value.blockers] == ["listing-detail", "crm-targets"]


def test_appsource_without_any_target_is_refused(db, publisher):
    listing = make_listing(publisher=publisher, storefront=APPSOURCE, lead_management_enabled=True)

    assert refusal_codes(listing) == ["no_verified_crm_target"]


def test_appsource_with_an_unverified_target_is_refused(db, publisher):
    listing = make_listing(publisher=publisher, storefront=APPSOURCE, lead_management_enabled=True)
    make_target(publisher=publisher, verified_at=None)

    assert refusal_codes(listing) == ["no_verified_crm_target"]


def test_appsource_with_a_paused_verified_target_is_refused(db, publisher):
    listing = make_listing(publisher=publisher, storefront=APPSOURCE, lead_management_enabled=True)
    make_target(publisher=publisher, verified_at=timezone.now(), is_active=False)

    assert refusal_codes(listing) == ["no_verified_crm_target"]


def test_appsource_with_a_target_scoped_to_other_listings_is_refused(db, publisher):
    listing = make_listing(publisher=publisher, storefront=APPSOURCE, lead_management_enabled=True)
    other = make_listing(publisher=publisher, storefront=APPSOURCE)
    target = make_target(publisher=publisher, verified_at=timezone.now(), scope="chosen")
    target.listings.set([other])

    assert refusal_codes(listing) == ["no_verified_crm_target"]


def test_another_publishers_verified_target_does_not_count(db, publisher, other_publisher):
    listing = make_listing(publisher=publisher, storefront=APPSOURCE, lead_management_enabled=True)
    make_target(publisher=other_publisher, verified_at=timezone.now())

    assert refusal_codes(listing) == ["no_verified_crm_target"]


def test_the_field_seller_target_does_not_satisfy_the_gate(db, publisher):
    listing = make_listing(publisher=publisher, storefront=APPSOURCE, lead_management_enabled=True)
    make_target(publisher=None, verified_at=timezone.now())

    assert refusal_codes(listing) == ["no_verified_crm_target"]


@pytest.mark.parametrize("scope", ["all", "chosen"])
def test_appsource_with_a_covering_verified_target_publishes(db, publisher, scope):
    listing = make_listing(publisher=publisher, storefront=APPSOURCE, lead_management_enabled=True)
    target = make_target(publisher=publisher, verified_at=timezone.now(), scope=scope)
    if scope == "chosen":
        target.listings.set([listing])

    published = catalog_services.listing_publish(listing=listing)

    assert published.status == Listing.Status.PUBLISHED
    assert published.published_at is not None


def test_azure_marketplace_needs_no_crm_target(db, publisher):
    listing = make_listing(publisher=publisher, storefront=AZURE, lead_management_enabled=True)

    catalog_services.listing_publish(listing=listing)

    listing.refresh_from_db()
    assert listing.status == Listing.Status.PUBLISHED


def test_a_published_listing_keeps_lead_management(db, publisher):
    listing = make_listing(publisher=publisher, storefront=AZURE, lead_management_enabled=True)
    catalog_services.listing_publish(listing=listing)

    with pytest.raises(Exception, match="Unpublish the listing first"):
        catalog_services.listing_set_lead_management(listing=listing, enabled=False)

    catalog_services.listing_unpublish(listing=listing)
    catalog_services.listing_set_lead_management(listing=listing, enabled=False)
    listing.refresh_from_db()
    assert (listing.status, listing.lead_management_enabled) == ("unpublished", False)
