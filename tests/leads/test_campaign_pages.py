"""Campaign and sequence pages: tenancy on every route, forms, funnel, editor."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import get_resolver, reverse
from django.utils import timezone

from leads.catalog.storefronts import Storefront
from leads.models import Campaign, NurtureSequence, NurtureStep
from portal.models import Membership
from tests.factories import (
    make_activity,
    make_campaign,
    make_lead,
    make_listing,
    make_membership,
    make_publisher,
)
from tests.leads.nurture_support import Sequence, make_owner_and_member

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class World:
    def __init__(self):
        self.sequence = Sequence()
        self.publisher = self.sequence.publisher
        self.campaign = self.sequence.campaign
        self.step = self.sequence.steps[0]
        self.other_campaign = make_campaign(publisher=self.publisher, name="Autumn push")
        self.owner, self.member = make_owner_and_member(self.publisher)
        self.outsider = make_membership(
            publisher=make_publisher(name="Fabrikam"), role=Membership.Role.OWNER
        ).user

    def client(self, user) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client


@pytest.fixture
def world():
    return World()


def campaign_kwargs(w):
    return {"campaign_id": w.campaign.pk}


def step_kwargs(w):
    return {"campaign_id": w.campaign.pk, "step_id": w.step.pk}


# (url name, kwargs, method, owner only, scoped to one campaign)
ROUTES = [
    ("campaigns", lambda w: {}, "get", False, False),
    ("campaigns-compare", lambda w: {}, "get", False, False),
    ("campaign-create", lambda w: {}, "get", True, False),
    ("campaign-create", lambda w: {}, "post", True, False),
    ("campaign-detail", campaign_kwargs, "get", False, True),
    ("campaign-edit", campaign_kwargs, "get", True, True),
    ("campaign-edit", campaign_kwargs, "post", True, True),
    ("campaign-sequence", campaign_kwargs, "get", False, True),
    ("campaign-sequence-start", campaign_kwargs, "post", True, True),
    ("campaign-sequence-pause", campaign_kwargs, "post", True, True),
    ("campaign-sequence-click-tracking", campaign_kwargs, "post", True, True),
    ("campaign-step-create", campaign_kwargs, "post", True, True),
    ("campaign-step-edit", step_kwargs, "get", True, True),
    ("campaign-step-edit", step_kwargs, "post", True, True),
    ("campaign-step-delete", step_kwargs, "post", True, True),
    ("campaign-step-preview", step_kwargs, "get", False, True),
    ("campaign-step-test", step_kwargs, "post", True, True),
    ("campaign-step-live-preview", campaign_kwargs, "post", True, True),
]


def test_every_campaign_route_is_in_the_matrix():
    (leads_urls,) = [
        r
        for r in get_resolver().url_patterns
        if getattr(getattr(r, "urlconf_module", None), "__name__", "") == "leads.urls"
    ]
    names = {name for name in _names(leads_urls) if name.startswith("campaign")}
    assert names == {name for name, *_ in ROUTES}


def _names(resolver) -> list[str]:
    """The names of a URL conf's patterns, those of its included groups too."""
    found = []
    for entry in resolver.url_patterns:
        if hasattr(entry, "url_patterns"):
            found += _names(entry)
        elif entry.name:
            found.append(entry.name)
    return found


def _call(client, name, kwargs, method):
    url = reverse(name, kwargs=kwargs)
    return client.get(url) if method == "get" else client.post(url, {})


@pytest.mark.parametrize(("name", "kwargs", "method", "owner_only", "scoped"), ROUTES)
def test_anonymous_users_are_sent_to_login(world, name, kwargs, method, owner_only, scoped):
    response = _call(world.client(None), name, kwargs(world), method)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize(("name", "kwargs", "method", "owner_only", "scoped"), ROUTES)
def test_another_publishers_owner_gets_404(world, name, kwargs, method, owner_only, scoped):
    if not scoped:
        pytest.skip("not about one campaign")
    before = (Campaign.objects.count(), NurtureStep.objects.count())
    response = _call(world.client(world.outsider), name, kwargs(world), method)
    assert response.status_code == 404
    assert (Campaign.objects.count(), NurtureStep.objects.count()) == before


@pytest.mark.parametrize(("name", "kwargs", "method", "owner_only", "scoped"), ROUTES)
def test_a_member_reads_but_cannot_write(world, name, kwargs, method, owner_only, scoped):
    response = _call(world.client(world.member), name, kwargs(world), method)
    if owner_only:
        assert response.status_code == 403
    elif name == "campaigns-compare":
        assert response.status_code == 302  # no campaigns chosen: back to the list
    else:
        assert response.status_code == 200


