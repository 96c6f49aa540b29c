"""GET /api/v1/publisher/leads/{id}, tenancy, tokens and query counts of the publisher API
(DESIGN §5).
"""

import uuid
from datetime import timedelta

import pytest
from django.test import Client

from crm.models import Delivery
from leads.catalog.storefronts import Storefront
from leads.intake import api_keys
from leads.models import Lead
from tests.factories import (
    make_activity,
    make_campaign,
    make_delivery,
    make_lead,
    make_listing,
    make_target,
)
from tests.leads.publisher_api_support import LIST, T0, PublisherApi, created, uuids

UNAUTHORIZED = {"detail": "Missing or invalid API key (Authorization: Bearer …)."}


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
