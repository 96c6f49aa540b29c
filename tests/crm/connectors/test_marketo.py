"""Marketo connector against a strict loopback identity + Lead Database receiver."""

import re
import uuid

import pytest

from crm.connectors import ConfigurationError, DeliveryPayload, SendOptions, http_client
from crm.connectors.marketo import MarketoConnector, settings_from
from crm.connectors.token_cache import TokenCache
from tests.crm.connectors import make_payload
from tests.crm.receivers.marketo_receiver import MarketoReceiver, running

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
    with running(MarketoReceiver()) as started:
        yield started
    http_client.clients_close()  # no pooled connection outlives its receiver


@pytest.fixture
def connector():
    return MarketoConnector(token_cache=TokenCache())


def test_a_batch_of_301_takes_two_calls_and_one_token(receiver, connector):
    # Given 301 leads with distinct emails
    leads = [make_lead(n) for n in range(301)]

    # When they are sent
    results = connector.send(receiver.config(), leads, LOOPBACK)

    # Then two calls of 300 and 1 created them all, in order, with one token
    assert receiver.lead_calls == [300, 1]
    assert receiver.token_calls == 1
    assert [r.delivery_id for r in results] == [lead.delivery_id for lead in leads]
    assert {r.outcome for r in results} == {"delivered"}
    assert results[0].response_excerpt == '{"id": 1, "status": "created"}'
    assert receiver.leads["ada0@example.com"] == {
        "email": "ada0@example.com",
        "firstName": "Ada0",
        "lastName": "Okafor",
        "phone": "+44 20 7946 0000",
        "company": "Fabrikam Ltd",
        "title": "Head of IT",
        "country": "GB",
        "leadSource": "AppSource-PLT|Contoso CRM Connector",
        "id": 1,
    }


def test_created_then_updated_with_the_same_email_is_one_record(receiver, connector):
    # Given a lead, then the same person with a new title and a constant extra field
    first = make_lead(1)
    again = make_lead(1, title="CEO", extra_fields={"leadStatus": "MQL"})

    # When both are sent
    results = connector.send(receiver.config(), [first], LOOPBACK)
    results += connector.send(receiver.config(), [again], LOOPBACK)

    # Then Marketo created, then updated, one record
    assert [r.response_excerpt for r in results] == [
        '{"id": 1, "status": "created"}',
        '{"id": 1, "status": "updated"}',
    ]
    assert list(receiver.leads) == ["ada1@example.com"]
    assert receiver.leads["ada1@example.com"]["title"] == "CEO"
    assert receiver.leads["ada1@example.com"]["leadStatus"] == "MQL"


def test_expired_token_is_refreshed_once_then_the_call_succeeds(receiver, connector):
    # Given a cached token that Marketo now says has expired
    connector.send(receiver.config(), [make_lead(1)], LOOPBACK)
    receiver.expire_tokens()

    # When another lead is sent
    (result,) = connector.send(receiver.config(), [make_lead(2)], LOOPBACK)

    # Then one 602 led to one new token, and the lead is delivered
    assert result.outcome == "delivered"
    assert receiver.refused == ["602"]
    assert receiver.token_calls == 2
    assert receiver.lead_calls == [1, 1]


def test_invalid_token_twice_is_permanent(receiver, connector):
    # Given Marketo refuses the token again after a refresh
    receiver.fail_next("601", "Access token invalid")
    receiver.fail_next("601", "Access token invalid")

    # When a lead is sent
    (result,) = connector.send(receiver.config(), [make_lead()], LOOPBACK)

    # Then it is permanent, after exactly one refresh
    assert result.outcome == "permanent"
    assert result.error == (
        "Marketo error 601: Access token invalid; "
        "check the API user's role and the LaunchPoint service"
    )
    assert receiver.token_calls == 2
    assert receiver.leads == {}


def test_rate_limit_606_is_retryable_after_20_seconds_and_stops_the_batch():
    # Given an instance whose window allows one call
    with running(MarketoReceiver(rate_calls=1, rate_window=60)) as receiver:
        connector = MarketoConnector(token_cache=TokenCache())
        leads = [make_lead(n) for n in range(301)]

        # When 301 leads are sent
        results = connector.send(receiver.config(), leads, LOOPBACK)
    http_client.clients_close()

    # Then the first 300 are delivered; the last is retryable after 20 s
    assert receiver.lead_calls == [300]
    assert receiver.refused == ["606"]
    assert [r.outcome for r in results[:300]] == ["delivered"] * 300
    assert (results[300].outcome, results[300].retry_after) == ("retryable", 20.0)
    assert results[300].error == "Marketo error 606: Max rate limit '1' exceeded"


def test_a_skipped_lead_is_permanent_with_the_reason_and_the_others_are_delivered(
    receiver, connector
):
    # Given three leads, the second with a field Marketo does not have
    leads = [
        make_lead(1),
        make_lead(2, extra_fields={"marketplaceOffer": "x"}),
        make_lead(3),
    ]

    # When they are sent
    results = connector.send(receiver.config(), leads, LOOPBACK)

    # Then only the second is permanent, with Marketo's reason
    assert [r.outcome for r in results] == ["delivered", "permanent", "delivered"]
    assert results[1].error == "Marketo skipped the lead: 1006 Field 'marketplaceOffer' not found"
    assert sorted(receiver.leads) == ["ada1@example.com", "ada3@example.com"]


def test_wrong_client_secret_is_permanent_and_nothing_is_sent(receiver, connector):
    # Given a target with a wrong client secret
    config = receiver.config(clientSecret="wrong-secret")

    # When two leads are sent
    results = connector.send(config, [make_lead(1), make_lead(2)], LOOPBACK)

    # Then both are permanent, with a readable reason that holds no secret
    assert [r.outcome for r in results] == ["permanent", "permanent"]
    assert results[0].error == "Marketo refused the client credentials: Bad client credentials"
    assert receiver.lead_calls == []


def test_unreachable_instance_is_retryable(connector):
    config = {"munchkinId": "123-ABC-456", "clientId": "c", "clientSecret": "s"}
    config["baseUrl"] = "http://127.0.0.1:9"

    results = connector.send(config, [make_lead(1), make_lead(2)], LOOPBACK)

    assert [r.outcome for r in results] == ["retryable", "retryable"]
    assert results[0].error == "could not reach the Marketo identity service (ConnectError)"


def test_base_url_defaults_to_the_munchkin_rest_host():
    config = {"munchkinId": "123-ABC-456", "clientId": "c", "clientSecret": "s"}

    assert settings_from(config).base_url == "https://123-ABC-456.mktorest.com"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (SendOptions(), "the endpoint must use https"),
        (SendOptions(require_https=False), "127.0.0.1 is a loopback address: refused"),
    ],
)
def test_loopback_base_url_is_refused_unless_allowed(receiver, connector, options, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        connector.send(receiver.config(), [make_lead()], options)

    assert receiver.token_calls == 0


def test_missing_config_is_a_configuration_error(connector):
    with pytest.raises(ConfigurationError, match="Marketo target is missing clientSecret"):
        connector.send({"munchkinId": "123-ABC-456", "clientId": "c"}, [make_lead()], LOOPBACK)
