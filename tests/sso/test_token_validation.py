"""The ID token's checks: a token signed with the provider's own key (read from the real
provider's JWKS) but for another audience, expired, from another issuer or for another
nonce, and a token signed with another key, are all refused; the same token made right
signs in, so the refusals are the checks' and nothing else's."""

import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client, override_settings

from portal.sso.models import SsoIdentity
from tests.factories import make_membership, make_user
from tests.sso.provider import CLIENT_ID, new_key

pytestmark = pytest.mark.django_db
EMAIL = "ana@contoso.test"
HOUR_AGO = int(time.time()) - 3600


@pytest.fixture
def member():
    user = make_user(email=EMAIL)
    make_membership(user=user)
    return user


def callback_with(forger, **changes):
    """Start a sign-in, have the token endpoint answer a token with `changes`, and call
    back as the provider would have."""
    client = Client()
    start = client.get("/oidc/authenticate/")
    query = parse_qs(urlsplit(start["Location"]).query)
    now = int(time.time())
    claims = {
        "iss": forger.issuer,
        "aud": CLIENT_ID,
        "sub": "ana",
        "iat": now,
        "exp": now + 300,
        "nonce": query["nonce"][0],
        "email": EMAIL,
        "email_verified": True,
    }
    key = changes.pop("key", None)
    claims.update(changes)
    forger.id_token = forger.provider.sign(claims, key=key)
    response = client.get("/oidc/callback/", {"code": "a-code", "state": query["state"][0]})
    return client, response


def test_a_right_token_signs_in(forger, member):
    client, response = callback_with(forger)

    assert response.status_code == 302
    assert int(client.session[SESSION_KEY]) == member.pk
    assert forger.token_requests[0]["client_id"] == [CLIENT_ID]


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"aud": "another-client"}, id="wrong-audience"),
        pytest.param({"exp": HOUR_AGO, "iat": HOUR_AGO - 600}, id="expired"),
        pytest.param({"iss": "http://127.0.0.1:1"}, id="wrong-issuer"),
        pytest.param({"nonce": "replayed"}, id="wrong-nonce"),
    ],
)
def test_a_token_with_wrong_claims_is_refused(forger, member, changes):
    client, response = callback_with(forger, **changes)

    assert response.status_code == 403
    assert "could not be verified" in response.content.decode()
    assert SESSION_KEY not in client.session
    assert not SsoIdentity.objects.exists()


def test_a_token_signed_with_another_key_is_refused(forger, member):
    other_key, _ = new_key("test-key-1")  # the provider's key id, another key

    client, response = callback_with(forger, key=other_key)

    assert response.status_code == 403
    assert "could not be verified" in response.content.decode()
    assert SESSION_KEY not in client.session


def test_a_token_with_an_unknown_key_id_is_refused(forger, member):
    client = Client()
    start = client.get("/oidc/authenticate/")
    query = parse_qs(urlsplit(start["Location"]).query)
    forger.id_token = jwt.encode(
        {"iss": forger.issuer, "aud": CLIENT_ID, "sub": "ana", "exp": int(time.time()) + 60},
        new_key("k")[0],
        algorithm="RS256",
        headers={"kid": "unknown"},
    )

    response = client.get("/oidc/callback/", {"code": "c", "state": query["state"][0]})

    assert response.status_code == 403
    assert SESSION_KEY not in client.session


def test_a_code_the_token_endpoint_refuses_is_a_clear_page(forger, member):
    forger.id_token = ""
    client = Client()
    start = client.get("/oidc/authenticate/")
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    # The token endpoint answers 401 to a wrong client secret.
    with override_settings(OIDC_CLIENT_SECRET="not-the-secret"):
        response = client.get("/oidc/callback/", {"code": "c", "state": state})

    assert response.status_code == 403
    assert "could not be verified" in response.content.decode()
    assert SESSION_KEY not in client.session
