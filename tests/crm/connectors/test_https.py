"""The HTTPS-endpoint connector against a strict Standard Webhooks receiver (S1)."""

import base64
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import time_machine
from standardwebhooks.webhooks import Webhook

from crm.connectors import http_client, https, signing
from crm.connectors.base import Result, SendOptions
from tests.crm.connectors import LOOPBACK, make_payload
from tests.crm.receivers import Answer, ca_bundle_path
from tests.crm.receivers.https_receiver import HttpsReceiver

SECRET = "whsec_" + base64.b64encode(b"first-secret-for-the-https-tests").decode()
NEW_SECRET = "whsec_" + base64.b64encode(b"second-secret-for-https-rotation").decode()


@pytest.fixture(autouse=True)
def _trust_test_ca(monkeypatch):
    monkeypatch.setenv("CRM_EXTRA_CA_BUNDLE", ca_bundle_path())
    yield
    http_client.clients_close()


@pytest.fixture
def receiver():
    with HttpsReceiver(SECRET) as server:
        yield server


def _config(url: str, secret=SECRET) -> dict:
    return {"httpsEndpointUrl": url, "signingSecret": secret}


def test_a_lead_is_delivered_signed_in_partner_centers_shape(receiver):
    # Given a lead
    payload = make_payload()

    # When it is sent
    started = int(time.time())
    (result,) = https.connector.send(_config(receiver.url("/hook")), [payload], LOOPBACK)

    # Then it is delivered, and the receiver got exactly this request
    assert result == Result(payload.delivery_id, "delivered", status_code=200)
    (request,) = receiver.requests
    expected = {
        "UserDetails": {
            "FirstName": "Zoë",
            "LastName": "Okafor",
            "Email": "zoe.okafor@example.com",
            "Phone": "+44 20 7946 0000",
            "Country": "GB",
            "Company": "Fabrikam Ltd",
            "Title": "Head of IT",
        },
        "LeadSource": "AppSource-PLT|Contoso CRM Connector",
        "ActionCode": "PLT",
        "OfferTitle": "Contoso CRM Connector",
        "Description": "Wants a trial for 50 seats",
        "LeadId": "0d8b7e6f-1a2b-4c3d-9e8f-7a6b5c4d3e2f",
        "OfferId": "contoso.crm-connector",
        "Storefront": "appsource",
        "Event": "lead.qualified",
        "Score": 72,
        "Status": "qualified",
        "CampaignCode": "SPRING26",
        "CreatedTime": "2026-03-01T09:30:00+00:00",
        "Origin": "marketplace",
        "IsTest": False,
    }
    assert request.body == json.dumps(expected, separators=(",", ":"), ensure_ascii=False).encode()
    assert list(json.loads(request.body)) == list(expected)  # Partner Center's keys first
    assert (request.method, request.path, request.reason) == ("POST", "/hook", "")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "LeadPortal/1"
    assert request.headers["webhook-id"] == payload.delivery_id
    assert started <= int(request.headers["webhook-timestamp"]) <= int(time.time())
    assert request.headers["webhook-signature"].count("v1,") == 1
    assert receiver.effects == {payload.delivery_id: expected}


def test_the_certificate_is_checked_against_the_hostname(receiver):
    # When the endpoint is named by its hostname (SNI and the check use "localhost")
    url = receiver.url("/hook", host="localhost")
    (result,) = https.connector.send(_config(url), [make_payload()], LOOPBACK)

    assert result.outcome == "delivered"


def test_an_untrusted_certificate_is_refused_before_anything_is_sent(receiver, monkeypatch):
    # Given the test CA is not trusted
    monkeypatch.delenv("CRM_EXTRA_CA_BUNDLE")

    (result,) = https.connector.send(_config(receiver.url()), [make_payload()], LOOPBACK)

    assert result.outcome == "retryable"
    assert "certificate is not trusted" in result.error
    assert result.error.endswith("; nothing was sent")
    assert receiver.requests == []


