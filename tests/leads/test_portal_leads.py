"""The portal's lead list: filters, search, sort, paging, bulk moves, tenancy and query counts."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads.catalog.storefronts import Storefront
from leads.models import Lead, LeadTransition
from portal.models import Membership
from tests.factories import (
    make_activity,
    make_campaign,
    make_delivery,
    make_lead,
    make_listing,
    make_membership,
    make_target,
)
from tests.leads.portal_leads_support import LEADS, REFERRALS, shown

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def created(lead: Lead, at: datetime, **fields) -> Lead:
    """Set the lead's created_at (auto_now_add fixes it at insert), and other fields."""
    Lead.objects.filter(pk=lead.pk).update(created_at=at, **fields)
    lead.refresh_from_db()
    return lead


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def stranger_client(other_publisher, client_of):
    member = make_membership(publisher=other_publisher, role=Membership.Role.MEMBER)
    return client_of(member.user)


# --- The list: filters, search, sort ---------------------------------------------------------


def test_list_shows_marketplace_leads_newest_first_with_a_test_badge(publisher, owner_client):
    # Given two marketplace leads (one a Partner Center test lead) and a Co-Sell referral
    created(make_lead(publisher=publisher, email="old@x.example"), T0)
    created(make_lead(publisher=publisher, email="test@x.example", is_test=True), T0 + timedelta(1))
    created(make_lead(publisher=publisher, email="ref@x.example", origin="co-sell"), T0)

    # When the owner opens the list
    response = owner_client.get(LEADS)

    # Then the marketplace leads show, newest first, the test lead badged, the referral not
    assert shown(response) == ["test@x.example", "old@x.example"]
    html = response.content.decode()
    assert html.count('class="badge badge-test"') == 1
    assert "Leads 1–2" in html


def test_list_filters_on_status_score_and_created_dates(publisher, owner_client):
    # Given leads of several statuses, scores and days
    created(make_lead(publisher=publisher, email="a@x.example"), T0, status="qualified", score=80)
    created(make_lead(publisher=publisher, email="b@x.example"), T0 + timedelta(days=1), score=60)
    created(make_lead(publisher=publisher, email="c@x.example"), T0 + timedelta(days=2), score=20)

    # When the list is filtered, Then only the matching leads show
    assert shown(owner_client.get(LEADS, {"status": "qualified"})) == ["a@x.example"]
    assert shown(owner_client.get(LEADS, {"score_min": 50, "score_max": 70})) == ["b@x.example"]
    assert shown(
        owner_client.get(LEADS, {"created_from": "2026-03-02", "created_to": "2026-03-02"})
    ) == ["b@x.example"]
    assert shown(owner_client.get(LEADS, {"created_to": "2026-03-02"})) == [
        "b@x.example",
        "a@x.example",
    ]


def test_list_filters_on_storefront_listing_and_campaign(publisher, owner_client):
    # Given a lead on an AppSource listing in a campaign, and one on Azure Marketplace
    appsource = make_listing(publisher=publisher, storefront=Storefront.APPSOURCE)
    azure = make_listing(publisher=publisher, storefront=Storefront.AZURE_MARKETPLACE)
    campaign = make_campaign(publisher=publisher, listings=[appsource])
    on_appsource = make_lead(publisher=publisher, email="as@x.example")
    make_activity(lead=on_appsource, listing=appsource, campaign=campaign)
    make_activity(lead=make_lead(publisher=publisher, email="az@x.example"), listing=azure)

    # When filtered by each, Then the one lead that matches shows
    assert shown(owner_client.get(LEADS, {"storefront": "appsource"})) == ["as@x.example"]
    assert shown(owner_client.get(LEADS, {"listing": azure.pk})) == ["az@x.example"]
    assert shown(owner_client.get(LEADS, {"campaign": campaign.pk})) == ["as@x.example"]


def test_list_ignores_a_listing_of_another_publisher_and_says_so(
    publisher, other_publisher, owner_client
):
    # Given a lead, and a listing of another publisher
    make_lead(publisher=publisher, email="mine@x.example")
    foreign = make_listing(publisher=other_publisher)

    # When the list is filtered on the foreign listing
    response = owner_client.get(LEADS, {"listing": foreign.pk})

    # Then the filter is refused next to its field and not applied
    assert shown(response) == ["mine@x.example"]
    assert response.context["form"].errors["listing"] == [
        "Select a valid choice. That choice is not one of the available choices."
    ]