def test_the_outsiders_lists_and_comparisons_show_no_foreign_campaign(world):
    client = world.client(world.outsider)
    listing = client.get(reverse("campaigns"))
    url = reverse("campaigns-compare") + f"?ids={world.campaign.pk}&ids={world.other_campaign.pk}"
    compare = client.get(url, follow=True)
    for response in (listing, compare):
        assert world.campaign.name.encode() not in response.content
        assert b"Autumn push" not in response.content


# --- Create and edit ------------------------------------------------------------------------------


def campaign_post(**fields):
    data = {
        "name": "Spring",
        "code": "spring-2026",
        "storefront": Storefront.APPSOURCE,
        "starts_on": "2026-03-01",
        "ends_on": "2026-05-31",
        "goal_qualified_leads": "50",
        "qualification_threshold": "",
        "status": "active",
    }
    return data | fields


def test_an_owner_creates_a_campaign_whose_kind_follows_the_storefront(world):
    listing = make_listing(publisher=world.publisher, storefront=Storefront.APPSOURCE)
    response = world.client(world.owner).post(
        reverse("campaign-create"), campaign_post(listings=[listing.pk])
    )
    campaign = Campaign.objects.get(code="spring-2026")
    assert response.status_code == 302
    assert response.url == reverse("campaign-detail", kwargs={"campaign_id": campaign.pk})
    assert campaign.kind == "nurture"
    assert list(campaign.listings.all()) == [listing]


def test_listings_of_another_storefront_or_publisher_are_refused(world):
    azure = make_listing(publisher=world.publisher, storefront=Storefront.AZURE_MARKETPLACE)
    foreign = make_listing(storefront=Storefront.APPSOURCE)
    client = world.client(world.owner)

    wrong_storefront = client.post(reverse("campaign-create"), campaign_post(listings=[azure.pk]))
    foreign_listing = client.post(reverse("campaign-create"), campaign_post(listings=[foreign.pk]))

    assert wrong_storefront.status_code == 200
    assert "not on the campaign&#x27;s storefront" in wrong_storefront.content.decode()
    assert foreign_listing.status_code == 200
    assert "Select a valid choice" in foreign_listing.content.decode()
    assert not Campaign.objects.filter(code="spring-2026").exists()


def test_a_code_is_unique_per_publisher_with_a_readable_error(world):
    response = world.client(world.owner).post(
        reverse("campaign-create"), campaign_post(code=world.campaign.code.upper())
    )
    assert response.status_code == 200
    assert "You already have a campaign with the code" in response.content.decode()


def test_editing_keeps_the_storefront(world):
    response = world.client(world.owner).post(
        reverse("campaign-edit", kwargs={"campaign_id": world.campaign.pk}),
        campaign_post(
            code=world.campaign.code,
            name="Renamed",
            storefront=Storefront.AZURE_MARKETPLACE,
            listings=[world.sequence.listing.pk],
        ),
    )
    assert response.status_code == 302
    world.campaign.refresh_from_db()
    assert (world.campaign.name, world.campaign.storefront) == ("Renamed", "appsource")


# --- The campaign page ----------------------------------------------------------------------------


def test_the_funnel_counts_attributed_marketplace_leads_only(world):
    listing = world.sequence.listing
    now = timezone.now()
    for status in ("new", "qualified", "accepted", "won", "lost"):
        lead = make_lead(
            publisher=world.publisher,
            status=status,
            qualified_at=None if status == "new" else now,
        )
        make_activity(lead=lead, listing=listing, campaign=world.campaign)
    cosell = make_lead(publisher=world.publisher, origin="co-sell", status="qualified")
    make_activity(lead=cosell, listing=listing, campaign=world.campaign)
    test_lead = make_lead(publisher=world.publisher, is_test=True)
    make_activity(lead=test_lead, listing=listing, campaign=world.campaign, is_test=True)
    make_activity(lead=make_lead(publisher=world.publisher), listing=listing)  # unattributed
    world.campaign.goal_qualified_leads = 8
    world.campaign.save()

    response = world.client(world.member).get(
        reverse("campaign-detail", kwargs={"campaign_id": world.campaign.pk})
    )

    funnel = response.context["funnel"]
    assert (funnel.leads, funnel.qualified, funnel.accepted, funnel.won) == (5, 4, 3, 1)
    assert funnel.goal_percent == 50
    assert sum(response.context["chart"]["values"]) == 5
    html = response.content.decode()
    assert 'id="leads-per-day-data" type="application/json"' in html
    assert "js/campaigns.js" in html
    # CSP: every script is a same-origin file or JSON data.
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag


def test_the_comparison_shows_two_campaigns_side_by_side(world):
    url = reverse("campaigns-compare") + f"?ids={world.campaign.pk}&ids={world.other_campaign.pk}"
    response = world.client(world.member).get(url)
    assert response.status_code == 200
    assert [c.pk for c, _f, _e in response.context["columns"]] == [
        world.campaign.pk,
        world.other_campaign.pk,
    ]