def test_extra_fields_are_added_at_top_level_and_never_replace_standard_keys(receiver):
    payload = make_payload(
        extra_fields={"Region": "EMEA", "Priority": 2, "leadid": "spoof", "Email": "spoof"}
    )

    https.connector.send(_config(receiver.url()), [payload], LOOPBACK)

    body = receiver.effects[payload.delivery_id]
    assert (body["Region"], body["Priority"]) == ("EMEA", 2)
    assert body["LeadId"] == payload.lead_id
    assert "leadid" not in body
    assert "Email" not in body  # nor shadows UserDetails.Email
    assert list(body)[-2:] == ["Region", "Priority"]


def test_during_a_rotation_each_secret_alone_verifies():
    # Given an endpoint configured with the old and the new secret
    payload = make_payload()
    with HttpsReceiver(SECRET) as old, HttpsReceiver(NEW_SECRET) as new:
        # When a lead is sent to a receiver that knows only one of them
        (to_old,) = https.connector.send(
            _config(old.url(), [SECRET, NEW_SECRET]), [payload], LOOPBACK
        )
        (to_new,) = https.connector.send(
            _config(new.url(), [SECRET, NEW_SECRET]), [payload], LOOPBACK
        )

    # Then both accept it, and the header carries two signatures
    assert (to_old.outcome, to_new.outcome) == ("delivered", "delivered")
    (request,) = new.requests
    signatures = request.headers["webhook-signature"].split(" ")
    assert [s[:3] for s in signatures] == ["v1,", "v1,"]
    assert len(set(signatures)) == 2


def test_a_wrong_secret_is_rejected_for_good(receiver):
    (result,) = https.connector.send(
        _config(receiver.url(), NEW_SECRET), [make_payload()], LOOPBACK
    )

    assert (result.outcome, result.status_code) == ("permanent", 401)
    assert result.error == "401 Unauthorized"
    assert receiver.rejections() == ["signature: No matching signature found"]
    assert receiver.effects == {}
    assert NEW_SECRET not in result.error + result.response_excerpt


def _post_signed(receiver, body, signed_body=None, timestamp=None, content_type="application/json"):
    signed_body = body if signed_body is None else signed_body
    headers = signing.signing_headers([SECRET], "msg_interop", signed_body, timestamp)
    headers["Content-Type"] = content_type
    with httpx.Client(verify=http_client.ssl_context()) as client:
        return client.post(receiver.url(), content=body, headers=headers)


def test_a_tampered_body_is_rejected(receiver):
    body = https.body_bytes(make_payload())

    response = _post_signed(receiver, body.replace(b"PLT", b"INS"), signed_body=body)

    assert response.status_code == 401
    assert receiver.rejections() == ["signature: No matching signature found"]
    assert receiver.effects == {}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reason"),
    [
        (b"not json", "application/json", 400, "the body is not JSON"),
        (b"[]", "application/json", 400, "the body is not a JSON object"),
        (b'{"UserDetails":{}}', "application/json", 400, "missing Partner Center keys"),
        (b"{}", "text/plain", 415, "content type 'text/plain' is not application/json"),
    ],
)
def test_the_receiver_refuses_what_partner_center_would_not_send(
    receiver, body, content_type, status, reason
):
    response = _post_signed(receiver, body, content_type=content_type)

    assert response.status_code == status
    (rejection,) = receiver.rejections()
    assert rejection.startswith(reason)
    assert receiver.effects == {}


@pytest.mark.parametrize(
    ("offset", "reason"),
    [(-360, "signature: Message timestamp too old"), (360, "signature: Message timestamp too new")],
)
def test_a_timestamp_six_minutes_off_is_rejected(receiver, offset, reason):
    body = https.body_bytes(make_payload())

    response = _post_signed(receiver, body, timestamp=int(time.time()) + offset)

    assert response.status_code == 401
    assert receiver.rejections() == [reason]


def test_our_signature_matches_the_official_library():
    body = https.body_bytes(make_payload())
    when = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

    ours = signing.signing_headers([SECRET], "msg_1", body, int(when.timestamp()))

    assert ours["webhook-signature"] == Webhook(SECRET).sign("msg_1", when, body.decode())


