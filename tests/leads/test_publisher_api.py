"""GET /api/v1/publisher/leads and /leads/{id}: the publisher API (DESIGN §5)."""

import base64
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from crm.models import Delivery
from leads.catalog.storefronts import Storefront
from leads.intake import api_keys, api_publisher
from leads.lifecycle import selectors as lead_selectors
from leads.lifecycle.selectors import LeadFilters, LeadPosition
from leads.models import Lead, PublisherApiToken
from tests.factories import (
    make_activity,
    make_campaign,
    make_delivery,
    make_lead,
    make_listing,
    make_target,
)

LIST = "/api/v1/publisher/leads"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UNAUTHORIZED = {"detail": "Missing or invalid API key (Authorization: Bearer …)."}


class PublisherApi:
    """A publisher with a live API token, and a client that sends it."""

    def __init__(self, publisher):
        self.publisher = publisher
        self.api_token, self.token = api_keys.publisher_token_create(publisher=publisher, name="ci")
        self.client = Client()

    def get(self, path, token=None, **params):
        return self.client.get(path, params, HTTP_AUTHORIZATION=f"Bearer {token or self.token}")

    def ids(self, **params) -> list[str]:
        response = self.get(LIST, **params)
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["items"]]


@pytest.fixture
def api(publisher):
    return PublisherApi(publisher)


def created(lead: Lead, at: datetime, **fields) -> Lead:
    """Set the lead's created_at (auto_now_add fixes it at insert), and other fields."""
    Lead.objects.filter(pk=lead.pk).update(created_at=at, **fields)
    lead.refresh_from_db()
    return lead


def uuids(*leads: Lead) -> list[str]:
    return [str(lead.uuid) for lead in leads]


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
    filters = LeadFilters(after=LeadPosition(created_at=T0, id=1_000))
    leads = lead_selectors.leads_for_publisher(publisher=publisher, filters=filters)[:51]

    with connection.cursor() as cursor:
        # On an empty test table a sequential scan is cheapest; forbid it to see the index path.
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = leads.explain()

    assert "lead_pub_created" in plan
    assert "Sort" not in plan
    assert "OFFSET" not in str(leads.query).upper()


# --- The detail ----------------------------------------------------------------------------


def test_the_detail_has_the_activities_and_deliveries(api):
    listing = make_listing(publisher=api.publisher, name="Contoso CRM", offer_id="contoso.crm")
    lead = created(
        make_lead(publisher=api.publisher, score=60, status="qualified", status_reason="score"),
        T0,
    )
    Lead.objects.filter(pk=lead.pk).update(score_breakdown=[{"rule": "Installs", "points": 60}])
    make_activity(
        lead=lead,
        listing=listing,
        action_code="PLT",
        lead_source="AppSource-PLT|Contoso CRM",
        description="Wants a demo",
        occurred_at=T0 + timedelta(hours=1),
        raw_payload={"UserDetails": {"Email": "secret@contoso.example"}},
    )
    make_activity(
        lead=lead,
        listing=listing,
        action_code="INS",
        lead_source="AppSource-INS|Contoso CRM",
        occurred_at=T0,
        is_test=True,
    )
    target = make_target(publisher=api.publisher, name="Our Salesforce")
    delivery = make_delivery(
        lead=lead,
        target=target,
        status=Delivery.Status.DELIVERED,
        attempts=2,
        last_status_code=201,
        last_error="503 on the first try",
        delivered_at=T0 + timedelta(minutes=3),
    )
    Delivery.objects.filter(pk=delivery.pk).update(created_at=T0 + timedelta(minutes=1))

    response = api.get(f"{LIST}/{lead.uuid}")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(lead.uuid)
    assert body["score_breakdown"] == [{"rule": "Installs", "points": 60}]
    assert body["status_reason"] == "score"
    listing_ref = {"id": listing.pk, "offer_id": "contoso.crm", "name": "Contoso CRM"}
    assert body["activities"] == [
        {
            "action_code": "PLT",
            "storefront": "appsource",
            "listing": listing_ref,
            "lead_source": "AppSource-PLT|Contoso CRM",
            "occurred_at": "2026-03-01T13:00:00Z",
            "is_test": False,
            "description": "Wants a demo",
        },
        {
            "action_code": "INS",
            "storefront": "appsource",
            "listing": listing_ref,
            "lead_source": "AppSource-INS|Contoso CRM",
            "occurred_at": "2026-03-01T12:00:00Z",
            "is_test": True,
            "description": "",
        },
    ]
    assert body["deliveries"] == [
        {
            "target": {"name": "Our Salesforce", "kind": "https", "is_field_seller": False},
            "event": "lead.qualified",
            "status": "delivered",
            "attempts": 2,
            "last_status_code": 201,
            "last_error": "503 on the first try",
            "delivered_at": "2026-03-01T12:03:00Z",
            "created_at": "2026-03-01T12:01:00Z",
        }
    ]
    assert "raw_payload" not in response.content.decode()
    assert "secret@contoso.example" not in response.content.decode()


