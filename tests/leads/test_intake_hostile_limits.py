"""Hostile input at intake: times PostgreSQL cannot hold, deep nesting,
oversized items, RFC 5321 limits, and the admin and publisher API facing what was stored.
"""

import json
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from leads.admin.leads import RAW_PAYLOAD_DISPLAY_LIMIT
from leads.intake import api_keys
from leads.models import Lead, LeadActivity
from tests.factories import make_activity, make_lead
from tests.leads.conftest import lead_payload
from tests.leads.hostile_input import assert_nothing_stored, raw_body

BULK = "/api/v1/leads/bulk"


def nested(depth: int) -> str:
    """JSON text of `depth` nested arrays around 1."""
    return "[" * depth + "1" + "]" * depth


# --- Datetimes ----------------------------------------------------------------------------


def test_created_time_is_stored_in_utc(market):
    response = market.post(lead_payload(CreatedTime="2026-01-01T10:00:00+05:30"))

    assert response.status_code == 201
    occurred_at = LeadActivity.objects.get().occurred_at
    assert occurred_at == datetime(2026, 1, 1, 4, 30, tzinfo=UTC)


@pytest.mark.parametrize("offset", ["+15:59", "-15:59"])
def test_the_widest_offsets_postgresql_holds_are_accepted(market, offset):
    response = market.post(lead_payload(CreatedTime=f"2026-01-01T00:00:00{offset}"))

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("created_time", "kind", "msg"),
    [
        (
            "2026-01-01T00:00:00+16:00",
            "datetime_offset_range",
            "The UTC offset +16:00 is out of range: it must be between -15:59 and +15:59.",
        ),
        (
            "2026-01-01T00:00:00-23:59",
            "datetime_offset_range",
            "The UTC offset -23:59 is out of range: it must be between -15:59 and +15:59.",
        ),
        (
            "0001-01-01T00:00:00+01:00",
            "datetime_range",
            "The date is out of range once converted to UTC (years 1 to 9999).",
        ),
        (
            "9999-12-31T23:00:00-05:00",
            "datetime_range",
            "The date is out of range once converted to UTC (years 1 to 9999).",
        ),
    ],
)
def test_a_created_time_postgresql_cannot_hold_is_a_422(market, created_time, kind, msg):
    response = market.post(lead_payload(CreatedTime=created_time))

    assert response.status_code == 422
    assert response.json()["detail"] == [{"loc": ["body", "CreatedTime"], "msg": msg, "type": kind}]
    assert_nothing_stored()


def test_a_year_past_9999_is_a_422(market):
    response = market.post(lead_payload(CreatedTime="10000-01-01T00:00:00Z"))

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "CreatedTime"]
    assert_nothing_stored()


@pytest.mark.parametrize(
    ("since", "detail"),
    [
        (
            "2026-01-01T00:00:00+16:00",
            "Query parameter since: The UTC offset +16:00 is out of range: it must be "
            "between -15:59 and +15:59.",
        ),
        (
            "0001-01-01T00:00:00+01:00",
            "Query parameter since: The date is out of range once converted to UTC "
            "(years 1 to 9999).",
        ),
    ],
)
def test_the_publisher_apis_since_out_of_range_is_a_400(market, client, since, detail):
    _, token = api_keys.publisher_token_create(publisher=market.publisher, name="ci")

    response = client.get(
        "/api/v1/publisher/leads", {"since": since}, HTTP_AUTHORIZATION=f"Bearer {token}"
    )

    assert response.status_code == 400
    assert response.json() == {"detail": detail}


def test_the_publisher_apis_since_is_compared_in_utc(market, client):
    _, token = api_keys.publisher_token_create(publisher=market.publisher, name="ci")
    lead = make_lead(publisher=market.publisher)
    Lead.objects.filter(pk=lead.pk).update(created_at=datetime(2026, 1, 1, 12, 0, tzinfo=UTC))

    def ids(since):
        response = client.get(
            "/api/v1/publisher/leads", {"since": since}, HTTP_AUTHORIZATION=f"Bearer {token}"
        )
        assert response.status_code == 200
        return [item["id"] for item in response.json()["items"]]

    # 12:00 UTC is 21:00 at +09:00 and 02:00 at -10:00.
    assert ids("2026-01-01T21:00:00+09:00") == [str(lead.uuid)]
    assert ids("2026-01-01T21:00:01+09:00") == []
    assert ids("2026-01-01T02:00:01-10:00") == []