def test_a_generated_secret_is_whsec_and_32_random_bytes():
    secret = signing.secret_generate()

    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert secret != signing.secret_generate()
    assert Webhook(secret).verify(b"{}", signing.signing_headers([secret], "msg_2", b"{}")) == {}


def test_a_retry_keeps_the_webhook_id_and_freshens_the_timestamp(receiver):
    # Given a lead sent once, then again (a retry) a minute later
    payload = make_payload()
    with time_machine.travel(datetime.now(UTC), tick=True) as clock:
        https.connector.send(_config(receiver.url()), [payload], LOOPBACK)
        clock.shift(timedelta(seconds=60))
        (result,) = https.connector.send(_config(receiver.url()), [payload], LOOPBACK)

    # Then both verify, with one webhook-id; the receiver counts one effect
    first, second = receiver.requests
    assert result.outcome == "delivered"
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == payload.delivery_id
    stamps = int(first.headers["webhook-timestamp"]), int(second.headers["webhook-timestamp"])
    assert 60 <= stamps[1] - stamps[0] <= 62
    assert (len(receiver.effects), receiver.duplicates) == (1, 1)


REFUSED_REDIRECT = "302 Found: redirect refused (redirects are never followed)"
GONE = "410 Gone: the endpoint says it no longer exists; the target is paused"


@pytest.mark.parametrize(
    ("answer", "outcome", "error", "retry_after"),
    [
        (Answer(202), "delivered", "", None),
        (Answer(204), "delivered", "", None),
        (Answer(410), "permanent", GONE, None),
        (Answer(429, {"Retry-After": "120"}), "retryable", "429 Too Many Requests", 120.0),
        (Answer(503, {"Retry-After": "7"}), "retryable", "503 Service Unavailable", 7.0),
        (Answer(500, body=b"x" * 5000), "retryable", "500 Internal Server Error", None),
        (Answer(408), "retryable", "408 Request Timeout", None),
        (Answer(425), "retryable", "425 Too Early", None),
        (Answer(400, {"Retry-After": "60"}), "permanent", "400 Bad Request", None),
        (Answer(404), "permanent", "404 Not Found", None),
        (Answer(422), "permanent", "422 Unprocessable Content", None),
        (Answer(302, {"Location": "https://x.example/"}), "permanent", REFUSED_REDIRECT, None),
    ],
)
def test_answers_map_to_outcomes(receiver, answer, outcome, error, retry_after):
    receiver.answer_with(answer)

    (result,) = https.connector.send(_config(receiver.url()), [make_payload()], LOOPBACK)

    assert (result.outcome, result.status_code) == (outcome, answer.status)
    assert (result.error, result.retry_after) == (error, retry_after)
    assert result.response_excerpt == answer.body.decode()[:500]  # at most 500 characters
    assert len(receiver.requests) == 1


def test_after_a_410_the_rest_of_the_batch_waits_unsent(receiver):
    receiver.answer_with(Answer(410))
    payloads = [make_payload(delivery_id=f"00000000-0000-4000-8000-00000000000{i}") for i in "123"]

    results = https.connector.send(_config(receiver.url()), payloads, LOOPBACK)

    assert [(r.outcome, r.status_code) for r in results] == [
        ("permanent", 410),
        ("retryable", None),
        ("retryable", None),
    ]
    assert results[1].error == (
        "not sent: the endpoint answered 410 Gone to an earlier lead of this batch"
    )
    assert len(receiver.requests) == 1