def test_search_matches_an_exact_email_or_parts_of_names_company_and_domain(
    publisher, owner_client
):
    # Given three leads
    make_lead(publisher=publisher, email="Ada@Contoso.example", first_name="Ada", last_name="King")
    make_lead(
        publisher=publisher,
        email="grace@navy.example",
        first_name="Grace",
        last_name="Hopper",
        company="US Navy",
    )
    make_lead(publisher=publisher, email="ada.k@contoso.example", first_name="Alan", company="Zed")

    # When searching, Then an email is an exact normalized match, and words are parts
    assert shown(owner_client.get(LEADS, {"q": " ADA@contoso.EXAMPLE "})) == ["Ada@Contoso.example"]
    assert shown(owner_client.get(LEADS, {"q": "hop"})) == ["grace@navy.example"]
    assert shown(owner_client.get(LEADS, {"q": "us n"})) == ["grace@navy.example"]
    assert shown(owner_client.get(LEADS, {"q": "grace hop"})) == ["grace@navy.example"]
    assert shown(owner_client.get(LEADS, {"q": "opper"})) == ["grace@navy.example"]
    assert sorted(shown(owner_client.get(LEADS, {"q": "contoso.example"}))) == [
        "Ada@Contoso.example",
        "ada.k@contoso.example",
    ]
    # A word of the local part is not searched: only the domain of an address is.
    assert shown(owner_client.get(LEADS, {"q": "ada.k"})) == []


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("-score", ["b", "c", "a"]),
        ("score", ["a", "c", "b"]),
        ("name", ["c", "a", "b"]),
        ("-name", ["b", "a", "c"]),
        ("-last_activity", ["a", "c", "b"]),
        ("created", ["a", "b", "c"]),
        ("bogus", ["c", "b", "a"]),  # an unknown sort falls back to newest first
    ],
)
def test_list_sorts_on_whitelisted_columns(publisher, owner_client, sort, expected):
    # Given three leads that order differently on each column
    for n, (name, score, activity_days) in enumerate(
        [("Baker", 10, 5), ("Young", 90, 1), ("adams", 50, 3)]
    ):
        lead = make_lead(publisher=publisher, email=f"{'abc'[n]}@x.example", last_name=name)
        created(lead, T0 + timedelta(days=n), score=score)
        Lead.objects.filter(pk=lead.pk).update(last_activity_at=T0 + timedelta(days=activity_days))

    # When sorted, Then the order follows the column (names case-insensitively)
    response = owner_client.get(LEADS, {"sort": sort})
    assert [email[0] for email in shown(response)] == expected


SORTS = ["-created", "created", "-score", "score", "-name", "name", "-last_activity"]


