"""The Salesforce Web-to-Lead connector against a strict Web-to-Lead receiver."""

import pytest

from crm.connectors import http_client, salesforce
from crm.connectors.base import SendOptions
from tests.crm.connectors import LOOPBACK, make_payload
from tests.crm.receivers import Answer, ca_bundle_path
from tests.crm.receivers.salesforce_receiver import SalesforceReceiver

ORG_ID = "00D5e000000AbCdEAF"  # 18 characters
CUSTOM_FIELD = "00N5e00000LeadId"  # a custom field's id, as Web-to-Lead names it


@pytest.fixture(autouse=True)
def _trust_test_ca(monkeypatch):
    monkeypatch.setenv("CRM_EXTRA_CA_BUNDLE", ca_bundle_path())
    yield
    http_client.clients_close()


@pytest.fixture
def receiver():
    with SalesforceReceiver(extra_fields=frozenset({CUSTOM_FIELD, "Campaign_ID"})) as server:
        yield server


def _config(receiver, oid=ORG_ID) -> dict:
    return {"objectIdentifier": oid, "baseUrl": receiver.url("")}


def test_a_lead_is_posted_as_the_web_to_lead_form(receiver):
    payload = make_payload()

    (result,) = salesforce.connector.send(_config(receiver), [payload], LOOPBACK)

    assert (result.outcome, result.status_code, result.error) == ("delivered", 200, "")
    (request,) = receiver.requests
    assert (request.method, request.path) == ("POST", "/servlet/servlet.WebToLead?encoding=UTF-8")
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["user-agent"] == "LeadPortal/1"
    assert receiver.leads == [
        {
            "oid": ORG_ID,
            "first_name": "Zoë",
            "last_name": "Okafor",
            "email": "zoe.okafor@example.com",
            "company": "Fabrikam Ltd",
            "phone": "+44 20 7946 0000",
            "country": "GB",
            "title": "Head of IT",
            "lead_source": "AppSource-PLT|Contoso CRM Connector",
            "description": "Wants a trial for 50 seats",
            "encoding": "UTF-8",
        }
    ]
    assert request.body.startswith(b"oid=00D5e000000AbCdEAF&first_name=Zo%C3%AB&last_name=")


def test_extra_fields_are_added_and_never_replace_a_standard_field(receiver):
    payload = make_payload(
        extra_fields={CUSTOM_FIELD: "from-portal", "Campaign_ID": 7, "oid": "00Dspoofspoofsp"}
    )

    (result,) = salesforce.connector.send(_config(receiver), [payload], LOOPBACK)

    assert result.outcome == "delivered"
    (lead,) = receiver.leads
    assert (lead[CUSTOM_FIELD], lead["Campaign_ID"], lead["oid"]) == ("from-portal", "7", ORG_ID)


def test_the_receiver_refuses_a_field_it_was_not_configured_for(receiver):
    payload = make_payload(extra_fields={"utm_source": "newsletter"})

    (result,) = salesforce.connector.send(_config(receiver), [payload], LOOPBACK)

    assert (result.outcome, result.error) == ("permanent", "400 Bad Request")
    assert receiver.rejections() == ["unknown fields: ['utm_source']"]
    assert receiver.leads == []


@pytest.mark.parametrize("oid", ["00D5e000000AbCd", ORG_ID])
def test_15_and_18_character_org_ids_are_accepted(receiver, oid):
    (result,) = salesforce.connector.send(_config(receiver, oid), [make_payload()], LOOPBACK)

    assert result.outcome == "delivered"
    assert [lead["oid"] for lead in receiver.leads] == [oid]


@pytest.mark.parametrize(
    "oid", [None, "", "00D123", "00X5e000000AbCdEAF", "00D5e000000AbCdE", "00D5e000000AbCd-EA"]
)
def test_an_invalid_org_id_is_permanent_and_nothing_is_sent(receiver, oid):
    payloads = [make_payload(), make_payload(delivery_id="11111111-2222-4333-8444-555555555555")]

    results = salesforce.connector.send(_config(receiver, oid), payloads, LOOPBACK)

    assert [r.outcome for r in results] == ["permanent", "permanent"]
    assert results[0].error == (
        "check the organization id: objectIdentifier must be 15 or 18 letters and digits "
        "starting with 00D"
    )
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        (None, "https://webto.salesforce.com/servlet/servlet.WebToLead?encoding=UTF-8"),
        ("", "https://webto.salesforce.com/servlet/servlet.WebToLead?encoding=UTF-8"),
        (
            "https://test.salesforce.com/",
            "https://test.salesforce.com/servlet/servlet.WebToLead?encoding=UTF-8",
        ),
    ],
)
def test_the_endpoint_defaults_to_webto_salesforce_com(base_url, expected):
    config = {"objectIdentifier": ORG_ID, "baseUrl": base_url}

    assert salesforce.endpoint_url(config, SendOptions()) == expected


