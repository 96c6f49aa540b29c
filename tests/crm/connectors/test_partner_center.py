"""The Referrals API connector against the loopback receiver, and the receiver's own
contract (reference/partner-center-inbound.md §4): what it refuses, and how."""

import json
import ssl
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from crm.connectors.base import ConfigurationError, SendOptions
from crm.connectors.oauth import CallFailure
from crm.connectors.partner_center import (
    PartnerCenterSettings,
    ReferralsSession,
    parse_referral,
    parse_time,
)
from crm.connectors.token_cache import TokenCache
from tests.crm.receivers import ca_bundle_path
from tests.crm.receivers import partner_center_receiver as pc

OPTIONS = SendOptions(allow_private_targets=True)


@pytest.fixture
def receiver(monkeypatch):
    monkeypatch.setenv("CRM_EXTRA_CA_BUNDLE", ca_bundle_path())
    with pc.PartnerCenterReceiver() as server:
        yield server


def trusting_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_bundle_path())


def settings_for(receiver, **overrides) -> PartnerCenterSettings:
    fields = {
        "token_url": receiver.url(f"/{pc.TENANT}/oauth2/token"),
        "api_url": receiver.api_url(),
        "client_id": pc.CLIENT_ID,
        "client_secret": pc.CLIENT_SECRET,
        "username": pc.USERNAME,
        "password": pc.PASSWORD,
    }
    return PartnerCenterSettings(**(fields | overrides))


def session(receiver, **overrides) -> ReferralsSession:
    return ReferralsSession(settings_for(receiver, **overrides), OPTIONS, cache=TokenCache())


@pytest.fixture
def http(receiver):
    """A plain client with a valid token, to probe the receiver's contract."""
    with httpx.Client(verify=trusting_context()) as client:
        form = {
            "resource": pc.RESOURCE,
            "grant_type": "password",
            "client_id": pc.CLIENT_ID,
            "client_secret": pc.CLIENT_SECRET,
            "username": pc.USERNAME,
            "password": pc.PASSWORD,
        }
        token = client.post(receiver.url(f"/{pc.TENANT}/oauth2/token"), data=form).json()
        client.headers["Authorization"] = f"Bearer {token['access_token']}"
        yield client


# --- The connector -------------------------------------------------------------------------


def test_times_with_seven_decimals_and_a_z_parse_as_utc():
    assert parse_time("2026-12-05T10:11:12.1234567Z") == datetime(
        2026, 12, 5, 10, 11, 12, 123456, tzinfo=UTC
    )
    assert parse_time("not a time") is None
    assert parse_time(None) is None


def test_unknown_properties_and_either_key_case_are_tolerated():
    remote = parse_referral(
        {"Id": "r1", "Status": "New", "details": {"DealValue": "12.346"}, "newThing": {"x": 1}}
    )

    assert (remote.id, remote.status, remote.deal_value) == ("r1", "New", Decimal("12.35"))
    assert remote.raw["newThing"] == {"x": 1}


def test_missing_credentials_and_refused_urls_are_configuration_errors(receiver):
    with pytest.raises(ConfigurationError, match="missing client_secret, password"):
        session(receiver, client_secret="", password=" ")
    with pytest.raises(ConfigurationError, match="loopback"):
        ReferralsSession(settings_for(receiver), SendOptions(), cache=TokenCache())


def test_wrong_credentials_are_refused_by_the_token_endpoint(receiver):
    pages = session(receiver, password="wrong").referral_pages(since=None)

    with pytest.raises(CallFailure) as failure:
        next(pages)

    assert failure.value.outcome == "permanent"
    assert "AADSTS50126" in failure.value.error
    assert pc.PASSWORD not in failure.value.error


def test_a_next_link_to_another_host_is_refused(receiver, monkeypatch):
    for n in range(3):
        receiver.share(id=f"r{n}")
    pages = session(receiver).referral_pages(since=None, page_size=1)
    monkeypatch.setattr(receiver, "url", lambda path="/", host="": f"https://evil.example{path}")
    next(pages)

    with pytest.raises(CallFailure, match="next link left the API's host"):
        next(pages)


def test_the_token_is_asked_once_and_reused(receiver):
    receiver.share(id="r1")
    reader = session(receiver)

    reader.referral_read("r1")
    reader.referral_read("r1")

    assert receiver.token_calls == 1


def test_a_write_is_refused_when_it_is_not_replace_or_add(receiver):
    receiver.share(id="r1")

    with pytest.raises(ConfigurationError):
        session(receiver).referral_update("r1", ops=[{"op": "remove", "path": "/name"}], etag="")
    assert [r.method for r in receiver.requests] == []


# --- The receiver's contract ---------------------------------------------------------------


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"code", "description", "data", "source"}
    return body


def test_only_the_documented_routes_and_verbs(receiver, http):
    assert error_of(http.get(receiver.url("/v1.0/referrals")))["code"] == "NotFound"
    assert http.delete(receiver.api_url()).status_code == 405
    assert http.patch(receiver.api_url(), json=[]).status_code == 405
    assert http.get(receiver.api_url() + "/a/b").status_code == 404