# --- The sequence editor -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "{{ settings.SECRET_KEY }}",
        "{% load static %}",
        '{% include "x.html" %}',
        "{% debug %}",
        "{first_name.__class__.__mro__}",
    ],
)
def test_template_injection_is_a_form_error_at_save(world, body):
    response = world.client(world.owner).post(
        reverse("campaign-step-create", kwargs={"campaign_id": world.campaign.pk}),
        {
            "delay_value": "0",
            "delay_unit": "minutes",
            "subject": "Hello",
            "body": body,
            "stop_condition": "",
        },
    )
    assert response.status_code == 400
    assert response.context["form"].errors["body"]
    assert NurtureStep.objects.filter(campaign=world.campaign).count() == 3


def test_an_owner_adds_a_step_at_the_end(world):
    response = world.client(world.owner).post(
        reverse("campaign-step-create", kwargs={"campaign_id": world.campaign.pk}),
        {
            "delay_value": "3",
            "delay_unit": "days",
            "subject": "Last call, {first_name}",
            "body": "Bye",
            "stop_condition": "",
        },
    )
    assert response.status_code == 302
    assert (
        NurtureStep.objects.filter(campaign=world.campaign).order_by("position").last().position
        == 4
    )


def test_starting_without_a_postal_address_links_to_settings(world):
    world.publisher.postal_address = ""
    world.publisher.save()
    client = world.client(world.owner)
    page = client.get(reverse("campaign-sequence", kwargs={"campaign_id": world.campaign.pk}))
    client.post(reverse("campaign-sequence-pause", kwargs={"campaign_id": world.campaign.pk}))
    response = client.post(
        reverse("campaign-sequence-start", kwargs={"campaign_id": world.campaign.pk}), follow=True
    )
    assert f'href="{reverse("settings")}"' in page.content.decode()
    assert "Add your postal address in Settings" in response.content.decode()
    assert NurtureSequence.objects.get(campaign=world.campaign).status == "paused"


def test_the_preview_escapes_markup_from_the_sample_lead(world):
    lead = make_lead(publisher=world.publisher, first_name="<img src=x onerror=alert(1)>")
    make_activity(lead=lead, listing=world.sequence.listing, campaign=world.campaign)
    response = world.client(world.member).get(
        reverse(
            "campaign-step-preview",
            kwargs={"campaign_id": world.campaign.pk, "step_id": world.step.pk},
        )
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_send_me_a_test_goes_to_the_editors_own_address(world):
    response = world.client(world.owner).post(
        reverse(
            "campaign-step-test",
            kwargs={"campaign_id": world.campaign.pk, "step_id": world.step.pk},
        )
    )
    assert response.status_code == 302
    (message,) = mail.outbox
    assert message.to == [world.owner.email]
    assert message.subject.startswith("[Test] Step 1: hello ")
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_goal_progress_goes_past_100_percent_when_the_goal_is_beaten(world):
    """A beaten goal shows as such, never "610 of 500 (100%)": the figure is not capped,
    the bar is."""
    from leads.campaigns.selectors import Funnel

    assert Funnel(qualified=610, goal=500).goal_percent == 122
    assert Funnel(qualified=0, goal=0).goal_percent is None
    for _n in range(3):
        make_activity(
            lead=make_lead(
                publisher=world.publisher, status="qualified", qualified_at=timezone.now()
            ),
            listing=world.sequence.listing,
            campaign=world.campaign,
        )
    world.campaign.goal_qualified_leads = 2
    world.campaign.save()

    response = world.client(world.member).get(
        reverse("campaign-detail", kwargs={"campaign_id": world.campaign.pk})
    )

    html = response.content.decode()
    assert "3 of 2 qualified leads (150%)" in html
    assert '<progress max="2" value="2">' in html


def test_a_campaigns_form_offers_only_listings_of_its_storefront(world):
    """The AppSource campaign form offers no Azure Marketplace listing."""
    appsource = make_listing(
        publisher=world.publisher, name="Contoso Teams app", storefront=Storefront.APPSOURCE
    )
    azure = make_listing(
        publisher=world.publisher, name="Contoso VM", storefront=Storefront.AZURE_MARKETPLACE
    )
    campaign = make_campaign(
        publisher=world.publisher, name="Teams push", storefront=Storefront.APPSOURCE
    )
    client = world.client(world.owner)

    edit = client.get(reverse("campaign-edit", kwargs={"campaign_id": campaign.pk}))
    create = client.get(reverse("campaign-create"))

    offered = {listing.pk for listing in edit.context["form"].fields["listings"].queryset}
    assert appsource.pk in offered and azure.pk not in offered
    assert "Contoso VM · Azure Marketplace" in create.text
    assert "Contoso Teams app · AppSource" in create.text