def test_a_field_seller_delivery_shows_neither_the_target_name_nor_its_error(api):
    lead = make_lead(publisher=api.publisher)
    field_seller = make_target(publisher=None, name="MS internal endpoint")
    make_delivery(
        lead=lead,
        target=field_seller,
        status=Delivery.Status.PENDING,
        attempts=1,
        last_status_code=500,
        last_error="POST https://internal.example failed",
    )

    (delivery,) = api.get(f"{LIST}/{lead.uuid}").json()["deliveries"]

    assert delivery["target"] == {
        "name": "Microsoft field seller",
        "kind": "https",
        "is_field_seller": True,
    }
    assert (delivery["status"], delivery["last_status_code"], delivery["last_error"]) == (
        "pending",
        500,
        "",
    )


def test_a_test_lead_detail_is_flagged(api):
    lead = make_lead(publisher=api.publisher, is_test=True)

    assert api.get(f"{LIST}/{lead.uuid}").json()["is_test"] is True


@pytest.mark.parametrize("lead_id", [str(uuid.uuid4()), "42", "not-a-uuid"])
def test_an_unknown_lead_is_a_404(api, lead_id):
    make_lead(publisher=api.publisher)

    response = api.get(f"{LIST}/{lead_id}")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


# --- Tenancy -------------------------------------------------------------------------------


def test_another_publishers_lead_is_a_404(api, other_publisher):
    theirs = make_lead(publisher=other_publisher)
    make_activity(lead=theirs)

    response = api.get(f"{LIST}/{theirs.uuid}")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_the_list_never_holds_another_publishers_leads(api, other_publisher):
    theirs = make_lead(publisher=other_publisher, status="qualified", score=80)
    their_listing = make_listing(publisher=other_publisher)
    their_campaign = make_campaign(publisher=other_publisher)
    make_activity(lead=theirs, listing=their_listing, campaign=their_campaign)
    mine = make_lead(publisher=api.publisher, status="qualified", score=80)

    assert api.ids() == uuids(mine)
    assert api.ids(status="qualified", score_min=80) == uuids(mine)
    assert api.ids(listing=their_listing.pk) == []
    assert api.ids(campaign=their_campaign.pk) == []
    # Their token sees theirs alone.
    assert PublisherApi(other_publisher).ids() == uuids(theirs)


def test_a_cursor_from_another_publisher_shows_only_ones_own_leads(api, other_publisher):
    mine = created(make_lead(publisher=api.publisher), T0)
    for n in range(3):
        created(make_lead(publisher=other_publisher), T0 + timedelta(hours=n + 1))
    theirs = PublisherApi(other_publisher)
    their_cursor = theirs.get(LIST, limit=1).json()["next_cursor"]

    assert api.ids(cursor=their_cursor) == uuids(mine)


# --- Authentication ------------------------------------------------------------------------


def test_a_revoked_token_is_a_401(api):
    lead = make_lead(publisher=api.publisher)
    api_keys.publisher_token_revoke(api_token=api.api_token)

    for path in (LIST, f"{LIST}/{lead.uuid}"):
        response = api.get(path)
        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer lpt_not-a-real-token",
        "Bearer lpk_sf_something",
        "Basic dXNlcjpwYXNz",
    ],
)
def test_a_missing_or_invalid_token_is_a_401(api, authorization):
    lead = make_lead(publisher=api.publisher)
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}

    for path in (LIST, f"{LIST}/{lead.uuid}"):
        response = Client().get(path, **headers)
        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED


def test_a_storefront_key_does_not_open_the_publisher_api(api):
    _, storefront_key = api_keys.api_key_create(
        kind="storefront", name="azure", storefront=Storefront.AZURE_MARKETPLACE
    )

    response = api.get(LIST, token=storefront_key)

    assert response.status_code == 401


