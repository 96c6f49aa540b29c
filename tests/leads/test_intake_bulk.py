"""POST /api/v1/leads/bulk: up to 1,000 leads, one result per item, in order."""

import json
import random

import pytest
from django.db import connection

from crm.models import Delivery
from leads.intake import api_keys
from leads.models import Lead, LeadActivity
from tests.factories import make_target
from tests.leads.conftest import lead_payload

pytestmark = pytest.mark.sqlite


def post_bulk(market, items):
    return market.post(items, path="/api/v1/leads/bulk")


def test_a_mix_of_good_and_bad_items_gets_one_result_each_in_order(market):
    bad_email = lead_payload()
    bad_email["UserDetails"]["Email"] = "nope"
    items = [
        lead_payload(email="a@contoso.example", LeadId="b-1"),
        bad_email,
        lead_payload(email="b@contoso.example", OfferId="contoso.unknown"),
        lead_payload(email="A@contoso.example", LeadId="b-2"),  # the same person again
        lead_payload(email="c@contoso.example", LeadId="b-1"),  # the same id again
    ]

    response = post_bulk(market, items)

    assert response.status_code == 200
    body = response.json()
    assert [r["status_code"] for r in body["results"]] == [201, 422, 422, 201, 200]
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3, 4]
    assert (body["created"], body["replayed"], body["failed"]) == (2, 1, 2)
    results = body["results"]
    assert results[1]["errors"] == [
        {
            "loc": ["body", 1, "UserDetails", "Email"],
            "msg": "Enter a valid email address.",
            "type": "email",
        }
    ]
    assert results[2]["errors"][0]["loc"] == ["body", 2, "OfferId"]
    assert results[2]["errors"][0]["type"] == "unknown_offer"
    assert results[3]["result"]["consolidated"] is True
    assert results[3]["result"]["id"] == results[0]["result"]["id"]
    assert results[4]["result"] == results[0]["result"]
    assert Lead.objects.count() == 1
    assert LeadActivity.objects.count() == 2


def test_a_bulk_replay_answers_each_item_with_its_first_answer(market):
    items = [lead_payload(email=f"p{n}@contoso.example", LeadId=f"r-{n}") for n in range(5)]
    first = post_bulk(market, items).json()

    again = post_bulk(market, items).json()

    assert [r["status_code"] for r in again["results"]] == [200] * 5
    assert [r["result"] for r in again["results"]] == [r["result"] for r in first["results"]]
    assert LeadActivity.objects.count() == 5


def test_bulk_and_single_posts_agree(market):
    make_target(publisher=market.publisher)
    items = [
        lead_payload(email=f"p{n % 3}@contoso.example", ActionCode=c)
        for n, c in enumerate(["INS", "DNC", "PLT", "Create"])
    ]

    bulk = post_bulk(market, items).json()

    answers = [r["result"] for r in bulk["results"]]
    assert [a["consolidated"] for a in answers] == [False, False, False, True]
    assert Lead.objects.count() == 3
    assert (
        Delivery.objects.filter(event="lead.qualified").count()
        == Lead.objects.filter(status="qualified").count()
    )


def test_1000_items_are_accepted_and_1001_refused(market, django_assert_max_num_queries):
    items = [lead_payload(email=f"p{n}@contoso.example", LeadId=f"k-{n}") for n in range(1001)]

    too_many = post_bulk(market, items)
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["type"] == "too_long"
    assert not Lead.objects.exists()

    # A full batch costs a fixed number of queries, not one round trip per lead.
    with django_assert_max_num_queries(25):
        response = post_bulk(market, items[:1000])
    assert response.json()["created"] == 1000
    assert Lead.objects.count() == 1000


def test_an_empty_or_non_list_body_is_refused(market):
    assert post_bulk(market, []).status_code == 422
    assert post_bulk(market, {"UserDetails": {}}).status_code == 422
    assert post_bulk(market, json.dumps("x")).status_code == 422


# --- One bad item never sinks the others --------------------------------------------------

POISONS = {
    "nul": ('"Note": "\\u0000"', ["Note"], "null_character"),
    "surrogate": ('"Note": "\\ud800"', ["Note"], "unpaired_surrogate"),
    "surrogate_key": ('"Note\\udfff": 1', ["Note\\udfff"], "unpaired_surrogate"),
    "offset": (
        '"CreatedTime": "2026-01-01T00:00:00+16:00"',
        ["CreatedTime"],
        "datetime_offset_range",
    ),
    "deep": ('"Note": ' + "[" * 40 + "]" * 40, ["Note", *[0] * 31], "json_too_deep"),
    "bell": ('"Description": "\\u0007"', ["Description"], "control_character"),
}


