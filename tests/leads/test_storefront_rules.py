"""The storefront table of DESIGN §1, enforced by the models and by PostgreSQL."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from leads.campaigns import services as campaign_services
from leads.catalog.storefronts import Storefront
from leads.models import Campaign, CampaignListing, Lead, LeadActivity, Listing
from tests.factories import make_activity, make_campaign, make_lead, make_listing

APPSOURCE = Storefront.APPSOURCE
AZURE = Storefront.AZURE_MARKETPLACE


@pytest.mark.parametrize(
    ("storefront", "listing_type", "valid"),
    [
        (APPSOURCE, "app", True),
        (APPSOURCE, "consulting-service", True),
        (APPSOURCE, "offer", False),
        (APPSOURCE, "technology", False),
        (AZURE, "offer", True),
        (AZURE, "technology", True),
        (AZURE, "app", False),
        (AZURE, "consulting-service", False),
    ],
)
def test_listing_type_must_be_sold_on_its_storefront(
    db, publisher, storefront, listing_type, valid
):
    listing = Listing(
        publisher=publisher,
        storefront=storefront,
        listing_type=listing_type,
        name="Contoso CRM",
        offer_id="contoso.contoso-crm",
    )
    if valid:
        listing.full_clean()
        listing.save()
        assert Listing.objects.filter(pk=listing.pk).exists()
        return

    # The model refuses with a readable reason on the field…
    with pytest.raises(ValidationError) as refused:
        listing.full_clean()
    assert "does not sell this listing type" in refused.value.message_dict["listing_type"][0]
    # …and the database refuses even when the model is bypassed.
    with (
        pytest.raises(IntegrityError, match="listing_type_valid_for_storefront"),
        transaction.atomic(),
    ):
        listing.save()
    assert not Listing.objects.exists()


def test_offer_id_is_unique_per_storefront(db, publisher):
    make_listing(publisher=publisher, storefront=APPSOURCE, offer_id="contoso.crm")
    make_listing(publisher=publisher, storefront=AZURE, offer_id="contoso.crm")

    with (
        pytest.raises(IntegrityError, match="listing_offer_unique_per_storefront"),
        transaction.atomic(),
    ):
        make_listing(publisher=publisher, storefront=APPSOURCE, offer_id="contoso.crm")
    assert Listing.objects.count() == 2


def test_a_published_listing_must_have_lead_management_in_the_database(db, publisher):
    listing = make_listing(publisher=publisher, storefront=AZURE)

    with (
        pytest.raises(IntegrityError, match="listing_published_needs_lead_management"),
        transaction.atomic(),
    ):
        Listing.objects.filter(pk=listing.pk).update(
            status="published", published_at=timezone.now()
        )
    listing.refresh_from_db()
    assert listing.status == "draft"


@pytest.mark.parametrize(
    ("storefront", "kind"), [(APPSOURCE, "nurture"), (AZURE, "demand-generation")]
)
def test_campaign_kind_is_derived_from_the_storefront(db, publisher, storefront, kind):
    campaign = make_campaign(publisher=publisher, storefront=storefront)

    campaign.refresh_from_db()

    assert campaign.kind == kind
    assert campaign.derived_kind == kind


def test_the_database_refuses_to_write_a_campaign_kind(db, publisher):
    campaign = make_campaign(publisher=publisher, storefront=APPSOURCE)

    with (
        pytest.raises(Exception, match="generated column"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE leads_campaign SET kind = 'demand-generation' WHERE id = %s", [campaign.pk]
        )
    campaign.refresh_from_db()
    assert campaign.kind == "nurture"


def test_changing_the_storefront_changes_the_kind(db, publisher):
    campaign = make_campaign(publisher=publisher, storefront=APPSOURCE)

    Campaign.objects.filter(pk=campaign.pk).update(storefront=AZURE)

    campaign.refresh_from_db()
    assert campaign.kind == "demand-generation"


def test_a_campaign_cannot_include_a_listing_of_another_storefront(db, publisher):
    campaign = make_campaign(publisher=publisher, storefront=APPSOURCE)
    azure_listing = make_listing(publisher=publisher, storefront=AZURE)

    # The service refuses with a reason naming the listing…
    with pytest.raises(ValidationError) as refused:
        campaign_services.campaign_set_listings(campaign=campaign, listings=[azure_listing])
    assert azure_listing.name in refused.value.message_dict["listings"][0]
    # …so does the model…
    with pytest.raises(ValidationError):
        CampaignListing(campaign=campaign, listing=azure_listing).full_clean()
    assert not CampaignListing.objects.exists()


@pytest.mark.parametrize("storefront_column", [APPSOURCE, AZURE])
def test_the_database_refuses_a_listing_of_another_storefront(db, publisher, storefront_column):
    campaign = make_campaign(publisher=publisher, storefront=APPSOURCE)
    azure_listing = make_listing(publisher=publisher, storefront=AZURE)

    # Whichever storefront the row claims, one composite foreign key fails.
    with pytest.raises(IntegrityError, match="same_storefront"), transaction.atomic():
        CampaignListing.objects.create(
            campaign=campaign, listing=azure_listing, storefront=storefront_column
        )
    assert not CampaignListing.objects.exists()


def test_campaign_listings_of_the_same_storefront_are_kept(db, publisher):
    campaign = make_campaign(publisher=publisher, storefront=AZURE)
    offer = make_listing(publisher=publisher, storefront=AZURE, listing_type="offer")
    technology = make_listing(publisher=publisher, storefront=AZURE, listing_type="technology")

    campaign_services.campaign_set_listings(campaign=campaign, listings=[offer, technology])

    assert set(campaign.listings.values_list("pk", flat=True)) == {offer.pk, technology.pk}


def test_a_campaign_cannot_include_another_publishers_listing(db, publisher, other_publisher):
    campaign = make_campaign(publisher=publisher, storefront=APPSOURCE)
    foreign = make_listing(publisher=other_publisher, storefront=APPSOURCE)

    with pytest.raises(ValidationError, match="another publisher"):
        campaign_services.campaign_set_listings(campaign=campaign, listings=[foreign])
    assert not CampaignListing.objects.exists()


def test_external_id_is_unique_per_storefront(db, publisher):
    appsource = make_listing(publisher=publisher, storefront=APPSOURCE)
    azure = make_listing(publisher=publisher, storefront=AZURE)
    lead = make_lead(publisher=publisher)
    make_activity(lead=lead, listing=appsource, external_id="lead-42")
    # The same id on the other storefront is another interaction.
    make_activity(lead=lead, listing=azure, external_id="lead-42")
    # Activities without an id never collide.
    make_activity(lead=lead, listing=appsource, external_id=None)
    make_activity(lead=lead, listing=appsource, external_id=None)

    with (
        pytest.raises(IntegrityError, match="activity_external_id_unique_per_storefront"),
        transaction.atomic(),
    ):
        make_activity(lead=lead, listing=appsource, external_id="lead-42")
    assert LeadActivity.objects.count() == 4


def test_a_lead_is_unique_per_publisher_origin_and_normalized_email(db, publisher, other_publisher):
    make_lead(publisher=publisher, email="Ada@Contoso.example")
    # Another origin, or another publisher, is another lead.
    make_lead(publisher=publisher, email="ada@contoso.example", origin=Lead.Origin.CO_SELL)
    make_lead(publisher=other_publisher, email="ada@contoso.example")

    with (
        pytest.raises(IntegrityError, match="lead_unique_person_per_publisher_origin"),
        transaction.atomic(),
    ):
        make_lead(publisher=publisher, email="  ADA@contoso.EXAMPLE ")
    assert Lead.objects.count() == 3


def test_the_model_reports_a_duplicate_lead_readably(db, publisher):
    make_lead(publisher=publisher, email="ada@contoso.example")
    duplicate = Lead(publisher=publisher, email="ADA@contoso.example")

    with pytest.raises(ValidationError, match="already has a lead of this origin"):
        duplicate.full_clean()


def test_the_database_keeps_normalized_emails_lowercase(db, publisher):
    lead = make_lead(publisher=publisher)

    with (
        pytest.raises(IntegrityError, match="lead_email_normalized_lowercase"),
        transaction.atomic(),
    ):
        Lead.objects.filter(pk=lead.pk).update(email_normalized="Ada@Contoso.example")


def test_lead_lifecycle_moves(db, publisher):
    lead = make_lead(publisher=publisher)

    assert lead.can_move_to("qualified")
    assert lead.can_move_to("disqualified")
    assert not lead.can_move_to("won")
    lead.status = "accepted"
    assert lead.can_move_to("won") and lead.can_move_to("lost")
    assert not lead.can_move_to("disqualified")