def test_the_ssrf_guard_applies_to_the_base_url(receiver):
    guarded = SendOptions(connect_timeout=0.5, total_timeout=1.0)

    (result,) = salesforce.connector.send(_config(receiver), [make_payload()], guarded)

    assert (result.outcome, result.error) == (
        "permanent",
        "127.0.0.1 is a loopback address: refused",
    )
    assert receiver.requests == []


def test_an_http_base_url_is_refused_when_https_is_required():
    config = {"objectIdentifier": ORG_ID, "baseUrl": "http://127.0.0.1:9"}

    (result,) = salesforce.connector.send(config, [make_payload()], LOOPBACK)

    assert (result.outcome, result.error) == ("permanent", "the endpoint must use https")


def test_past_the_daily_cap_salesforce_still_answers_200_but_queues_the_lead():
    # Given an org whose daily cap is 3, and a clock we move
    now = [1_000.0]
    with SalesforceReceiver(daily_cap=3, clock=lambda: now[0]) as receiver:
        payloads = [
            make_payload(delivery_id=f"00000000-0000-4000-8000-00000000000{i}") for i in range(5)
        ]

        # When 5 leads are sent, then one more a day later
        results = salesforce.connector.send(_config(receiver), payloads, LOOPBACK)
        now[0] += 24 * 3600
        (later,) = salesforce.connector.send(_config(receiver), payloads[:1], LOOPBACK)

    # Then every answer was 200 (delivered tells nothing about creation): 3 created, 2
    # queued, and the window reopened a day later
    assert [r.outcome for r in results] == ["delivered"] * 5
    assert later.outcome == "delivered"
    assert (len(receiver.leads), len(receiver.over_cap)) == (4, 2)


def test_a_read_timeout_is_retried_and_may_duplicate_the_lead(receiver):
    # Given Web-to-Lead takes the form but answers after our total timeout
    receiver.answer_with(Answer(200, delay=1.5))
    quick = SendOptions(allow_private_targets=True, connect_timeout=1.0, total_timeout=0.5)
    payload = make_payload()

    # When the lead is sent, then retried
    (first,) = salesforce.connector.send(_config(receiver), [payload], quick)
    (second,) = salesforce.connector.send(_config(receiver), [payload], LOOPBACK)

    # Then the retry is delivered, and Salesforce (no idempotency key) has it twice
    assert first.outcome == "retryable"
    assert first.error == "timed out waiting for the answer; the CRM may have received the lead"
    assert second.outcome == "delivered"
    assert len(receiver.leads) == 2


def test_a_connect_error_is_retried_safely(receiver):
    config = _config(receiver)
    receiver.__exit__(None, None, None)

    (result,) = salesforce.connector.send(config, [make_payload()], LOOPBACK)

    assert result.outcome == "retryable"
    assert result.error.endswith("); nothing was sent")


@pytest.mark.parametrize(
    ("answer", "outcome", "error", "retry_after"),
    [
        (Answer(503, {"Retry-After": "30"}), "retryable", "503 Service Unavailable", 30.0),
        (Answer(500), "retryable", "500 Internal Server Error", None),
        (
            Answer(302, {"Location": "https://login.salesforce.com/"}),
            "permanent",
            "302 Found: redirect refused (redirects are never followed)",
            None,
        ),
        (Answer(403), "permanent", "403 Forbidden", None),
    ],
)
def test_answers_map_to_outcomes(receiver, answer, outcome, error, retry_after):
    receiver.answer_with(answer)

    (result,) = salesforce.connector.send(_config(receiver), [make_payload()], LOOPBACK)

    assert (result.outcome, result.status_code) == (outcome, answer.status)
    assert (result.error, result.retry_after) == (error, retry_after)
    assert receiver.leads == []


def test_each_lead_of_a_batch_is_its_own_post_in_order(receiver):
    payloads = [make_payload(last_name=name) for name in ("Ames", "Bello", "Chen")]

    results = salesforce.connector.send(_config(receiver), payloads, LOOPBACK)

    assert [r.outcome for r in results] == ["delivered"] * 3
    assert [lead["last_name"] for lead in receiver.leads] == ["Ames", "Bello", "Chen"]
    assert len(receiver.requests) == 3
