"""Sentry's before_send (portal/observability_config.py): an event leaves with no personal
data, no request body and no secrets. No network: the scrubber is a plain function, and
the SDK is started against a DSN on loopback with a transport that keeps the envelopes."""

import sentry_sdk
from sentry_sdk.transport import Transport

from portal import observability_config
from portal.observability_config import FILTERED, scrub_event


def _crafted_event() -> dict:
    return {
        "event_id": "9f2c1d3e4b5a69788796a5b4c3d2e1f0",
        "timestamp": "2026-12-05T19:44:48.123456Z",
        "release": "2026.12.05-1",
        "message": "Lead ada.lovelace@contoso.example (+44 20 7946 0000) refused",
        "user": {"email": "ada.lovelace@contoso.example", "ip_address": "203.0.113.9"},
        "request": {
            "url": "https://portal.test/api/v1/leads",
            "data": '{"UserDetails": {"Email": "ada.lovelace@contoso.example"}}',
            "cookies": {"sessionid": "abc"},
            "query_string": "email=ada.lovelace%40contoso.example",
            "headers": {"Authorization": "Bearer sk-live-123", "User-Agent": "curl/8"},
        },
        "extra": {
            "first_name": "Ada",
            "LastName": "Lovelace",
            "phone": "+44 20 7946 0000",
            "signingSecret": "whsec_abc",
            "target_id": 7,
        },
        "exception": {
            "values": [
                {
                    "type": "ValueError",
                    "value": "bad address grace@navy.example",
                    "stacktrace": {"frames": [{"vars": {"email": "grace@navy.example"}}]},
                }
            ]
        },
    }


def test_before_send_removes_every_personal_value_and_secret():
    event = scrub_event(_crafted_event(), {})
    text = repr(event)

    for leaked in ("ada.lovelace", "Lovelace", "7946", "grace@navy", "sk-live", "whsec", "abc"):
        assert leaked not in text, leaked
    assert "user" not in event
    assert event["request"]["data"] == FILTERED
    assert event["request"]["headers"] == {"Authorization": FILTERED, "User-Agent": "curl/8"}
    assert event["extra"]["first_name"] == FILTERED
    assert event["extra"]["target_id"] == 7  # ids are kept: they locate the row, not a person
    assert event["message"] == f"Lead {FILTERED} ({FILTERED}) refused"
    assert event["exception"]["values"][0]["type"] == "ValueError"
    # Times and ids look like phone numbers, and stay as they are
    assert event["timestamp"] == "2026-12-05T19:44:48.123456Z"
    assert event["event_id"] == "9f2c1d3e4b5a69788796a5b4c3d2e1f0"
    assert event["release"] == "2026.12.05-1"


class _Keeping(Transport):
    def __init__(self, options=None):
        super().__init__(options)
        self.envelopes = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope)


def test_the_sdk_sends_scrubbed_events_and_no_default_pii(monkeypatch):
    transport = _Keeping()
    original_init = sentry_sdk.init

    def init(**options):
        return original_init(transport=transport, **options)

    monkeypatch.setattr(sentry_sdk, "init", init)
    observability_config.sentry_init(
        "http://public@127.0.0.1:9/1", environment="test", release="r1"
    )
    try:
        client = sentry_sdk.get_client()
        assert client.options["send_default_pii"] is False
        sentry_sdk.capture_message("Lead ada.lovelace@contoso.example refused")
        sentry_sdk.flush()
    finally:
        sentry_sdk.get_global_scope().set_client(None)

    payload = b"".join(item.get_bytes() for env in transport.envelopes for item in env.items)
    assert b"refused" in payload
    assert b"ada.lovelace" not in payload


def test_without_a_dsn_sentry_stays_off():
    observability_config.sentry_init("", environment="test", release="")

    assert not sentry_sdk.get_client().is_active()
