"""Dynamics 365 connector against a strict loopback Azure AD + Dataverse receiver."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from crm.connectors import ConfigurationError, DeliveryPayload, SendOptions, http_client
from crm.connectors.dynamics365 import APP_REGISTRATION_HINT, Dynamics365Connector
from crm.connectors.token_cache import TokenCache, TokenKey
from tests.crm.connectors import make_payload
from tests.crm.receivers.dynamics_receiver import ALTERNATE_KEY, DynamicsReceiver, running

# These receivers speak plain HTTP on loopback.
LOOPBACK = SendOptions(allow_private_targets=True, require_https=False)


def make_lead(n: int = 1, **overrides) -> DeliveryPayload:
    """A distinct lead: its own delivery id, lead id, first name and email."""
    fields = {
        "delivery_id": str(uuid.uuid4()),
        "lead_id": str(uuid.uuid4()),
        "first_name": f"Ada{n}",
        "email": f"ada{n}@example.com",
    }
    return make_payload(**{**fields, **overrides})


@pytest.fixture
def receiver():
    with running(DynamicsReceiver()) as started:
        yield started
    http_client.clients_close()  # no pooled connection outlives its receiver


@pytest.fixture
def connector():
    return Dynamics365Connector(token_cache=TokenCache())


def test_post_creates_leads_with_one_token_for_many_sends(receiver, connector):
    # Given three leads, sent in two batches
    leads = [make_lead(n) for n in range(3)]

    # When they are sent without an alternate key
    first = connector.send(receiver.config(), leads[:2], LOOPBACK)
    second = connector.send(receiver.config(), leads[2:], LOOPBACK)

    # Then all are delivered, with one token call in all
    assert [r.outcome for r in first + second] == ["delivered"] * 3
    assert [r.status_code for r in first + second] == [204] * 3
    assert receiver.token_calls == 1
    assert receiver.write_calls == 3
    record = next(r for r in receiver.records.values() if r["firstname"] == "Ada0")
    assert record == {
        "subject": "Contoso CRM Connector (PLT)",
        "firstname": "Ada0",
        "lastname": "Okafor",
        "emailaddress1": "ada0@example.com",
        "telephone1": "+44 20 7946 0000",
        "companyname": "Fabrikam Ltd",
        "jobtitle": "Head of IT",
        "address1_country": "GB",
        "description": "Wants a trial for 50 seats",
    }


def test_alternate_key_upsert_twice_keeps_one_record(receiver, connector):
    # Given a lead, then the same lead updated
    lead = make_lead(extra_fields={"leadsourcecode": 8})
    updated = make_lead(
        lead_id=lead.lead_id, event="lead.updated", title="CEO", extra_fields={"leadsourcecode": 8}
    )
    config = receiver.config(alternateKey=ALTERNATE_KEY)

    # When both are sent with the alternate key
    results = connector.send(config, [lead], LOOPBACK) + connector.send(config, [updated], LOOPBACK)

    # Then there is one record, updated, keyed by the lead's uuid
    assert [r.outcome for r in results] == ["delivered", "delivered"]
    assert len(receiver.records) == 1
    (record,) = receiver.records.values()
    assert record[ALTERNATE_KEY] == lead.lead_id
    assert record["jobtitle"] == "CEO"
    assert record["leadsourcecode"] == 8
    assert results[0].response_excerpt.startswith(f"{receiver.base_url}/api/data/v9.2/leads(")


def test_expired_token_is_refreshed_once_then_succeeds(receiver, connector):
    # Given a cached token that the instance no longer accepts
    connector.send(receiver.config(), [make_lead(1)], LOOPBACK)
    receiver.expire_tokens()

    # When another lead is sent
    (result,) = connector.send(receiver.config(), [make_lead(2)], LOOPBACK)

    # Then one 401 led to one new token, and the lead is delivered
    assert result.outcome == "delivered"
    assert receiver.rejected_tokens == 1
    assert receiver.token_calls == 2
    assert len(receiver.records) == 2


def test_token_refused_twice_is_permanent_app_registration_error(receiver, connector):
    # Given an instance that refuses every token (no application user, say)
    receiver.token_lifetime = 0

    # When two leads are sent
    results = connector.send(receiver.config(), [make_lead(1), make_lead(2)], LOOPBACK)

    # Then the first is permanent after one refresh; the second is not sent
    assert [r.outcome for r in results] == ["permanent", "permanent"]
    assert results[0].error == APP_REGISTRATION_HINT
    assert results[0].status_code == 401
    assert results[1].error == f"not sent: {APP_REGISTRATION_HINT}"
    assert receiver.token_calls == 2
    assert receiver.write_calls == 2
    assert receiver.records == {}


def test_wrong_secret_is_permanent_and_nothing_is_written(receiver, connector):
    # Given a target with a wrong application key
    config = receiver.config(applicationKey="wrong-secret")

    # When a lead is sent
    (result,) = connector.send(config, [make_lead()], LOOPBACK)

    # Then it is a permanent, readable error that names neither secret nor email
    assert result.outcome == "permanent"
    assert result.status_code == 401
    assert result.error == (
        "Azure AD refused the app credentials: AADSTS7000215: Invalid client secret provided."
    )
    assert "wrong-secret" not in result.error
    assert receiver.write_calls == 0


def test_throttled_429_is_retryable_with_retry_after_and_stops_the_batch(receiver, connector):
    # Given an instance that throttles the next request
    receiver.respond_next(429, {"Retry-After": "17"})

    # When two leads are sent
    results = connector.send(receiver.config(), [make_lead(1), make_lead(2)], LOOPBACK)

    # Then both are retryable after 17 s, and the second was not sent
    assert [(r.outcome, r.retry_after) for r in results] == [("retryable", 17.0)] * 2
    assert results[0].status_code == 429
    assert receiver.write_calls == 1
    assert receiver.records == {}


def test_unavailable_503_is_retryable(receiver, connector):
    receiver.respond_next(503)

    (result,) = connector.send(receiver.config(), [make_lead()], LOOPBACK)

    assert (result.outcome, result.status_code, result.retry_after) == ("retryable", 503, None)


def test_unknown_extra_field_is_permanent_with_the_odata_message(receiver, connector):
    # Given a target whose extra field is no attribute of lead
    lead = make_lead(extra_fields={"new_unknown": "x"})

    # When the lead is sent
    (result,) = connector.send(receiver.config(), [lead], LOOPBACK)

    # Then it is permanent with Dataverse's message, and nothing is stored
    assert result.outcome == "permanent"
    assert result.status_code == 400
    assert result.error == (
        "Dynamics 365 refused the lead (HTTP 400): Invalid property 'new_unknown' was found "
        "in entity 'Microsoft.Dynamics.CRM.lead'."
    )
    assert receiver.records == {}


def test_unreachable_instance_is_retryable(connector):
    config = {
        "instanceUrl": "http://127.0.0.1:9",
        "authorityUrl": "http://127.0.0.1:9",
        "directoryId": "tenant",
        "applicationId": "app",
        "applicationKey": "secret",
    }

    results = connector.send(config, [make_lead(1), make_lead(2)], LOOPBACK)

    assert [r.outcome for r in results] == ["retryable", "retryable"]
    assert results[0].error == "could not reach the Azure AD token endpoint (ConnectError)"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (SendOptions(), "the endpoint must use https"),
        (SendOptions(require_https=False), "127.0.0.1 is a loopback address: refused"),
    ],
)
def test_loopback_instance_is_refused_unless_allowed(receiver, connector, options, message):
    with pytest.raises(ConfigurationError, match=message):
        connector.send(receiver.config(), [make_lead()], options)

    assert receiver.token_calls == 0


def test_missing_config_is_a_configuration_error(connector):
    with pytest.raises(ConfigurationError, match="missing directoryId, applicationKey"):
        connector.send({"instanceUrl": "https://x", "applicationId": "a"}, [make_lead()], LOOPBACK)


def test_token_cache_refreshes_shortly_before_expiry_and_keeps_secrets_apart():
    # Given a cache on a fake clock and a token endpoint that counts its calls
    now = [1000.0]
    cache = TokenCache(clock=lambda: now[0])
    calls = []

    def fetch():
        calls.append(now[0])
        return f"token-{len(calls)}", 3600.0

    key = TokenKey.of(authority="https://a/", client_id="c", scope="s", secret="one")

    # When the token is asked for, then again 59 and 61 seconds before it expires
    first = cache.get(key, fetch)
    now[0] += 3600 - 61
    still = cache.get(key, fetch)
    now[0] += 2
    renewed = cache.get(key, fetch)
    other_key = TokenKey.of(authority="https://a", client_id="c", scope="s", secret="two")
    other_secret = cache.get(other_key, fetch)

    # Then it is fetched at first, at 60 s before expiry, and for another secret
    assert (first, still, renewed, other_secret) == ("token-1", "token-1", "token-2", "token-3")


def test_token_cache_fetches_once_for_concurrent_threads():
    # Given a slow token endpoint
    cache = TokenCache()
    key = TokenKey.of(authority="https://a", client_id="c", scope="s", secret="one")
    calls = []

    def fetch():
        calls.append(1)
        time.sleep(0.05)
        return "token", 3600.0

    # When eight threads ask for the token at once
    with ThreadPoolExecutor(max_workers=8) as pool:
        tokens = list(pool.map(lambda _: cache.get(key, fetch), range(8)))

    # Then one fetch served them all
    assert tokens == ["token"] * 8
    assert len(calls) == 1
