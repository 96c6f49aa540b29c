"""The demo receiver checks signatures like a real Standard Webhooks receiver."""

import json
import time

import pytest

from crm.connectors import signing
from tests.factories import make_delivery, make_target

SECRET = signing.secret_generate()


@pytest.fixture
def signed(db):
    target = make_target(
        publisher=None,
        config={
            "httpsEndpointUrl": "http://127.0.0.1:8000/demo/receiver/",
            "signingSecret": SECRET,
        },
    )
    row = make_delivery(target=target)
    body = json.dumps({"UserDetails": {"Email": "a@b.example"}, "Event": "lead.qualified"}).encode()
    headers = signing.signing_headers([SECRET], str(row.idempotency_key), body)
    return body, {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}


def post(client, body, headers):
    return client.post("/demo/receiver/", body, content_type="application/json", **headers)


def test_a_signed_delivery_is_accepted(client, signed):
    body, headers = signed

    response = post(client, body, headers)

    assert response.status_code == 200
    assert response.json()["event"] == "lead.qualified"


def test_unsigned_tampered_or_stale_requests_are_refused(client, signed):
    body, headers = signed
    stale = {**headers, "HTTP_WEBHOOK_TIMESTAMP": str(int(time.time()) - 600)}

    assert post(client, body, {}).status_code == 401
    assert post(client, body.replace(b"a@b", b"x@b"), headers).status_code == 401
    assert post(client, body, stale).status_code == 401
    other = {**headers, "HTTP_WEBHOOK_ID": "00000000-0000-0000-0000-000000000000"}
    assert post(client, body, other).status_code == 401