def test_using_a_token_records_its_last_use(api):
    api.get(LIST)

    api.api_token.refresh_from_db()
    assert api.api_token.last_used_at is not None


# --- Query counts --------------------------------------------------------------------------


def populate(publisher, count: int):
    campaign = make_campaign(publisher=publisher)
    listing = make_listing(publisher=publisher)
    for _ in range(count):
        lead = make_lead(publisher=publisher, first_campaign=campaign, latest_campaign=campaign)
        make_activity(lead=lead, listing=listing, campaign=campaign)
    return campaign


@pytest.mark.parametrize("count", [3, 30])
def test_the_list_costs_the_same_queries_for_3_or_30_leads(
    api, django_assert_max_num_queries, count
):
    campaign = populate(api.publisher, count)

    # The token's lookup and last-use write, then one query for the page.
    with django_assert_max_num_queries(3):
        response = api.get(LIST, limit=200, storefront="appsource", campaign=campaign.pk)
    assert len(response.json()["items"]) == count
    with django_assert_max_num_queries(3):
        response = api.get(LIST, limit=200)

    assert len(response.json()["items"]) == count


@pytest.mark.parametrize("count", [1, 10])
def test_the_detail_costs_the_same_queries_for_1_or_10_activities(
    api, django_assert_max_num_queries, count
):
    lead = make_lead(publisher=api.publisher)
    for _ in range(count):
        make_activity(lead=lead)
        make_delivery(lead=lead, event=Delivery.Event.UPDATED)

    # Token, last use, lead, activities with listings, deliveries with targets.
    with django_assert_max_num_queries(5):
        body = api.get(f"{LIST}/{lead.uuid}").json()

    assert (len(body["activities"]), len(body["deliveries"])) == (count, count)


# --- The create_publisher_token command ----------------------------------------------------


def run_command(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_publisher_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_the_command_prints_a_token_that_opens_the_api(db, publisher):
    lead = make_lead(publisher=publisher)

    token, note = run_command("--publisher", publisher.slug, "--name", "Zapier")

    api_token = PublisherApiToken.objects.get()
    assert (api_token.publisher, api_token.name, api_token.revoked_at) == (
        publisher,
        "Zapier",
        None,
    )
    assert token.startswith("lpt_") and "\n" not in token
    assert token.startswith(api_token.prefix)
    assert token not in note
    assert f"Created publisher API token {api_token.prefix}… (Zapier)" in note
    response = Client().get(LIST, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert [item["id"] for item in response.json()["items"]] == [str(lead.uuid)]


def test_the_command_revokes_a_token_by_its_prefix(db, publisher):
    token, _ = run_command("--publisher", publisher.slug, "--name", "Zapier")
    prefix = PublisherApiToken.objects.get().prefix

    out, note = run_command("--revoke", prefix)

    assert out == ""
    assert f"Revoked publisher API token {prefix}… (Zapier)" in note
    assert PublisherApiToken.objects.get().revoked_at is not None
    response = Client().get(LIST, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401


def test_an_ambiguous_prefix_needs_the_publisher(db, publisher, other_publisher):
    api_keys.publisher_token_create(publisher=publisher, name="a")
    theirs, _ = api_keys.publisher_token_create(publisher=other_publisher, name="b")
    PublisherApiToken.objects.update(prefix="lpt_same")

    with pytest.raises(CommandError, match="add --publisher SLUG"):
        run_command("--revoke", "lpt_same")
    assert not PublisherApiToken.objects.filter(revoked_at__isnull=False).exists()

    run_command("--revoke", "lpt_same", "--publisher", other_publisher.slug)

    revoked = PublisherApiToken.objects.filter(revoked_at__isnull=False)
    assert list(revoked) == [theirs]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--publisher", "nobody", "--name", "x"), "No publisher with the slug 'nobody'."),
        (("--name", "x"), "Give --publisher SLUG and --name NAME, or --revoke PREFIX."),
        (("--revoke", "lpt_none"), "No live publisher API token with the prefix 'lpt_none'."),
    ],
)
def test_the_command_refuses_bad_arguments(db, publisher, args, message):
    with pytest.raises(CommandError) as refused:
        run_command(*args)

    assert str(refused.value) == message
    assert not PublisherApiToken.objects.exists()
