"""GET /api/v1/publisher/leads: the list, its filters and its cursor (DESIGN §5)."""

import base64
from datetime import timedelta

import pytest
from django.db import connection

from leads.catalog.storefronts import Storefront
from leads.intake import api_publisher
from leads.lifecycle import selectors as lead_selectors
from leads.lifecycle.selectors import LeadFilters, LeadPosition
from leads.models import Lead
from tests.factories import make_activity, make_campaign, make_lead, make_listing, make_publisher
from tests.leads.publisher_api_support import LIST, T0, created, uuids

# --- The list ------------------------------------------------------------------------------


def test_the_list_is_newest_first_with_each_leads_fields(api):
    campaign = make_campaign(publisher=api.publisher, code="spring", name="Spring")
    oldest = created(make_lead(publisher=api.publisher), T0)
    newest = created(make_lead(publisher=api.publisher), T0 + timedelta(hours=2))
    middle = created(
        make_lead(
            publisher=api.publisher,
            email="grace@navy.example",
            first_name="Grace",
            last_name="Hopper",
            phone="+1 555 0100",
            country="US",
            company="US Navy",
            title="Rear Admiral",
            score=72,
            status="qualified",
            marketing_consent=True,
            first_campaign=campaign,
            latest_campaign=campaign,
            qualified_at=T0,
        ),
        T0 + timedelta(hours=1),
        last_activity_at=T0,
        updated_at=T0 + timedelta(hours=5),
    )

    response = api.get(LIST)

    assert response.status_code == 200
    body = response.json()
    assert [item["id"] for item in body["items"]] == uuids(newest, middle, oldest)
    assert body["next_cursor"] is None
    assert body["items"][1] == {
        "id": str(middle.uuid),
        "status": "qualified",
        "score": 72,
        "origin": "marketplace",
        "is_test": False,
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": "grace@navy.example",
        "phone": "+1 555 0100",
        "country": "US",
        "company": "US Navy",
        "title": "Rear Admiral",
        "marketing_consent": True,
        "first_campaign": {"id": campaign.pk, "code": "spring", "name": "Spring"},
        "latest_campaign": {"id": campaign.pk, "code": "spring", "name": "Spring"},
        "qualified_at": "2026-03-01T12:00:00Z",
        "last_activity_at": "2026-03-01T12:00:00Z",
        "created_at": "2026-03-01T13:00:00Z",
        "updated_at": "2026-03-01T17:00:00Z",
    }


def test_test_leads_are_listed_and_flagged(api):
    real = created(make_lead(publisher=api.publisher), T0)
    test = created(make_lead(publisher=api.publisher, is_test=True), T0 + timedelta(hours=1))

    items = api.get(LIST).json()["items"]

    assert [(item["id"], item["is_test"]) for item in items] == [
        (str(test.uuid), True),
        (str(real.uuid), False),
    ]


class Catalogue:
    """Leads that differ in one property each, to test the filters one by one."""

    def __init__(self, publisher):
        self.appsource = make_listing(publisher=publisher, storefront=Storefront.APPSOURCE)
        self.azure = make_listing(
            publisher=publisher, storefront=Storefront.AZURE_MARKETPLACE, listing_type="offer"
        )
        self.campaign = make_campaign(
            publisher=publisher, storefront=Storefront.AZURE_MARKETPLACE, listings=[self.azure]
        )

        def lead(hours, **fields):
            return created(make_lead(publisher=publisher, **fields), T0 + timedelta(hours=hours))

        self.new_low = lead(0, status="new", score=10)
        self.qualified_mid = lead(1, status="qualified", score=55)
        self.accepted_high = lead(2, status="accepted", score=90)
        self.co_sell = lead(3, origin="co-sell", score=0)
        make_activity(lead=self.new_low, listing=self.appsource)
        make_activity(lead=self.qualified_mid, listing=self.azure, campaign=self.campaign)
        make_activity(lead=self.accepted_high, listing=self.azure)
        make_activity(lead=self.accepted_high, listing=self.appsource)


