"""The portal's listing pages: list, create, edit, lead management, publish, tenancy."""

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.models import Listing
from portal.models import Membership
from tests.factories import make_listing, make_membership, make_target

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def member_client(client, publisher):
    client.force_login(make_membership(publisher=publisher, role=Membership.Role.MEMBER).user)
    return client


def _detail(listing):
    return reverse("listing-detail", args=[listing.pk])


def test_list_shows_storefront_type_status_and_lead_management(owner_client, publisher):
    # Given an AppSource app and a published Azure Marketplace offer
    make_listing(publisher=publisher, name="Contoso App")
    make_listing(
        publisher=publisher,
        storefront="azure-marketplace",
        name="Contoso VM",
        lead_management_enabled=True,
        status="published",
        published_at=timezone.now(),
    )

    # When the owner opens the list
    response = owner_client.get(reverse("listings"))

    # Then both show with their storefront, type, status and lead management
    html = response.content.decode()
    assert response.status_code == 200
    assert [listing.name for listing in response.context["listings"]] == [
        "Contoso App",
        "Contoso VM",
    ]
    for text in [
        "AppSource",
        "Azure Marketplace",
        "App",
        "Offer",
        "Draft",
        "Published",
        "Not enabled",
    ]:
        assert text in html


def test_list_filters_and_sorts(owner_client, publisher):
    # Given three listings
    make_listing(publisher=publisher, name="B app")
    make_listing(publisher=publisher, name="A app", lead_management_enabled=True)
    make_listing(publisher=publisher, storefront="azure-marketplace", name="C offer")

    def names(**query):
        response = owner_client.get(reverse("listings"), query)
        return [listing.name for listing in response.context["listings"]]

    # When the owner filters and sorts, then each narrows or orders the list
    assert names() == ["A app", "B app", "C offer"]
    assert names(storefront="appsource") == ["A app", "B app"]
    assert names(lead_management="on") == ["A app"]
    assert names(status="published") == []
    assert names(sort="-created") == ["C offer", "A app", "B app"]


def test_create_a_listing(owner_client, publisher):
    # When the owner creates an Azure Marketplace offer
    response = owner_client.post(
        reverse("listing-create"),
        {
            "storefront": "azure-marketplace",
            "listing_type": "offer",
            "name": "Contoso VM",
            "offer_id": "contoso.vm",
        },
    )

    # Then it is a draft of this publisher, and the owner lands on it
    listing = Listing.objects.get()
    assert response["Location"] == _detail(listing)
    assert (listing.publisher, listing.storefront, listing.listing_type, listing.status) == (
        publisher,
        "azure-marketplace",
        "offer",
        "draft",
    )


def test_a_type_not_sold_on_the_storefront_is_refused_next_to_the_field(owner_client):
    # When the owner creates an AppSource listing of type "offer"
    response = owner_client.post(
        reverse("listing-create"),
        {"storefront": "appsource", "listing_type": "offer", "name": "X", "offer_id": "contoso.x"},
    )

    # Then nothing is created and the model's message sits next to the type
    html = response.content.decode()
    assert Listing.objects.count() == 0
    assert (
        '<ul class="errorlist" id="id_listing_type_error"><li>AppSource does not sell this '
        "listing type. Choose one of: App, Consulting service.</li></ul>" in html
    )
    assert 'aria-describedby="id_listing_type_helptext id_listing_type_error"' in html
    assert 'aria-invalid="true"' in html


def test_a_taken_offer_id_is_refused(owner_client, publisher):
    # Given a listing with the offer id on AppSource
    make_listing(publisher=publisher, offer_id="contoso.crm")

    # When the owner creates another one with it
    response = owner_client.post(
        reverse("listing-create"),
        {"storefront": "appsource", "listing_type": "app", "name": "X", "offer_id": "contoso.crm"},
    )

    # Then it is refused
    assert response.status_code == 200
    assert Listing.objects.count() == 1
    assert "already exists" in response.content.decode()


def test_edit_keeps_the_storefront_and_validates_the_type(owner_client, publisher):
    # Given an AppSource app
    listing = make_listing(publisher=publisher, name="Old")

    # When the owner tries to move it to Azure Marketplace and rename it
    owner_client.post(
        _detail(listing),
        {
            "action": "save",
            "storefront": "azure-marketplace",
            "listing_type": "consulting-service",
            "name": "New",
            "offer_id": listing.offer_id,
        },
    )
    # and then posts a type AppSource does not sell
    response = owner_client.post(
        _detail(listing),
        {
            "action": "save",
            "listing_type": "technology",
            "name": "Newer",
            "offer_id": listing.offer_id,
        },
    )

    # Then the rename and type change stuck, the storefront did not, and the bad type is refused
    listing.refresh_from_db()
    assert (listing.storefront, listing.listing_type, listing.name) == (
        "appsource",
        "consulting-service",
        "New",
    )
    assert 'id="id_listing_type_error"' in response.content.decode()


