"""Failed API authentications are counted per address; past the limit, 429 (leads.intake.api_keys).

The counters are in Redis (REDIS_URL), as in production. Each kind of credential is
covered: storefront keys (/leads and /leads/bulk), Microsoft-seller keys (/referrals)
and publisher tokens (/publisher/*).
"""

from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from leads.intake import api_keys
from leads.models import ApiKey, Lead
from tests.leads.conftest import lead_payload

ATTACKER = "203.0.113.7"
STOREFRONT_HOST = "198.51.100.20"
THROTTLED = {"detail": "Too many failed authentications from this address; retry later."}
UNAUTHORIZED = {"detail": "Missing or invalid API key (Authorization: Bearer …)."}
LIMIT = 4
WINDOW_SECONDS = 300


@pytest.fixture(autouse=True)
def limits(settings):
    settings.API_AUTH_FAILURE_LIMIT = LIMIT
    settings.API_AUTH_WINDOW_MINUTES = 5
    return settings


@pytest.fixture
def credentials(market):
    market.publisher.co_sell_enrolled = True
    market.publisher.save()
    seller = api_keys.api_key_create(kind=ApiKey.Kind.MICROSOFT_SELLER, name="sellers")[1]
    token = api_keys.publisher_token_create(publisher=market.publisher, name="ci")[1]
    return {"storefront": market.azure_key, "seller": seller, "publisher": token}


def _call(kind: str, key: str, address: str = ATTACKER):
    client = Client(REMOTE_ADDR=address, HTTP_AUTHORIZATION=f"Bearer {key}")
    if kind == "publisher":
        return client.get("/api/v1/publisher/leads")
    if kind == "bulk":
        return client.post(
            "/api/v1/leads/bulk", [lead_payload(LeadId="bulk-1")], content_type="application/json"
        )
    if kind == "seller":
        payload = lead_payload(OfferId="contoso.analytics")
        payload["ReferralId"] = "ref-1"
        return client.post("/api/v1/referrals", payload, content_type="application/json")
    return client.post("/api/v1/leads", lead_payload(), content_type="application/json")


KINDS = [
    # (endpoint kind, credential used, a wrong credential of the same shape)
    ("storefront", "storefront", "lpk_sf_guessed-key"),
    ("bulk", "storefront", "lpk_sf_guessed-key"),
    ("seller", "seller", "lpk_ms_guessed-key"),
    ("publisher", "publisher", "lpt_guessed-token"),
]


@pytest.mark.parametrize(("endpoint", "credential", "wrong"), KINDS)
def test_repeated_bad_credentials_from_one_address_get_429_with_retry_after(
    credentials, endpoint, credential, wrong
):
    # given an address that sent as many bad credentials as the limit allows
    failures = [_call(endpoint, wrong).status_code for _ in range(LIMIT)]

    # when it sends one more, and then the right one
    refused = _call(endpoint, wrong)
    right_key = _call(endpoint, credentials[credential])

    # then both get 429 in the API's error shape, with the seconds until the window ends
    assert failures == [401] * LIMIT
    for answer in (refused, right_key):
        assert answer.status_code == 429
        assert answer.json() == THROTTLED
        assert 1 <= int(answer["Retry-After"]) <= WINDOW_SECONDS
    assert Lead.objects.count() == 0


@pytest.mark.parametrize(("endpoint", "credential", "wrong"), KINDS)
def test_another_address_is_not_affected(credentials, endpoint, credential, wrong):
    # given an attacker's address over the limit
    for _ in range(LIMIT + 1):
        _call(endpoint, wrong)

    # when a client elsewhere calls with the right credential
    answer = _call(endpoint, credentials[credential], address=STOREFRONT_HOST)

    # then it is served as usual
    assert answer.status_code in (200, 201)


def test_failures_of_every_kind_share_one_count_per_address(credentials):
    # given one failure of each kind from one address
    codes = [_call(endpoint, wrong).status_code for endpoint, _, wrong in KINDS]

    # when the storefront key is then used from there
    answer = _call("storefront", credentials["storefront"])

    # then the fourth failure reached the limit, whatever the kinds
    assert codes == [401, 401, 401, 401]
    assert answer.status_code == 429


def test_good_calls_count_nothing(credentials):
    # given many good calls from one address
    codes = {_call("publisher", credentials["publisher"]).status_code for _ in range(LIMIT * 2)}

    # when a bad one follows
    answer = _call("publisher", "lpt_guessed-token")

    # then it is a plain 401: successes never fill the window
    assert codes == {200}
    assert answer.status_code == 401
    assert answer.json() == UNAUTHORIZED