def test_a_read_timeout_is_retried_and_the_retry_is_deduplicated(receiver):
    # Given an endpoint that takes the lead but answers after our total timeout
    receiver.answer_with(Answer(200, delay=1.5))
    quick = SendOptions(allow_private_targets=True, connect_timeout=1.0, total_timeout=0.5)
    payload = make_payload()

    # When the lead is sent, then retried
    (first,) = https.connector.send(_config(receiver.url()), [payload], quick)
    (second,) = https.connector.send(_config(receiver.url()), [payload], LOOPBACK)

    # Then the first is retryable (maybe received), the retry delivered, one effect
    assert first.outcome == "retryable"
    assert first.error == "timed out waiting for the answer; the CRM may have received the lead"
    assert second.outcome == "delivered"
    assert [r.headers["webhook-id"] for r in receiver.requests] == [payload.delivery_id] * 2
    assert (len(receiver.effects), receiver.duplicates) == (1, 1)


def test_a_refused_connection_is_retried(receiver):
    # Given nothing listens on the port any more
    url = receiver.url()
    receiver.__exit__(None, None, None)

    (result,) = https.connector.send(_config(url), [make_payload()], LOOPBACK)

    assert result.outcome == "retryable"
    assert result.error == (
        "could not connect: nothing accepts connections at that address and port "
        "(connection refused); nothing was sent"
    )


@pytest.mark.parametrize(
    ("require_https", "outcome", "error", "requests"),
    [(True, "permanent", "the endpoint must use https", 0), (False, "delivered", "", 1)],
)
def test_plain_http_is_refused_unless_debug_lifts_it(require_https, outcome, error, requests):
    options = SendOptions(allow_private_targets=True, require_https=require_https)
    with HttpsReceiver(SECRET, tls=False) as plain:
        (result,) = https.connector.send(_config(plain.url()), [make_payload()], options)

    assert (result.outcome, result.error) == (outcome, error)
    assert (len(plain.requests), len(plain.effects)) == (requests, requests)


BAD_SECRET = "signingSecret must be a whsec_ secret, or a list of two during a rotation"
CRM_URL = "https://crm.example/"


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"signingSecret": SECRET}, "the endpoint URL (httpsEndpointUrl) is missing"),
        ({"httpsEndpointUrl": CRM_URL, "signingSecret": "not-a-secret"}, BAD_SECRET),
        ({"httpsEndpointUrl": CRM_URL, "signingSecret": [SECRET] * 3}, BAD_SECRET),
        ({"httpsEndpointUrl": CRM_URL}, BAD_SECRET),
    ],
)
def test_a_broken_configuration_is_permanent_for_every_lead(config, error):
    payloads = [make_payload(), make_payload(delivery_id="11111111-2222-4333-8444-555555555555")]

    results = https.connector.send(config, payloads, LOOPBACK)

    assert [r.outcome for r in results] == ["permanent", "permanent"]
    assert [r.error for r in results] == [error, error]


def test_logs_never_hold_the_email_the_secret_or_the_url_query(receiver, caplog):
    # Given an endpoint URL that carries a secret of its own, as Power Automate's do
    caplog.set_level(logging.INFO)
    receiver.answer_with(Answer(503))
    url = receiver.url("/workflows/run?sig=URL-SECRET-SIG")

    https.connector.send(_config(url), [make_payload()], LOOPBACK)

    logged = " ".join(repr(record.__dict__) for record in caplog.records)
    assert "crm.http.attempt" in logged
    assert "zoe.okafor@example.com" not in logged
    assert SECRET.removeprefix("whsec_") not in logged
    assert "URL-SECRET-SIG" not in logged


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("999999", 86400.0),
        ("Sun, 01 Mar 2026 09:31:30 GMT", 90.0),
        ("Sun, 01 Mar 2026 09:00:00 GMT", 0.0),
        ("Tue, 03 Mar 2026 09:30:00 GMT", 86400.0),
        ("-5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date_capped_at_a_day(value, seconds):
    now = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

    assert http_client.retry_after_seconds(value, now=now) == seconds


def test_retry_after_as_an_http_date_reaches_the_result(receiver):
    later = datetime.now(UTC) + timedelta(hours=2)
    receiver.answer_with(Answer(503, {"Retry-After": format_datetime(later, usegmt=True)}))

    (result,) = https.connector.send(_config(receiver.url()), [make_payload()], LOOPBACK)

    assert result.outcome == "retryable"
    assert 7195 <= result.retry_after <= 7200