def batch_body(items: list[dict], poisoned: int, poison: str) -> bytes:
    """The batch as JSON text, with raw text spliced into one item (so \\ud800 survives)."""
    parts = [json.dumps(item) for item in items]
    parts[poisoned] = parts[poisoned][:-1] + ", " + poison + "}"
    return ("[" + ",".join(parts) + "]").encode()


@pytest.mark.parametrize("kind", sorted(POISONS))
def test_a_poisoned_item_among_1000_is_refused_alone_and_a_retry_changes_nothing(market, kind):
    # Given a batch of 1,000 leads, one of them poisoned at a random place
    poison, path, error_type = POISONS[kind]
    poisoned = random.randrange(1000)
    items = [lead_payload(email=f"p{n}@contoso.example", LeadId=f"k-{n}") for n in range(1000)]
    body = batch_body(items, poisoned, poison)

    # When it is posted
    first = post_bulk(market, body)

    # Then 999 are stored, and the poisoned one is refused with its path
    assert first.status_code == 200, f"poisoned at {poisoned}"
    answer = first.json()
    assert (answer["created"], answer["replayed"], answer["failed"]) == (999, 0, 1)
    (error,) = answer["results"][poisoned]["errors"]
    assert (error["loc"], error["type"]) == (["body", poisoned, *path], error_type)
    assert Lead.objects.count() == LeadActivity.objects.count() == 999
    assert not Lead.objects.filter(email_normalized=f"p{poisoned}@contoso.example").exists()

    # When the same batch is posted again, then every good item is a replay of its answer
    again = post_bulk(market, body).json()
    assert (again["created"], again["replayed"], again["failed"]) == (0, 999, 1)
    assert [r["result"] for r in again["results"]] == [r["result"] for r in answer["results"]]
    assert again["results"][poisoned]["errors"] == answer["results"][poisoned]["errors"]
    assert Lead.objects.count() == LeadActivity.objects.count() == 999


@pytest.fixture
def poison_trigger(db):
    """A real database refusal: activities described 'poison' raise data_exception."""
    table = LeadActivity._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION refuse_poison() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'poisoned activity' USING ERRCODE = '22023';
            END $$ LANGUAGE plpgsql
            """
        )
        cursor.execute(
            f"CREATE TRIGGER refuse_poison BEFORE INSERT ON {table} FOR EACH ROW "
            "WHEN (NEW.description = 'poison') EXECUTE FUNCTION refuse_poison()"
        )
    # The test's transaction rolls both back.


@pytest.mark.no_sqlite
def test_an_item_the_database_refuses_fails_alone(market, poison_trigger):
    # Given a batch whose item 6 passes validation but the database refuses
    items = [lead_payload(email=f"p{n}@contoso.example", LeadId=f"d-{n}") for n in range(10)]
    items[6]["Description"] = "poison"

    # When it is posted
    answer = post_bulk(market, items).json()

    # Then the other nine are stored, and item 6 says the database refused it
    codes = [r["status_code"] for r in answer["results"]]
    assert codes == [201] * 6 + [422] + [201] * 3
    assert answer["results"][6]["errors"] == [
        {
            "loc": ["body", 6],
            "msg": "The database refused this lead; it was not stored.",
            "type": "unstorable",
        }
    ]
    assert Lead.objects.count() == LeadActivity.objects.count() == 9
    assert not Lead.objects.filter(email_normalized="p6@contoso.example").exists()

    # And a retry answers each good item with its first answer and stores nothing more
    again = post_bulk(market, items).json()
    assert [r["status_code"] for r in again["results"]] == [200] * 6 + [422] + [200] * 3
    assert [r["result"] for r in again["results"]] == [r["result"] for r in answer["results"]]
    assert Lead.objects.count() == LeadActivity.objects.count() == 9


@pytest.mark.no_sqlite
def test_a_single_lead_the_database_refuses_is_a_422(market, poison_trigger):
    response = market.post(lead_payload(Description="poison"))

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "unstorable"
    assert not Lead.objects.exists()


@pytest.mark.no_sqlite
def test_a_referral_the_database_refuses_is_a_422(market, poison_trigger):
    market.publisher.co_sell_enrolled = True
    market.publisher.save()
    _, seller_key = api_keys.api_key_create(kind="microsoft-seller", name="sellers")
    referral = lead_payload(ReferralId="r-1", OfferId="contoso.analytics", Description="poison")

    response = market.post(referral, key=seller_key, path="/api/v1/referrals")

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "unstorable"
    assert not Lead.objects.exists()