def test_a_missing_header_is_a_401_and_not_counted(credentials):
    # given calls without any Authorization header
    anonymous = Client(REMOTE_ADDR=ATTACKER)
    codes = {anonymous.get("/api/v1/publisher/leads").status_code for _ in range(LIMIT * 2)}

    # when the right token follows
    answer = _call("publisher", credentials["publisher"])

    # then nothing was guessed, so nothing was counted
    assert codes == {401}
    assert answer.status_code == 200


def test_the_window_ends_and_the_address_is_served_again(credentials):
    # given an address that reached the limit
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(LIMIT):
            _call("storefront", "lpk_sf_guessed-key")
        throttled = _call("storefront", credentials["storefront"])

    # when it calls again once the window of five minutes is over
    with time_machine.travel(start + timedelta(minutes=5, seconds=1), tick=False):
        later = _call("storefront", credentials["storefront"])

    # then it is served
    assert throttled.status_code == 429
    assert later.status_code == 201


def test_a_spoofed_forwarded_for_does_not_reset_the_count(credentials, settings):
    # given no trusted proxy, and an attacker who varies X-Forwarded-For on every call
    settings.TRUSTED_PROXY_COUNT = 0
    codes = [
        Client(
            REMOTE_ADDR=ATTACKER,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
            HTTP_AUTHORIZATION="Bearer lpt_guessed-token",
        )
        .get("/api/v1/publisher/leads")
        .status_code
        for n in range(LIMIT + 1)
    ]

    # then the real address was counted each time
    assert codes == [401] * LIMIT + [429]


def test_behind_our_proxy_each_client_is_counted_on_its_own(credentials, settings):
    # given one trusted proxy whose address every request arrives from
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    for _ in range(LIMIT):
        Client(
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR=ATTACKER,
            HTTP_AUTHORIZATION="Bearer lpt_guessed-token",
        ).get("/api/v1/publisher/leads")

    # when another client comes through the same proxy with the right token
    honest = Client(
        REMOTE_ADDR=proxy,
        HTTP_X_FORWARDED_FOR=STOREFRONT_HOST,
        HTTP_AUTHORIZATION=f"Bearer {credentials['publisher']}",
    ).get("/api/v1/publisher/leads")
    attacker = Client(
        REMOTE_ADDR=proxy,
        HTTP_X_FORWARDED_FOR=f"1.2.3.4, {ATTACKER}",
        HTTP_AUTHORIZATION=f"Bearer {credentials['publisher']}",
    ).get("/api/v1/publisher/leads")

    # then the proxy's address is not what is throttled: the attacker is
    assert honest.status_code == 200
    assert attacker.status_code == 429


def test_a_throttled_answer_costs_no_credential_lookup(credentials, django_assert_num_queries):
    # given an address over the limit
    for _ in range(LIMIT):
        _call("publisher", "lpt_guessed-token")

    # when it calls with a token
    with django_assert_num_queries(0):
        answer = _call("publisher", credentials["publisher"])

    # then the answer came from the cache alone
    assert answer.status_code == 429


def test_the_log_line_names_no_address_and_no_key(credentials, caplog):
    # given an address that reaches the limit
    with caplog.at_level("WARNING"):
        for _ in range(LIMIT):
            _call("storefront", "lpk_sf_guessed-key")

    # then one line says so, without the address or the key
    lines = [r for r in caplog.records if r.getMessage() == "api.auth.throttled"]
    assert [r.kind for r in lines] == ["storefront"]
    text = "\n".join(str(r.__dict__) for r in caplog.records)
    assert (ATTACKER in text, "guessed-key" in text) == (False, False)


def test_with_the_cache_down_intake_goes_on_unthrottled(credentials, settings, caplog):
    # given a cache that refuses connections (nothing listens on loopback port 1)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }

    # when bad keys and then the right one are sent, more than the limit allows
    with caplog.at_level("WARNING"):
        codes = [_call("storefront", "lpk_sf_guessed-key").status_code for _ in range(LIMIT + 1)]
        answer = _call("storefront", credentials["storefront"])

    # then nothing fails: the lead is taken, and the outage is logged
    assert codes == [401] * (LIMIT + 1)
    assert answer.status_code == 201
    assert Lead.objects.count() == 1
    assert "throttling.cache_unavailable" in [r.getMessage() for r in caplog.records]


def _reads(redis) -> int:
    stats = redis.info("commandstats")
    return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("get", "mget"))


def test_a_post_reads_redis_once_the_throttle_count_with_the_reference_tokens(credentials):
    redis = cache._cache.get_client()
    _call("storefront", credentials["storefront"], address=STOREFRONT_HOST)  # tokens set
    before = _reads(redis)

    answer = _call("storefront", credentials["storefront"], address=STOREFRONT_HOST)

    # one MGET: the address's failed authentications and the families' tokens together
    assert answer.status_code == 201
    assert _reads(redis) - before == 1