def test_publish_refusal_shows_each_reason_with_its_fix(owner_client, publisher):
    # Given an AppSource listing without lead management or a verified target
    listing = make_listing(publisher=publisher)

    # When the owner publishes it
    response = owner_client.post(_detail(listing), {"action": "publish"})

    # Then it stays a draft, and the page lists each reason with the link that fixes it
    html = response.content.decode()
    listing.refresh_from_db()
    assert listing.status == "draft"
    assert response.context["publish_refused"] is True
    assert [(b["code"], b["url"]) for b in response.context["blockers"]] == [
        ("lead_management_disabled", _detail(listing) + "#lead-management"),
        ("no_verified_crm_target", reverse("crm-targets")),
    ]
    assert "Lead management is not enabled. Enable it so that leads reach you." in html
    assert f'href="{_detail(listing)}#lead-management"' in html
    assert f'href="{reverse("crm-targets")}"' in html
    assert 'role="alert"' in html


def test_enable_lead_management_then_publish(owner_client, publisher):
    # Given an AppSource listing and a verified target covering all listings
    listing = make_listing(publisher=publisher)
    make_target(publisher=publisher, verified_at=timezone.now())

    # When the owner enables lead management, then publishes
    first = owner_client.post(_detail(listing), {"action": "lead_management_on"})
    second = owner_client.post(_detail(listing), {"action": "publish"})

    # Then the listing is published
    listing.refresh_from_db()
    assert first["Location"] == _detail(listing) + "#lead-management"
    assert second["Location"] == _detail(listing)
    assert (listing.lead_management_enabled, listing.status) == (True, "published")
    assert listing.published_at is not None


def test_unpublish_and_lead_management_cannot_be_dropped_while_published(owner_client, publisher):
    # Given a published listing
    listing = make_listing(
        publisher=publisher,
        storefront="azure-marketplace",
        lead_management_enabled=True,
        status="published",
        published_at=timezone.now(),
    )

    # When the owner turns lead management off, then unpublishes
    refused = owner_client.post(_detail(listing), {"action": "lead_management_off"}, follow=True)
    listing.refresh_from_db()
    kept = listing.lead_management_enabled
    owner_client.post(_detail(listing), {"action": "unpublish"})

    # Then lead management stayed while published, and the listing is unpublished
    listing.refresh_from_db()
    assert kept is True
    assert "Unpublish the listing first" in refused.content.decode()
    assert listing.status == "unpublished"


def test_pages_render(owner_client, publisher):
    # Given a listing
    listing = make_listing(publisher=publisher)

    # When the owner opens each listing page, then each renders
    for url in [reverse("listings"), reverse("listing-create"), _detail(listing)]:
        assert owner_client.get(url).status_code == 200, url


# --- Tenancy and roles ---------------------------------------------------------------------


def test_another_publisher_gets_404_and_sees_none_of_the_listings(
    client, publisher, other_publisher
):
    # Given A's listing and B's owner signed in
    listing = make_listing(publisher=publisher, name="A-only listing")
    client.force_login(make_membership(publisher=other_publisher).user)

    # When B opens or acts on A's listing, and lists its own
    answers = [
        client.get(_detail(listing)).status_code,
        client.post(_detail(listing), {"action": "publish"}).status_code,
        client.post(_detail(listing), {"action": "lead_management_on"}).status_code,
    ]
    html = client.get(reverse("listings")).content.decode()

    # Then every answer is 404, nothing changed, and the list omits A's listing
    listing.refresh_from_db()
    assert answers == [404, 404, 404]
    assert listing.lead_management_enabled is False
    assert "A-only listing" not in html


def test_members_view_but_do_not_manage_listings(member_client, publisher):
    # Given a listing
    listing = make_listing(publisher=publisher)

    # When a member views it, then tries each write
    views = [member_client.get(reverse("listings")), member_client.get(_detail(listing))]
    writes = [
        member_client.get(reverse("listing-create")).status_code,
        member_client.post(reverse("listing-create"), {}).status_code,
    ] + [
        member_client.post(_detail(listing), {"action": action}).status_code
        for action in ["save", "publish", "unpublish", "lead_management_on"]
    ]

    # Then the pages render without controls, and every write is forbidden
    assert [response.status_code for response in views] == [200, 200]
    assert 'value="publish"' not in views[1].content.decode()
    assert writes == [403] * 6
    listing.refresh_from_db()
    assert listing.lead_management_enabled is False


def test_anonymous_users_are_sent_to_login(client, publisher):
    # Given a listing
    listing = make_listing(publisher=publisher)

    # When an anonymous visitor opens each route
    responses = [
        client.get(reverse("listings")),
        client.get(reverse("listing-create")),
        client.get(_detail(listing)),
        client.post(_detail(listing), {"action": "publish"}),
    ]

    # Then each goes to the login page
    for response in responses:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