@pytest.fixture
def catalogue(api):
    return Catalogue(api.publisher)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["co_sell", "accepted_high", "qualified_mid", "new_low"]),
        ({"status": "qualified"}, ["qualified_mid"]),
        ({"status": "new"}, ["co_sell", "new_low"]),
        ({"origin": "co-sell"}, ["co_sell"]),
        ({"origin": "marketplace"}, ["accepted_high", "qualified_mid", "new_low"]),
        ({"storefront": "appsource"}, ["accepted_high", "new_low"]),
        ({"storefront": "azure-marketplace"}, ["accepted_high", "qualified_mid"]),
        ({"score_min": 55}, ["accepted_high", "qualified_mid"]),
        ({"score_max": 55}, ["co_sell", "qualified_mid", "new_low"]),
        ({"score_min": 11, "score_max": 89}, ["qualified_mid"]),
        ({"score_min": 90, "score_max": 90}, ["accepted_high"]),
        ({"since": "2026-03-01T14:00:00Z"}, ["co_sell", "accepted_high"]),  # at or after
        ({"since": "2026-03-01T15:00:00+01:00"}, ["co_sell", "accepted_high"]),
        ({"since": "2026-03-01T14:00:00"}, ["co_sell", "accepted_high"]),  # naive is UTC
        ({"since": "2026-03-01T15:00:00.000001Z"}, []),
        ({"status": "accepted", "storefront": "appsource", "score_min": 50}, ["accepted_high"]),
    ],
)
def test_each_filter_narrows_the_list(api, catalogue, params, expected):
    assert api.ids(**params) == uuids(*(getattr(catalogue, name) for name in expected))


def test_the_listing_filter_takes_a_listing_id(api, catalogue):
    assert api.ids(listing=catalogue.appsource.pk) == uuids(
        catalogue.accepted_high, catalogue.new_low
    )
    assert api.ids(listing=catalogue.azure.pk) == uuids(
        catalogue.accepted_high, catalogue.qualified_mid
    )


def test_the_campaign_filter_takes_a_campaign_id(api, catalogue):
    assert api.ids(campaign=catalogue.campaign.pk) == uuids(catalogue.qualified_mid)


def test_listing_storefront_and_campaign_must_hold_on_one_activity(api, catalogue):
    # accepted_high has an Azure activity and an AppSource one, but the campaign's is Azure.
    assert api.ids(campaign=catalogue.campaign.pk, storefront="appsource") == []
    assert api.ids(listing=catalogue.azure.pk, storefront="appsource") == []


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"status": "open"}, ["query", "status"]),
        ({"origin": "web"}, ["query", "origin"]),
        ({"storefront": "steam"}, ["query", "storefront"]),
        ({"listing": "contoso.crm"}, ["query", "listing"]),
        ({"campaign": "spring"}, ["query", "campaign"]),
        ({"score_min": "-1"}, ["query", "score_min"]),
        ({"score_max": "101"}, ["query", "score_max"]),
        ({"score_min": "high"}, ["query", "score_min"]),
        ({"score_min": "60", "score_max": "40"}, ["query", "score_max"]),
        ({"since": "last tuesday"}, ["query", "since"]),
        ({"limit": "0"}, ["query", "limit"]),
        ({"limit": "201"}, ["query", "limit"]),
    ],
)
def test_an_invalid_filter_is_a_422_naming_it(api, catalogue, params, loc):
    response = api.get(LIST, **params)

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == loc
    assert set(error) == {"loc", "msg", "type"}


# --- Cursor pagination ---------------------------------------------------------------------


