"""The leads admin: publishers, listings and campaigns."""

import pytest
from django.test import RequestFactory
from django.urls import reverse

from leads.admin.common import rows_action
from leads.catalog.storefronts import Storefront
from leads.models import Campaign, CampaignListing, Listing, ScoringRule
from leads.scoring.services import DEFAULT_SCORING_RULES
from portal.models import Membership, Publisher
from tests import factories
from tests.leads.admin_support import messages_of, run_action

pytestmark = pytest.mark.django_db


# --- Publishers -------------------------------------------------------------------------


def _publisher_form(**overrides) -> dict:
    data = {
        "name": "Contoso",
        "slug": "contoso",
        "publisher_id": "contoso",
        "lead_contact_email": "leads@contoso.example",
        "postal_address": "1 Main St",
        "qualification_threshold": "50",
        "time_zone": "UTC",  # the admin form shows it filled in
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    return data | overrides


def test_adding_a_publisher_seeds_the_default_scoring_rules_and_its_members(staff_client):
    # Given a user who will own the new publisher
    user = factories.make_user()

    # When staff add the publisher with that member
    response = staff_client.post(
        reverse("admin:portal_publisher_add"),
        _publisher_form(
            **{
                "memberships-TOTAL_FORMS": "1",
                "memberships-0-user": str(user.pk),
                "memberships-0-role": "owner",
            }
        ),
    )

    # Then the publisher exists with the default rules, in order, and its owner
    assert response.status_code == 302
    publisher = Publisher.objects.get(slug="contoso")
    rules = list(
        ScoringRule.objects.filter(publisher=publisher).values_list("name", "points", "position")
    )
    assert rules == [
        (rule["name"], rule["points"], position)
        for position, rule in enumerate(DEFAULT_SCORING_RULES)
    ]
    assert list(Membership.objects.filter(publisher=publisher).values_list("user", "role")) == [
        (user.pk, "owner")
    ]


def test_changing_a_publisher_does_not_seed_rules_again(staff_client, publisher):
    # Given a publisher with one rule of its own
    factories.make_rule(publisher=publisher, name="Only rule")

    # When staff change its name
    response = staff_client.post(
        reverse("admin:portal_publisher_change", args=[publisher.pk]),
        _publisher_form(name="Renamed", slug=publisher.slug, publisher_id=publisher.publisher_id),
    )

    # Then its rules are untouched
    assert response.status_code == 302
    assert list(publisher.scoring_rules.values_list("name", flat=True)) == ["Only rule"]


def test_a_refused_publisher_form_creates_nothing(staff_client, publisher):
    response = staff_client.post(
        reverse("admin:portal_publisher_add"),
        _publisher_form(publisher_id=publisher.publisher_id),
    )

    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["publisher_id"]
    assert not Publisher.objects.filter(slug="contoso").exists()
    assert not ScoringRule.objects.exists()


# --- Listings ---------------------------------------------------------------------------


def test_publish_action_reports_every_reason_a_listing_is_refused(staff_client, publisher):
    # Given an AppSource listing without lead management nor a verified CRM target
    listing = factories.make_listing(publisher=publisher, storefront=Storefront.APPSOURCE)

    # When staff publish it
    response = run_action(
        staff_client, reverse("admin:leads_listing_changelist"), "publish", [listing.pk]
    )

    # Then each reason is shown, and the listing stays a draft
    assert messages_of(response) == [
        f"{listing} was not published: Lead management is not enabled. "
        "Enable it so that leads reach you.",
        f"{listing} was not published: AppSource listings need an active CRM target that "
        "covers this listing and whose test lead has succeeded.",
    ]
    listing.refresh_from_db()
    assert (listing.status, listing.published_at) == (Listing.Status.DRAFT, None)


def test_publish_action_publishes_an_allowed_listing_and_reports_the_refused_one(
    staff_client, publisher
):
    # Given an Azure Marketplace listing with lead management, and one without it
    allowed = factories.make_listing(
        publisher=publisher, storefront=Storefront.AZURE_MARKETPLACE, lead_management_enabled=True
    )
    refused = factories.make_listing(publisher=publisher, storefront=Storefront.AZURE_MARKETPLACE)

    # When staff publish both
    response = run_action(
        staff_client,
        reverse("admin:leads_listing_changelist"),
        "publish",
        [allowed.pk, refused.pk],
    )

    # Then the allowed one is published and the other's reason is shown
    assert sorted(messages_of(response)) == sorted(
        [
            f"{refused} was not published: Lead management is not enabled. "
            "Enable it so that leads reach you.",
            "1 listing published.",
        ]
    )
    allowed.refresh_from_db()
    refused.refresh_from_db()
    assert allowed.status == Listing.Status.PUBLISHED
    assert allowed.published_at is not None
    assert refused.status == Listing.Status.DRAFT


def test_publish_action_on_the_listing_page_publishes_an_appsource_listing_with_a_verified_target(
    staff_client, publisher
):
    # Given an AppSource listing with lead management and a verified CRM target
    listing = factories.make_listing(
        publisher=publisher, storefront=Storefront.APPSOURCE, lead_management_enabled=True
    )
    factories.make_target(publisher=publisher, verified_at="2026-01-01T00:00:00Z")
    url = reverse("admin:leads_listing_change", args=[listing.pk])

    # When staff run "publish" from the listing's own page
    response = staff_client.post(
        url,
        {"CHANGE_FORM-action": "publish", "_selected_action": [str(listing.pk)]},
        follow=True,
    )

    # Then it is published
    assert messages_of(response) == ["1 listing published."]
    listing.refresh_from_db()
    assert listing.status == Listing.Status.PUBLISHED


def _published_listing(publisher) -> Listing:
    return factories.make_listing(
        publisher=publisher,
        storefront=Storefront.AZURE_MARKETPLACE,
        lead_management_enabled=True,
        status=Listing.Status.PUBLISHED,
        published_at="2026-01-01T00:00:00Z",
    )


def test_unpublish_action_takes_a_listing_off_the_storefront(staff_client, publisher):
    listing = _published_listing(publisher)

    response = run_action(
        staff_client, reverse("admin:leads_listing_changelist"), "unpublish", [listing.pk]
    )

    assert messages_of(response) == ["1 listing unpublished."]
    listing.refresh_from_db()
    assert listing.status == Listing.Status.UNPUBLISHED


def test_publish_and_unpublish_count_only_listings_that_change_and_say_why_others_were_skipped(
    staff_client, publisher
):
    """ "Publish" does not count listings that were already published."""
    # Given a published listing and a draft one that may be published
    published = _published_listing(publisher)
    draft = factories.make_listing(
        publisher=publisher, storefront=Storefront.AZURE_MARKETPLACE, lead_management_enabled=True
    )
    changelist = reverse("admin:leads_listing_changelist")

    # When staff publish both, then unpublish both
    publish = run_action(staff_client, changelist, "publish", [published.pk, draft.pk])
    published.refresh_from_db()
    unpublish = run_action(staff_client, changelist, "unpublish", [published.pk, draft.pk])
    again = run_action(staff_client, changelist, "unpublish", [published.pk])

    # Then each count is of the listings that changed, and the skipped one is named
    assert sorted(messages_of(publish)) == sorted(
        ["1 listing published.", f"{published} was skipped: it was already published."]
    )
    assert published.published_at.year == 2026
    assert messages_of(unpublish) == ["2 listings unpublished."]
    assert messages_of(again) == [f"{published} was skipped: it is not published."]


# --- Campaigns --------------------------------------------------------------------------


def _campaign_form(client, publisher, listing, **overrides) -> dict:
    page = client.get(reverse("admin:leads_campaign_add"))
    prefix = page.context["inline_admin_formsets"][0].formset.prefix
    data = {
        "publisher": str(publisher.pk),
        "storefront": Storefront.APPSOURCE,
        "name": "Spring",
        "code": "spring",
        "starts_on": "2026-03-01",
        "ends_on": "",
        "goal_qualified_leads": "10",
        "status": Campaign.Status.DRAFT,
        f"{prefix}-TOTAL_FORMS": "1",
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
        f"{prefix}-0-listing": str(listing.pk),
    }
    return data | overrides, prefix


def test_adding_a_campaign_with_a_listing_of_its_storefront_links_it(staff_client, publisher):
    # Given an AppSource listing of the publisher
    listing = factories.make_listing(publisher=publisher, storefront=Storefront.APPSOURCE)
    data, _prefix = _campaign_form(staff_client, publisher, listing)

    # When staff add an AppSource campaign with it
    response = staff_client.post(reverse("admin:leads_campaign_add"), data)

    # Then the campaign exists, of the nurture kind, with the listing on its storefront
    assert response.status_code == 302
    campaign = Campaign.objects.get(code="spring")
    assert campaign.kind == "nurture"
    assert list(
        CampaignListing.objects.filter(campaign=campaign).values_list("listing", "storefront")
    ) == [(listing.pk, Storefront.APPSOURCE)]


def test_a_campaign_refuses_a_listing_of_another_storefront(staff_client, publisher):
    # Given an Azure Marketplace listing
    listing = factories.make_listing(publisher=publisher, storefront=Storefront.AZURE_MARKETPLACE)
    data, _prefix = _campaign_form(staff_client, publisher, listing)

    # When staff add an AppSource campaign with it
    response = staff_client.post(reverse("admin:leads_campaign_add"), data)

    # Then the listing row says why, and nothing is created
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert formset.errors == [
        {"listing": [f"{listing.name} is on Azure Marketplace; this campaign runs on AppSource."]}
    ]
    assert not Campaign.objects.exists()


def test_a_campaign_refuses_a_listing_of_another_publisher(
    staff_client, publisher, other_publisher
):
    listing = factories.make_listing(publisher=other_publisher, storefront=Storefront.APPSOURCE)
    data, _prefix = _campaign_form(staff_client, publisher, listing)

    response = staff_client.post(reverse("admin:leads_campaign_add"), data)

    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert formset.errors == [{"listing": [f"{listing} belongs to another publisher."]}]
    assert not Campaign.objects.exists()


def test_a_rows_action_writes_all_the_selected_rows_or_none(db):
    # given an action whose service fails on the second of two selected rows
    first, second = factories.make_publisher(name="First"), factories.make_publisher(name="Second")

    def rename(row):
        if row.pk == second.pk:
            raise RuntimeError("the second row fails")
        Publisher.objects.filter(pk=row.pk).update(name="Renamed")

    action = rows_action(rename, description="Rename", done=lambda count: "%(count)d renamed.")
    selected = Publisher.objects.filter(pk__in=[first.pk, second.pk]).order_by("pk")

    # when it runs, then the failure comes through and the first row's write is undone
    with pytest.raises(RuntimeError):
        action(None, RequestFactory().post("/"), selected)
    assert list(selected.values_list("name", flat=True)) == ["First", "Second"]