@pytest.mark.parametrize("sort", SORTS)
def test_pagination_walks_every_lead_once_forward_and_back(
    publisher, owner_client, monkeypatch, sort
):
    # Given 17 leads with ties on every sort key, and pages of 5
    monkeypatch.setattr("leads.views.leads.PAGE_SIZE", 5)
    for n in range(17):
        lead = make_lead(publisher=publisher, email=f"p{n:02}@x.example", last_name=f"N{n % 3}")
        created(lead, T0 + timedelta(hours=n // 4), score=n % 4 * 10, last_activity_at=None)
    leads = Lead.objects.filter(publisher=publisher)
    everyone = sorted(leads.values_list("email", flat=True))

    # When the owner follows "Next" to the end, then "Previous" back to the start
    pages, params = [], {"sort": sort, "status": "new"}
    while True:
        response = owner_client.get(LEADS, params)
        pages.append(shown(response))
        cursor = response.context["page"].next_cursor
        if cursor is None:
            break
        params = {"sort": sort, "status": "new", "after": cursor, "start": len(pages) * 5 + 1}
    backwards = [pages[-1]]
    cursor = response.context["page"].previous_cursor
    while cursor:
        response = owner_client.get(LEADS, {"sort": sort, "status": "new", "before": cursor})
        backwards.insert(0, shown(response))
        cursor = response.context["page"].previous_cursor

    # Then every lead shows exactly once, in pages of 5, and the way back sees the same pages
    walked = [email for page in pages for email in page]
    assert sorted(walked) == everyone
    assert len(walked) == 17
    assert [len(page) for page in pages] == [5, 5, 5, 2]
    assert backwards == pages


def test_pager_links_keep_the_filters_and_show_ranges(publisher, owner_client, monkeypatch):
    # Given 7 new leads and pages of 5
    monkeypatch.setattr("leads.views.leads.PAGE_SIZE", 5)
    for n in range(7):
        created(make_lead(publisher=publisher, email=f"r{n}@x.example"), T0 + timedelta(hours=n))

    # When the first page is filtered on status and sorted on score
    response = owner_client.get(LEADS, {"status": "new", "sort": "-score"})
    html = response.content.decode()

    # Then "Next" and the export link keep the filter and sort, and the range is 1–5
    next_href = re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert "status=new" in next_href
    assert "sort=-score" in next_href
    assert "start=6" in next_href
    export = re.search(r'href="(/leads/export\.csv[^"]*)"', html).group(1).replace("&amp;", "&")
    assert export == "/leads/export.csv?status=new&sort=-score&origin=marketplace"
    assert "Leads 1–5" in html
    assert "Leads 6–7" in owner_client.get(next_href).content.decode()


def test_htmx_request_gets_only_the_results_fragment(publisher, owner_client):
    # Given a lead
    make_lead(publisher=publisher, email="frag@x.example")

    # When the filter form asks through htmx
    response = owner_client.get(LEADS, {"q": "ada"}, HTTP_HX_REQUEST="true")

    # Then only the results partial comes back, and caches know it varies on the header
    html = response.content.decode()
    assert html.startswith('<div id="lead-results"')
    assert "<html" not in html
    assert "frag@x.example" in html
    assert "HX-Request" in response["Vary"]


# --- Bulk status changes ---------------------------------------------------------------------


def test_bulk_move_moves_legal_leads_and_reports_refused_ones(publisher, owner, owner_client):
    # Given two new leads and a won one
    first = make_lead(publisher=publisher, email="n1@x.example", first_name="Nia", last_name="One")
    second = make_lead(publisher=publisher, email="n2@x.example")
    won = make_lead(publisher=publisher, email="w@x.example", first_name="Wyn", last_name="Won")
    Lead.objects.filter(pk=won.pk).update(status="won")

    # When all three are moved to qualified
    response = owner_client.post(
        LEADS + "?status=",
        {
            "lead": [first.uuid, second.uuid, won.uuid],
            "to_status": "qualified",
            "reason": "Demo booked",
        },
        follow=True,
    )

    # Then the two new leads move, with reason and author, and the won one is reported
    statuses = dict(Lead.objects.values_list("email", "status"))
    assert statuses == {
        "n1@x.example": "qualified",
        "n2@x.example": "qualified",
        "w@x.example": "won",
    }
    moves = LeadTransition.objects.filter(lead__in=[first, second])
    assert sorted(moves.values_list("reason", "changed_by", "to_status")) == [
        ("Demo booked", owner.pk, "qualified"),
        ("Demo booked", owner.pk, "qualified"),
    ]
    assert messages_of(response) == [
        "Wyn Won: A won lead cannot become qualified.",
        "2 leads moved to Qualified.",
    ]
    assert response.redirect_chain == [(LEADS + "?status=", 302)]


def test_bulk_move_requires_a_reason(publisher, owner_client):
    # Given a new lead
    lead = make_lead(publisher=publisher, email="n@x.example")

    # When it is moved without a reason
    response = owner_client.post(
        LEADS, {"lead": [lead.uuid], "to_status": "qualified", "reason": "   "}
    )

    # Then nothing moves, the error shows next to the reason and the lead stays ticked
    assert response.status_code == 200
    assert response.context["bulk_form"].errors == {"reason": ["This field is required."]}
    assert f'value="{lead.uuid}" id="select-{lead.uuid}" data-lead-checkbox checked' in (
        response.content.decode()
    )
    lead.refresh_from_db()
    assert lead.status == "new"
    assert LeadTransition.objects.count() == 0


def test_bulk_move_ignores_another_publishers_leads(publisher, other_publisher, owner_client):
    # Given a lead of another publisher
    foreign = make_lead(publisher=other_publisher, email="f@x.example")

    # When the owner posts its id in a bulk move
    response = owner_client.post(
        LEADS, {"lead": [foreign.uuid], "to_status": "qualified", "reason": "mine now"}, follow=True
    )

    # Then it does not move, and the owner is told the lead was not found
    foreign.refresh_from_db()
    assert foreign.status == "new"
    assert LeadTransition.objects.count() == 0
    assert messages_of(response) == ["1 selected lead was not found."]


# --- Tenancy ---------------------------------------------------------------------------------


def test_another_publishers_member_gets_404_on_the_detail(publisher, stranger_client):
    # Given a lead of `publisher`
    lead = make_lead(publisher=publisher)

    # When a member of another publisher opens it or tries to move it
    url = reverse("lead-detail", args=[lead.uuid])
    responses = [
        stranger_client.get(url),
        stranger_client.post(url, {"to_status": "qualified", "reason": "x"}),
    ]

    # Then both are 404 and nothing moved
    assert [r.status_code for r in responses] == [404, 404]
    lead.refresh_from_db()
    assert lead.status == "new"


def test_another_publishers_member_sees_none_of_the_leads(publisher, stranger_client):
    # Given leads of `publisher`
    make_lead(publisher=publisher, email="a@x.example")

    # When a member of another publisher lists and searches
    # Then none shows
    assert shown(stranger_client.get(LEADS)) == []
    assert shown(stranger_client.get(LEADS, {"q": "a@x.example"})) == []


@pytest.mark.parametrize(
    "url",
    [
        LEADS,
        REFERRALS,
        reverse("leads-export"),
        reverse("leads-import"),
        reverse("lead-detail", args=["6f1d8a52-3f39-4a8e-9b51-4bdb0a1c2f11"]),
    ],
)
def test_anonymous_users_are_sent_to_login(db, url):
    # When an anonymous user opens a lead page
    response = Client().get(url)

    # Then they are redirected to the login page
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


# --- Query counts ----------------------------------------------------------------------------


def _seed(publisher, count: int) -> Lead:
    listing = make_listing(publisher=publisher)
    campaign = make_campaign(publisher=publisher, listings=[listing])
    lead = None
    for _ in range(count):
        lead = make_lead(publisher=publisher, latest_campaign=campaign, first_campaign=campaign)
        make_activity(lead=lead, listing=listing, campaign=campaign)
    for n in range(count):
        make_activity(lead=lead, listing=listing, campaign=campaign, action_code=f"A{n}")
        make_delivery(lead=lead, target=make_target(publisher=publisher), status="failed")
        LeadTransition.objects.create(lead=lead, from_status="new", to_status="new", reason="x")
    return lead


def _queries(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params or {}).status_code == 200
    return len(queries)


@pytest.mark.parametrize("filtered", [False, True])
def test_list_and_detail_query_counts_do_not_grow_with_the_data(
    publisher, owner_client, other_publisher, client_of, django_assert_max_num_queries, filtered
):
    # Given 5 leads for one publisher and 60 for another, each with as many rows around them
    few = _seed(publisher, 5)
    many = _seed(other_publisher, 60)
    many_client = client_of(make_membership(publisher=other_publisher).user)

    def params(lead):
        listing = lead.activities.first().listing_id
        return {"status": "new", "listing": listing, "q": "ada"} if filtered else {}

    # When both open the list and a lead's detail
    counts = {}
    for name, client, lead in [("few", owner_client, few), ("many", many_client, many)]:
        counts[name] = (
            _queries(client, LEADS, params(lead)),
            _queries(client, reverse("lead-detail", args=[lead.uuid])),
        )

    # Then the counts are the same for 5 and for 60 leads, and small
    assert counts["few"] == counts["many"]
    # 15: the list's total (a COUNT over a LIMIT), the user's saved views, a search reads
    # the publisher's listing names once (a term may name a listing) and asks the planner
    # its estimate before counting (a common word is not counted), and the owner filter
    # and the bulk assign read the publisher's members once.
    with django_assert_max_num_queries(15 if filtered else 14):
        many_client.get(LEADS, params(many))
    # 13: the Consent section reads the lead's evidence rows and their count in one query,
    # and why nurture refuses the lead asks the suppression list once; working the lead
    # reads its notes, its merges and the publisher's members (the owner picker).
    with django_assert_max_num_queries(13):
        many_client.get(reverse("lead-detail", args=[many.uuid]))