def walk(api, **params) -> list[list[str]]:
    """Every page's lead ids, following next_cursor to the end."""
    pages, cursor = [], None
    while True:
        response = api.get(LIST, **params, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 20, "the cursor does not advance"


@pytest.mark.parametrize(
    "minutes",
    [
        [0, 5, 5, 5, 5, 9, 12],  # four leads share an instant that a page boundary splits
        [0, 3, 3, 7, 7, 9, 9],
        [5, 5, 5, 5, 5, 5, 5],
    ],
)
def test_the_cursor_walks_every_lead_once_even_across_equal_timestamps(api, minutes):
    leads = [make_lead(publisher=api.publisher) for _ in range(7)]
    # The id breaks the ties of equal created_at.
    for lead, offset in zip(leads, minutes, strict=True):
        created(lead, T0 + timedelta(minutes=offset))
    newest_first = sorted(leads, key=lambda lead: (lead.created_at, lead.pk), reverse=True)

    pages = walk(api, limit=3)

    assert pages == [
        uuids(*newest_first[0:3]),
        uuids(*newest_first[3:6]),
        uuids(*newest_first[6:7]),
    ]


def test_a_page_that_ends_the_list_has_no_cursor(api):
    for _ in range(3):
        make_lead(publisher=api.publisher)

    body = api.get(LIST, limit=3).json()

    assert len(body["items"]) == 3
    assert body["next_cursor"] is None


def test_the_cursor_keeps_the_filters(api):
    leads = [
        created(make_lead(publisher=api.publisher, status=status), T0 + timedelta(minutes=n))
        for n, status in enumerate(["new", "qualified", "new", "qualified", "new", "qualified"])
    ]
    qualified = [lead for lead in reversed(leads) if lead.status == "qualified"]

    pages = walk(api, limit=2, status="qualified")

    assert pages == [uuids(*qualified[0:2]), uuids(*qualified[2:3])]


def test_the_default_page_is_50(api):
    Lead.objects.bulk_create(
        Lead(publisher=api.publisher, email=f"p{n}@x.example", email_normalized=f"p{n}@x.example")
        for n in range(51)
    )

    body = api.get(LIST).json()

    assert len(body["items"]) == 50
    assert body["next_cursor"] is not None


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!",
        b64(b"hello"),
        b64(b'{"created_at": "2026-03-01T12:00:00Z", "id": 3}'),
        b64(b'["2026-03-01T12:00:00Z"]'),
        b64(b'["2026-03-01T12:00:00", 3]'),  # no offset
        b64(b'["yesterday", 3]'),
        b64(b'["2026-03-01T12:00:00Z", "3"]'),
        b64(b'["2026-03-01T12:00:00Z", 0]'),
        b64(b'["2026-03-01T12:00:00Z", 99999999999999999999]'),  # beyond bigint
        b64(b'["0001-01-01T00:00:00+14:00", 3]'),  # before datetime.min in UTC
        b64(b"[true, 3]"),
        b64(b"\xff\xfe"),
    ],
)
def test_an_invalid_cursor_is_a_422(api, cursor):
    make_lead(publisher=api.publisher)

    response = api.get(LIST, cursor=cursor)

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "loc": ["query", "cursor"],
                "msg": "Invalid cursor: pass next_cursor from a previous page.",
                "type": "cursor_invalid",
            }
        ]
    }


def test_a_cursor_round_trips_its_position(db, publisher):
    lead = created(make_lead(publisher=publisher), T0 + timedelta(microseconds=123456))

    position = api_publisher.cursor_decode(api_publisher.cursor_encode(lead))

    assert position == LeadPosition(created_at=lead.created_at, id=lead.pk)


def test_the_page_query_walks_the_publisher_index_without_sorting(db, publisher):
    # Given leads of another publisher too, and statistics that know it (on an empty table
    # the planner rates `lead_created` and `lead_pub_created` alike)
    other = make_publisher()
    Lead.objects.bulk_create(
        Lead(publisher=owner, email=f"o{n}@x.example", email_normalized=f"o{n}@x.example")
        for n in range(3000)
        for owner in [publisher if n % 10 == 0 else other]
    )
    Lead.objects.update(created_at=T0 - timedelta(days=1))
    filters = LeadFilters(after=LeadPosition(created_at=T0, id=1_000))
    leads = lead_selectors.leads_for_publisher(publisher=publisher, filters=filters)[:51]

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")
        # On a small test table a sequential or bitmap scan (then a sort) is cheapest, as the
        # statistics of earlier tests go; forbid both to see the ordered index path.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        plan = leads.explain()

    assert "lead_pub_created" in plan, plan
    assert "Sort" not in plan
    assert "OFFSET" not in str(leads.query).upper()
