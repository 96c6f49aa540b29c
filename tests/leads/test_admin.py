"""Staff admin for publishers, listings, campaigns, leads and activities."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads.catalog.storefronts import Storefront
from leads.intake import api_keys
from leads.models import (
    ApiKey,
    Campaign,
    CampaignListing,
    Lead,
    LeadActivity,
    LeadTransition,
    Listing,
    ScoringRule,
)
from leads.scoring.services import DEFAULT_SCORING_RULES
from portal.models import Membership, Publisher
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


# --- Changelists stay flat --------------------------------------------------------------


def test_lead_changelist_runs_as_many_queries_for_60_rows_as_for_5(staff_client):
    # Given 5 leads, each of its own publisher
    url = reverse("admin:leads_lead_changelist")
    for _ in range(5):
        factories.make_lead()
    queries_for_5 = _count_queries(staff_client, url)

    # When there are 60
    for _ in range(55):
        factories.make_lead()
    queries_for_60 = _count_queries(staff_client, url)

    # Then the changelist runs the same number of queries
    assert queries_for_60 == queries_for_5


def test_activity_changelist_runs_as_many_queries_for_60_rows_as_for_5(staff_client):
    url = reverse("admin:leads_leadactivity_changelist")
    for _ in range(5):
        factories.make_activity()
    queries_for_5 = _count_queries(staff_client, url)

    for _ in range(55):
        factories.make_activity()
    queries_for_60 = _count_queries(staff_client, url)

    assert queries_for_60 == queries_for_5


# --- Publishers -------------------------------------------------------------------------


def _publisher_form(**overrides) -> dict:
    data = {
        "name": "Contoso",
        "slug": "contoso",
        "publisher_id": "contoso",
        "lead_contact_email": "leads@contoso.example",
        "postal_address": "1 Main St",
        "qualification_threshold": "50",
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


def _run_action(client, url: str, action: str, pks) -> object:
    return client.post(
        url, {"action": action, "_selected_action": [str(pk) for pk in pks]}, follow=True
    )


def test_publish_action_reports_every_reason_a_listing_is_refused(staff_client, publisher):
    # Given an AppSource listing without lead management nor a verified CRM target
    listing = factories.make_listing(publisher=publisher, storefront=Storefront.APPSOURCE)

    # When staff publish it
    response = _run_action(
        staff_client, reverse("admin:leads_listing_changelist"), "publish", [listing.pk]
    )

    # Then each reason is shown, and the listing stays a draft
    assert _messages(response) == [
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
    response = _run_action(
        staff_client,
        reverse("admin:leads_listing_changelist"),
        "publish",
        [allowed.pk, refused.pk],
    )

    # Then the allowed one is published and the other's reason is shown
    assert sorted(_messages(response)) == sorted(
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
    assert _messages(response) == ["1 listing published."]
    listing.refresh_from_db()
    assert listing.status == Listing.Status.PUBLISHED


def test_unpublish_action_takes_a_listing_off_the_storefront(staff_client, publisher):
    listing = factories.make_listing(
        publisher=publisher,
        storefront=Storefront.AZURE_MARKETPLACE,
        lead_management_enabled=True,
        status=Listing.Status.PUBLISHED,
        published_at="2026-01-01T00:00:00Z",
    )

    response = _run_action(
        staff_client, reverse("admin:leads_listing_changelist"), "unpublish", [listing.pk]
    )

    assert _messages(response) == ["1 listing unpublished."]
    listing.refresh_from_db()
    assert listing.status == Listing.Status.UNPUBLISHED


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


# --- Leads ------------------------------------------------------------------------------


def test_lead_search_matches_the_normalized_email_exactly(staff_client, publisher):
    # Given a lead, and another whose email only starts like it
    lead = factories.make_lead(publisher=publisher, email="Ada@Contoso.example")
    factories.make_lead(publisher=publisher, email="ada@contoso.example.org")

    # When staff search the email in another case
    response = staff_client.get(
        reverse("admin:leads_lead_changelist"), {"q": " ADA@contoso.example "}
    )

    # Then only that lead is found
    assert [row.pk for row in response.context["cl"].result_list] == [lead.pk]


def test_lead_search_by_company_prefix(staff_client, publisher):
    lead = factories.make_lead(publisher=publisher, company="Fabrikam Ltd")
    factories.make_lead(publisher=publisher, company="Contoso")

    response = staff_client.get(reverse("admin:leads_lead_changelist"), {"q": "fabri"})

    assert [row.pk for row in response.context["cl"].result_list] == [lead.pk]


def test_lead_page_escapes_what_the_storefront_sent(staff_client, publisher):
    # Given a lead whose fields and score breakdown carry markup
    lead = factories.make_lead(
        publisher=publisher,
        first_name="<script>alert(1)</script>",
        score_breakdown=[{"rule": "<img src=x onerror=alert(2)>", "points": 15}],
    )
    factories.make_activity(lead=lead, raw_payload={"Description": "<b>bold</b>"})

    # When staff open the lead and its activity
    lead_page = staff_client.get(reverse("admin:leads_lead_change", args=[lead.pk]))
    activity = LeadActivity.objects.get(lead=lead)
    activity_page = staff_client.get(reverse("admin:leads_leadactivity_change", args=[activity.pk]))

    # Then the markup is shown as text, never run
    assert "<script>alert(1)" not in lead_page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in lead_page.text
    assert "<img src=x" not in lead_page.text
    assert "<li>&lt;img src=x onerror=alert(2)&gt;: 15</li>" in lead_page.text
    assert "<b>bold</b>" not in activity_page.text
    assert "&lt;b&gt;bold&lt;/b&gt;" in activity_page.text


def test_lead_page_shows_only_the_20_latest_activities_read_only(staff_client, publisher):
    # Given a lead with 25 activities
    lead = factories.make_lead(publisher=publisher)
    listing = factories.make_listing(publisher=publisher)
    for _ in range(25):
        factories.make_activity(lead=lead, listing=listing)
    latest = list(LeadActivity.objects.filter(lead=lead).values_list("pk", flat=True)[:20])

    # When staff open the lead
    response = staff_client.get(reverse("admin:leads_lead_change", args=[lead.pk]))

    # Then the activity inline lists the 20 latest, and cannot add or delete one
    inline = next(
        f for f in response.context["inline_admin_formsets"] if f.formset.model is LeadActivity
    )
    assert [form.instance.pk for form in inline.formset.forms] == latest
    assert (inline.has_add_permission, inline.has_delete_permission) == (False, False)
    assert f"?lead__id__exact={lead.pk}" in response.text


def test_lead_page_keeps_score_status_and_normalized_email_read_only(staff_client, publisher):
    # Given a new lead
    lead = factories.make_lead(publisher=publisher, email="ada@contoso.example")

    # When staff post a score, a status and an email in another case
    response = staff_client.post(
        reverse("admin:leads_lead_change", args=[lead.pk]),
        {
            "email": "ADA@Contoso.example",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "score": "99",
            "status": "won",
            "email_normalized": "forged@example.com",
            "transitions-TOTAL_FORMS": "0",
            "transitions-INITIAL_FORMS": "0",
            "activities-TOTAL_FORMS": "0",
            "activities-INITIAL_FORMS": "0",
            "deliveries-TOTAL_FORMS": "0",
            "deliveries-INITIAL_FORMS": "0",
        },
    )

    # Then only the editable fields change; the normalized email follows the email
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.email, lead.email_normalized, lead.score, lead.status) == (
        "ADA@Contoso.example",
        "ada@contoso.example",
        0,
        Lead.Status.NEW,
    )


def test_lead_page_lists_its_status_changes(staff_client, publisher, staff_user):
    lead = factories.make_lead(publisher=publisher)
    LeadTransition.objects.create(
        lead=lead, from_status="new", to_status="qualified", changed_by=staff_user, reason="Call"
    )

    response = staff_client.get(reverse("admin:leads_lead_change", args=[lead.pk]))

    inline = next(
        f for f in response.context["inline_admin_formsets"] if f.formset.model is LeadTransition
    )
    assert [(f.instance.to_status, f.instance.reason) for f in inline.formset.forms] == [
        ("qualified", "Call")
    ]


# --- Credentials --------------------------------------------------------------------------


def test_revoke_action_revokes_a_storefront_key_once(staff_client):
    # Given a live key and a revoked one
    live, _key = api_keys.api_key_create(kind="storefront", name="A", storefront="appsource")
    revoked, _key = api_keys.api_key_create(kind="storefront", name="B", storefront="appsource")
    api_keys.api_key_revoke(api_key=revoked)
    revoked_at = ApiKey.objects.get(pk=revoked.pk).revoked_at

    # When staff revoke both
    response = _run_action(
        staff_client, reverse("admin:leads_apikey_changelist"), "revoke", [live.pk, revoked.pk]
    )

    # Then the live one is revoked and the other keeps its time
    assert _messages(response) == ["1 key revoked."]
    live.refresh_from_db()
    assert live.revoked_at is not None
    assert ApiKey.objects.get(pk=revoked.pk).revoked_at == revoked_at


def test_key_page_never_shows_the_key_or_its_hash(staff_client):
    api_key, key = api_keys.api_key_create(kind="storefront", name="A", storefront="appsource")

    response = staff_client.get(reverse("admin:leads_apikey_change", args=[api_key.pk]))

    assert response.status_code == 200
    assert (key in response.text, api_key.key_hash in response.text) == (False, False)


def test_staff_create_a_storefront_key_shown_once(client, staff_user):
    from leads.intake import api_keys
    from leads.models import ApiKey

    client.force_login(staff_user)

    response = client.post(
        "/admin/leads/apikey/add/", {"kind": "storefront", "storefront": "appsource", "name": "AS"}
    )

    api_key = ApiKey.objects.get()
    secret = response.context["secret"]
    assert response.status_code == 200
    assert secret in response.content.decode()
    assert api_key.key_hash == api_keys.key_hash(secret) != secret
    assert api_keys.api_key_authenticate(key=secret, kind="storefront") == api_key
    # Never again: the change page shows the prefix only.
    assert secret not in client.get(f"/admin/leads/apikey/{api_key.pk}/change/").content.decode()


def test_a_key_of_the_wrong_shape_is_refused_with_a_reason(client, staff_user):
    from leads.models import ApiKey

    client.force_login(staff_user)

    response = client.post(
        "/admin/leads/apikey/add/", {"kind": "storefront", "storefront": "", "name": "x"}
    )

    assert response.status_code == 200
    assert "A storefront key names its storefront" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_staff_create_a_publisher_token_shown_once(client, staff_user, publisher):
    from leads.intake import api_keys
    from leads.models import PublisherApiToken

    client.force_login(staff_user)

    response = client.post(
        "/admin/leads/publisherapitoken/add/", {"publisher": publisher.pk, "name": "CRM sync"}
    )

    token = PublisherApiToken.objects.get()
    assert (token.publisher, token.created_by) == (publisher, staff_user)
    assert api_keys.publisher_token_authenticate(token=response.context["secret"]) == token