# --- Depth and size -----------------------------------------------------------------------


def test_a_lead_nested_32_levels_deep_is_accepted(market):
    # The lead is level 1 and "Extra" level 2: 30 arrays more make 32.
    response = market.post(raw_body(f'"Extra": {nested(31)}'))

    assert response.status_code == 201


@pytest.mark.parametrize("depth", [32, 9900])
def test_a_lead_nested_deeper_is_a_422_naming_where(market, depth):
    response = market.post(raw_body(f'"Extra": {nested(depth)}'))

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["body", "Extra", *[0] * 31],
            "msg": "The JSON is nested too deeply: at most 32 levels.",
            "type": "json_too_deep",
        }
    ]
    assert_nothing_stored()


def test_a_body_too_deep_for_the_parser_is_a_400(market):
    response = market.post(raw_body(f'"Extra": {nested(30000)}'))

    assert response.status_code == 400
    assert response.json() == {
        "detail": "The JSON body is nested too deeply: a lead may be nested at most 32 levels."
    }
    assert_nothing_stored()


def test_a_bulk_item_too_deep_is_refused_alone(market):
    deep = json.dumps(lead_payload(email="deep@contoso.example"))[:-1]
    body = (
        "["
        + json.dumps(lead_payload(email="a@contoso.example"))
        + ","
        + deep
        + f', "Extra": {nested(40)}}}'
        + "]"
    )

    response = market.post(body, path=BULK)

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status_code"] for r in results] == [201, 422]
    assert results[1]["errors"][0]["loc"] == ["body", 1, "Extra", *[0] * 31]
    assert results[1]["errors"][0]["type"] == "json_too_deep"
    assert list(Lead.objects.values_list("email", flat=True)) == ["a@contoso.example"]


def test_a_bulk_item_over_64_kib_is_refused_alone(market):
    big = lead_payload(email="big@contoso.example", Notes="x" * (64 * 1024))
    items = [lead_payload(email="a@contoso.example"), big]

    response = market.post(items, path=BULK)

    results = response.json()["results"]
    assert [r["status_code"] for r in results] == [201, 422]
    assert results[1]["errors"] == [
        {
            "loc": ["body", 1],
            "msg": "The lead's JSON is larger than 64 KiB.",
            "type": "json_too_large",
        }
    ]
    assert Lead.objects.count() == 1


def test_a_lead_with_over_1000_keys_is_refused(market):
    payload = lead_payload(Extra={f"k{n}": n for n in range(1000)})

    response = market.post(payload)

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["body"],
            "msg": "The JSON has too many keys: at most 1000 in all.",
            "type": "json_too_many_keys",
        }
    ]
    assert_nothing_stored()


# --- Emails (RFC 5321) --------------------------------------------------------------------


def email_of(local: int, total: int) -> str:
    domain_length = total - local - 1
    labels, left = [], domain_length - len(".example")
    while left > 0:
        labels.append("d" * min(63, left))
        left -= len(labels[-1]) + 1
    domain = ".".join(labels)[: domain_length - len(".example")] + ".example"
    return "a" * local + "@" + domain


def test_an_email_at_rfc_5321s_limits_is_accepted(market):
    email = email_of(64, 254)
    assert (len(email), len(email.split("@")[0])) == (254, 64)

    response = market.post(lead_payload(email=email))

    assert response.status_code == 201
    assert Lead.objects.get().email == email


def test_a_65_character_local_part_is_a_422(market):
    response = market.post(lead_payload(email="a" * 65 + "@contoso.example"))

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["body", "UserDetails", "Email"],
            "msg": "The part before @ may be at most 64 characters (RFC 5321).",
            "type": "email_local_too_long",
        }
    ]
    assert_nothing_stored()


def test_a_255_character_email_is_a_422(market):
    response = market.post(lead_payload(email=email_of(10, 255)))

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", "UserDetails", "Email"], "string_too_long")
    assert_nothing_stored()


