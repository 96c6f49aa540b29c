"""The erasers against the strict loopback receivers (no database): the edges the outbox
tests leave out (tokens, limits, absent records, a gone endpoint)."""

import json
import uuid

import pytest

from crm.connectors import ErasureRequest, SendOptions, http_client, https
from crm.connectors.dynamics365 import Dynamics365Connector
from crm.connectors.dynamics365_erase import Dynamics365Eraser
from crm.connectors.marketo import MarketoConnector
from crm.connectors.marketo_erase import MarketoEraser
from crm.connectors.token_cache import TokenCache
from tests.crm.connectors import make_payload
from tests.crm.receivers import Answer, ca_bundle_path, dynamics_receiver, marketo_receiver
from tests.crm.receivers.dynamics_receiver import ALTERNATE_KEY, DynamicsReceiver
from tests.crm.receivers.https_receiver import HttpsReceiver
from tests.crm.receivers.marketo_receiver import MarketoReceiver

PLAIN_LOOPBACK = SendOptions(allow_private_targets=True, require_https=False)
TLS_LOOPBACK = SendOptions(allow_private_targets=True, connect_timeout=2.0, total_timeout=5.0)


def request_for(*, email: str = "", **lookup) -> ErasureRequest:
    lead_id = lookup.pop("lead_id", str(uuid.uuid4()))
    lookup = {"lead_id": lead_id, **({"email": email} if email else {}), **lookup}
    return ErasureRequest(str(uuid.uuid4()), lead_id, "contoso", lookup)


@pytest.fixture
def marketo():
    with marketo_receiver.running(MarketoReceiver()) as started:
        yield started
    http_client.clients_close()


@pytest.fixture
def dynamics():
    with dynamics_receiver.running(DynamicsReceiver()) as started:
        yield started
    http_client.clients_close()


def test_marketo_erases_301_people_in_two_lookups_and_two_deletes_within_the_300_limit(marketo):
    # Given 301 people in Marketo, and one more erasure for someone it never had
    people = [make_payload(delivery_id=str(n), email=f"p{n}@example.com") for n in range(301)]
    MarketoConnector(token_cache=TokenCache()).send(marketo.config(), people, PLAIN_LOOPBACK)
    requests = [request_for(email=p.email.upper()) for p in people] + [
        request_for(email="never@example.com")
    ]

    # When they are erased
    results = MarketoEraser(token_cache=TokenCache()).erase(
        marketo.config(), requests, PLAIN_LOOPBACK
    )

    # Then no call passed 300 values, every one is deleted, the stranger absent
    assert [len(emails) for emails in marketo.lookups] == [300, 2]
    assert [len(ids) for ids in marketo.deletes] == [300, 1]
    assert marketo.leads == {}
    assert [r.erasure for r in results] == ["deleted"] * 301 + ["absent"]
    assert marketo.refused == []


def test_marketo_refreshes_an_expired_token_once_and_a_rate_limit_is_retryable(marketo):
    eraser = MarketoEraser(token_cache=TokenCache())
    eraser.erase(marketo.config(), [request_for(email="a@example.com")], PLAIN_LOOPBACK)
    marketo.expire_tokens()

    (refreshed,) = eraser.erase(
        marketo.config(), [request_for(email="b@example.com")], PLAIN_LOOPBACK
    )
    marketo.fail_next("606", "Max rate limit '100' exceeded")
    limited = eraser.erase(
        marketo.config(),
        [request_for(email="c@example.com"), request_for(email="d@example.com")],
        PLAIN_LOOPBACK,
    )

    assert (refreshed.outcome, refreshed.erasure) == ("delivered", "absent")
    assert marketo.refused == ["602", "606"]
    assert [(r.outcome, r.retry_after) for r in limited] == [("retryable", 20.0)] * 2


def test_dynamics_refreshes_a_refused_token_once_and_an_absent_record_is_read_only(dynamics):
    eraser = Dynamics365Eraser(token_cache=TokenCache())
    config = dynamics.config(alternateKey=ALTERNATE_KEY)
    eraser.erase(
        config,
        [request_for(alternate_key=ALTERNATE_KEY, key_value=str(uuid.uuid4()))],
        PLAIN_LOOPBACK,
    )
    dynamics.expire_tokens()
    lead_id = str(uuid.uuid4())

    (result,) = eraser.erase(
        config,
        [request_for(lead_id=lead_id, alternate_key=ALTERNATE_KEY, key_value=lead_id)],
        PLAIN_LOOPBACK,
    )

    assert (result.outcome, result.erasure) == ("delivered", "absent")
    assert dynamics.token_calls == 2
    assert [method for method, _ in dynamics.erasure_calls] == ["GET", "GET"]


def test_dynamics_with_nothing_to_find_the_record_by_leaves_it_to_a_person(dynamics):
    (result,) = Dynamics365Eraser(token_cache=TokenCache()).erase(
        dynamics.config(), [request_for(email="x@example.com")], PLAIN_LOOPBACK
    )

    assert (result.outcome, result.erasure) == ("delivered", "unidentified")
    assert dynamics.erasure_calls == []


def test_dynamics_deletes_a_disqualified_lead_but_not_a_qualified_one(dynamics):
    connector = Dynamics365Connector(token_cache=TokenCache())
    config = dynamics.config(alternateKey=ALTERNATE_KEY)
    leads = [make_payload(delivery_id=str(n), lead_id=str(uuid.uuid4())) for n in range(2)]
    connector.send(config, leads, PLAIN_LOOPBACK)
    by_key = {rec[ALTERNATE_KEY]: lid for lid, rec in dynamics.records.items()}
    dynamics.records[by_key[leads[0].lead_id]].update(statecode=2, statuscode=4)  # disqualified
    dynamics.convert(by_key[leads[1].lead_id])

    results = Dynamics365Eraser(token_cache=TokenCache()).erase(
        config,
        [
            request_for(lead_id=p.lead_id, alternate_key=ALTERNATE_KEY, key_value=p.lead_id)
            for p in leads
        ],
        PLAIN_LOOPBACK,
    )

    assert [r.erasure for r in results] == ["deleted", "converted"]
    assert list(dynamics.records) == [by_key[leads[1].lead_id]]


def test_https_a_gone_endpoint_stops_the_batch_unsent(monkeypatch):
    monkeypatch.setenv("CRM_EXTRA_CA_BUNDLE", ca_bundle_path())
    secret = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"
    with HttpsReceiver(secret) as receiver:
        receiver.answer_with(Answer(410))
        config = {"httpsEndpointUrl": receiver.url("/in"), "signingSecret": secret}
        results = https.eraser.erase(config, [request_for(), request_for()], TLS_LOOPBACK)
    http_client.clients_close()

    assert [(r.outcome, r.status_code) for r in results] == [
        ("permanent", 410),
        ("retryable", None),
    ]
    assert len(receiver.requests) == 1
    assert set(json.loads(receiver.requests[0].body)) == {"Event", "LeadId", "ErasedAt"}