def test_a_bearer_token_is_required_and_expires(receiver, http):
    assert httpx.get(receiver.api_url(), verify=trusting_context()).status_code == 401
    assert http.get(receiver.api_url()).status_code == 200

    receiver.expire_tokens()

    assert error_of(http.get(receiver.api_url()))["code"] == "Unauthorized"


def test_odata_options_are_checked(receiver, http):
    receiver.share(id="r1")
    receiver.share(id="r2", status="Active", substatus="Accepted")
    url = receiver.api_url()

    active = http.get(url, params={"$filter": "status eq 'Active' and direction eq 'Incoming'"})
    selected = http.get(url, params={"$select": "id,status", "$top": "1"})

    assert [row["id"] for row in active.json()["value"]] == ["r2"]
    assert selected.json()["value"] == [{"id": "r1", "status": "New"}]
    assert selected.json()["@odata.count"] == 2
    assert "$skiptoken=" in selected.json()["@odata.nextLink"]
    for params in (
        {"$expand": "team"},
        {"pagesize": "10"},
        {"$filter": "updatedDateTime gt 2026-01-01"},
        {"$filter": "status eq 'Open'"},
        {"$orderby": "name"},
        {"$select": "nothing"},
        {"$top": "0"},
    ):
        assert http.get(url, params=params).status_code == 400, params


def test_patch_takes_replace_and_add_only_and_answers_204_or_the_referral(receiver, http):
    receiver.share(id="r1")
    url = receiver.api_url() + "/r1"

    removed = http.patch(url, json=[{"op": "remove", "path": "/name", "value": None}])
    plain = http.patch(url, json=[{"op": "replace", "path": "/name", "value": "A"}])
    shown = http.patch(
        url,
        json=[{"op": "add", "path": "/details/notes", "value": "B"}],
        headers={"Prefer": "return=representation"},
    )

    assert error_of(removed)["description"] == "The operation 'remove' is not supported."
    assert (plain.status_code, plain.content) == (204, b"")
    assert shown.status_code == 200 and shown.json()["details"]["notes"] == "B"
    assert shown.json()["eTag"] == shown.headers["ETag"]


def test_a_stale_if_match_is_412_and_every_write_bumps_the_etag(receiver, http):
    first = receiver.share(id="r1")
    url = receiver.api_url() + "/r1"
    op = [{"op": "replace", "path": "/name", "value": "A"}]

    assert http.patch(url, json=op, headers={"If-Match": first["eTag"]}).status_code == 204
    stale = http.patch(url, json=op, headers={"If-Match": first["eTag"]})

    assert error_of(stale)["code"] == "PreconditionFailed" and stale.status_code == 412
    assert http.get(url).json()["eTag"] != first["eTag"]


@pytest.mark.parametrize(
    ("start", "move", "refusal"),
    [
        (("Active", "Accepted"), ("New", "Pending"), "cannot move from Active to New"),
        (("New", "Pending"), ("Active", "Won"), "Won is not a substatus of Active"),
        (("Closed", "Won"), ("Closed", "Lost"), "no further update is possible"),
        (("Closed", "Expired"), ("Active", "Accepted"), "no further update is possible"),
        (("New", "Pending"), ("Closed", "Maybe"), "'Maybe' is not a valid substatus."),
    ],
)
def test_the_transition_table_is_enforced(receiver, http, start, move, refusal):
    receiver.share(id="r1", status=start[0], substatus=start[1])
    ops = [
        {"op": "replace", "path": "/status", "value": move[0]},
        {"op": "replace", "path": "/substatus", "value": move[1]},
    ]

    response = http.patch(receiver.api_url() + "/r1", json=ops)

    assert response.status_code == 400
    assert refusal in error_of(response)["description"]
    assert receiver.referrals["r1"]["status"] == start[0]


def test_accepting_needs_a_deal_value_and_a_closing_date(receiver, http):
    receiver.share(id="r1", details={"notes": "no deal yet"})
    ops = [
        {"op": "replace", "path": "/status", "value": "Active"},
        {"op": "replace", "path": "/substatus", "value": "Accepted"},
    ]

    response = http.patch(receiver.api_url() + "/r1", json=ops)

    assert response.status_code == 400
    assert "deal value and a closing date" in error_of(response)["description"]


def test_create_needs_the_documented_fields_and_stale_new_referrals_expire(receiver, http):
    missing = http.post(receiver.api_url(), json={"type": "Shared"})
    created = http.post(
        receiver.api_url(),
        json={"type": "Independent", "customerProfile": {}, "consent": {}, "details": {}},
    )
    receiver.share(id="old", createdDateTime="2026-01-01T00:00:00.0000000Z")
    receiver.expire_stale(datetime(2026, 2, 1, tzinfo=UTC))

    assert error_of(missing)["description"] == "Missing customerProfile, consent, details."
    assert created.status_code == 201 and created.json()["eTag"].startswith('"')
    assert (receiver.referrals["old"]["status"], receiver.referrals["old"]["substatus"]) == (
        "Closed",
        "Expired",
    )


def test_the_429_mode_answers_retry_after(receiver, http):
    receiver.throttle(7)

    response = http.get(receiver.api_url())

    assert (response.status_code, response.headers["Retry-After"]) == (429, "7")
    assert error_of(response)["code"] == "TooManyRequests"
    assert json.loads(http.get(receiver.api_url()).content)["value"] == []