# --- Referrals ----------------------------------------------------------------------------


def test_a_referral_gets_the_same_checks(market):
    market.publisher.co_sell_enrolled = True
    market.publisher.save()
    _, seller_key = api_keys.api_key_create(kind="microsoft-seller", name="sellers")
    referral = lead_payload(ReferralId="r-1", OfferId="contoso.analytics")

    nul = market.post({**referral, "Note": "\x00"}, key=seller_key, path="/api/v1/referrals")
    deep = market.post(
        json.dumps(referral)[:-1] + f', "Extra": {nested(40)}}}',
        key=seller_key,
        path="/api/v1/referrals",
    )
    bad_id = market.post(
        {**referral, "ReferralId": "r\x00"}, key=seller_key, path="/api/v1/referrals"
    )

    assert nul.status_code == deep.status_code == bad_id.status_code == 422
    assert nul.json()["detail"][0]["loc"] == ["body", "Note"]
    assert deep.json()["detail"][0]["type"] == "json_too_deep"
    assert bad_id.json()["detail"][0]["loc"] == ["body", "ReferralId"]
    assert_nothing_stored()


# --- Admin shows a raw payload up to 16 KiB -----------------------------------------------


def activity_page(client, activity):
    return client.get(reverse("admin:leads_leadactivity_change", args=[activity.pk]))


def test_admin_shows_a_small_raw_payload_whole(client, staff_user):
    client.force_login(staff_user)
    activity = make_activity(raw_payload={"LeadId": "small-one"})

    response = activity_page(client, activity)

    assert response.status_code == 200
    assert "small-one" in response.text
    assert "Truncated" not in response.text


@pytest.mark.parametrize("depth", [15, 450])
def test_admin_truncates_a_raw_payload_that_prints_large(client, staff_user, depth):
    # 900 levels (stored before the depth limit existed) would print as about 1.3 MB of
    # indentation alone; 30 levels with long strings pass 16 KiB as well.
    client.force_login(staff_user)
    payload: object = "end"
    for _ in range(depth):
        payload = {"k": [payload, "x" * 1000]}
    activity = make_activity(raw_payload=payload)

    response = activity_page(client, activity)

    assert response.status_code == 200
    assert "Truncated: only the first 16 KiB are shown." in response.text
    pre = response.text.split("<pre>", 1)[1].split("</pre>", 1)[0]
    assert len(pre) <= RAW_PAYLOAD_DISPLAY_LIMIT * 2  # escaped quotes grow it, never more
    assert len(response.content) < 200 * 1024


def test_the_publisher_api_refuses_an_unknown_query_parameter(market, client):
    _, token = api_keys.publisher_token_create(publisher=market.publisher, name="ci")

    response = client.get(
        "/api/v1/publisher/leads", {"statu": "new"}, HTTP_AUTHORIZATION=f"Bearer {token}"
    )

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"loc": ["query", "statu"], "msg": "Unknown query parameter.", "type": "unknown"}
        ]
    }


@pytest.mark.parametrize("since", ["1700000000", "0.5", "yesterday"])
def test_the_publisher_apis_since_must_be_iso_8601(market, client, since):
    _, token = api_keys.publisher_token_create(publisher=market.publisher, name="ci")

    response = client.get(
        "/api/v1/publisher/leads", {"since": since}, HTTP_AUTHORIZATION=f"Bearer {token}"
    )

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", "since"]


@pytest.mark.parametrize(
    "query", ["listing=true&listing=0", "limit=5&limit=5", "since=2026-01-01&since=2026-02-01"]
)
def test_the_publisher_api_refuses_a_parameter_given_twice(market, client, query):
    # Given a publisher token
    _, token = api_keys.publisher_token_create(publisher=market.publisher, name="ci")
    name = query.split("=", 1)[0]

    # When a single-valued parameter comes twice
    response = client.get(f"/api/v1/publisher/leads?{query}", HTTP_AUTHORIZATION=f"Bearer {token}")

    # Then it is refused with its path, never answered with one of the two guessed
    assert response.status_code == 422
    assert response.json() == {
        "detail": [{"loc": ["query", name], "msg": "Give this parameter once.", "type": "repeated"}]
    }
