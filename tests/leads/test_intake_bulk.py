"""POST /api/v1/leads/bulk: up to 1,000 leads, one result per item, in order."""

import json

from crm.models import Delivery
from leads.models import Lead, LeadActivity
from tests.factories import make_target
from tests.leads.conftest import lead_payload


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
