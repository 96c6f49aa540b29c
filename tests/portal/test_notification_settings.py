"""The settings page's new-lead email card, and the email's lead links."""

import pytest
from django.urls import reverse

from leads.models import NotificationPreference
from portal.models import Membership
from portal.tenancy import middleware
from tests import factories

pytestmark = pytest.mark.django_db

SAVE = "/settings/notifications/"


@pytest.fixture
def member(publisher):
    return factories.make_membership(publisher=publisher, role=Membership.Role.MEMBER)


@pytest.fixture
def listings(publisher):
    return [
        factories.make_listing(publisher=publisher, name="Alpha"),
        factories.make_listing(publisher=publisher, name="Beta"),
    ]


def test_the_card_shows_each_roles_default(client, owner, member, listings):
    client.force_login(owner)
    owner_form = client.get(reverse("settings")).context["notification_form"]
    client.force_login(member.user)
    member_form = client.get(reverse("settings")).context["notification_form"]

    assert (owner_form.initial["mode"], owner_form.initial["scope"]) == ("immediate", "all")
    assert (member_form.initial["mode"], member_form.initial["scope"]) == ("off", "all")
    assert [str(choice[1]) for choice in member_form.fields["listings"].choices] == [
        "Alpha (AppSource)",
        "Beta (AppSource)",
    ]


def test_a_member_saves_a_digest_for_chosen_listings(client, member, listings):
    client.force_login(member.user)

    response = client.post(
        SAVE,
        {
            "mode": "digest",
            "scope": "chosen",
            "listings": [listings[1].pk],
            "digest_hour": "7",
            "time_zone": "Europe/Madrid",
        },
        HTTP_ACCEPT_LANGUAGE="es",
    )

    assert response.status_code == 302
    assert response["Location"] == "/settings/#notifications"
    saved = NotificationPreference.objects.get(membership=member)
    assert (saved.mode, saved.all_listings, saved.digest_hour, saved.time_zone, saved.language) == (
        "digest",
        False,
        7,
        "Europe/Madrid",
        "es",
    )
    assert list(saved.listings.all()) == [listings[1]]


def test_chosen_listings_must_not_be_empty(client, member, listings):
    client.force_login(member.user)

    response = client.post(
        SAVE, {"mode": "immediate", "scope": "chosen", "digest_hour": "8", "time_zone": "UTC"}
    )

    assert response.status_code == 200
    form = response.context["notification_form"]
    assert form.errors == {"listings": ["Choose at least one listing, or every listing."]}
    assert not NotificationPreference.objects.exists()


def test_another_publishers_listing_cannot_be_chosen(client, member, other_publisher):
    foreign = factories.make_listing(publisher=other_publisher)
    client.force_login(member.user)

    response = client.post(
        SAVE,
        {
            "mode": "immediate",
            "scope": "chosen",
            "listings": [foreign.pk],
            "digest_hour": "8",
            "time_zone": "UTC",
        },
    )

    assert response.status_code == 200
    errors = response.context["notification_form"].errors
    assert list(errors) == ["listings"]
    assert "not one of the available choices" in errors["listings"][0]
    assert not NotificationPreference.objects.exists()


def test_an_unknown_time_zone_is_refused(client, member):
    client.force_login(member.user)

    response = client.post(
        SAVE, {"mode": "digest", "scope": "all", "digest_hour": "8", "time_zone": "Mars/Olympus"}
    )

    assert response.status_code == 200
    assert list(response.context["notification_form"].errors) == ["time_zone"]
    assert not NotificationPreference.objects.exists()


def test_the_settings_page_costs_the_same_with_many_listings(
    client, owner, publisher, django_assert_max_num_queries
):
    for n in range(30):
        factories.make_listing(publisher=publisher, name=f"Listing {n:02d}")
    client.force_login(owner)

    with django_assert_max_num_queries(14):
        response = client.get(reverse("settings"))

    assert response.content.decode().count('name="listings"') == 30


def test_a_lead_link_switches_to_the_leads_publisher(client, owner, publisher):
    # Given an owner of two publishers, looking at the second one
    second = factories.make_membership(user=owner).publisher
    lead = factories.make_lead(publisher=publisher)
    client.force_login(owner)
    session = client.session
    session[middleware.SESSION_KEY] = second.pk
    session.save()

    # When they follow an email's link to a lead of the first
    response = client.get(f"/publisher/{publisher.pk}/leads/{lead.uuid}/", follow=True)

    # Then they see the lead, and the first publisher is the current one
    assert response.status_code == 200
    assert response.redirect_chain == [(f"/leads/{lead.uuid}/", 302)]
    assert client.session[middleware.SESSION_KEY] == publisher.pk


def test_a_lead_link_of_another_publisher_is_404(client, owner, other_publisher):
    lead = factories.make_lead(publisher=other_publisher)
    client.force_login(owner)

    response = client.get(f"/publisher/{other_publisher.pk}/leads/{lead.uuid}/")

    assert response.status_code == 404
