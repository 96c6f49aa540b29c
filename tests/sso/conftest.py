"""The OpenID Provider for this package's tests, and the portal configured against it."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import httpx
import pytest

from tests.sso.provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    DOMAIN,
    STAFF_GROUP,
    OpenIdProvider,
    running_provider,
)


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OpenIdProvider]:
    """oidc-provider on a free loopback port, started once for the session."""
    with running_provider() as provider:
        yield provider


def sso_settings(settings, issuer: str) -> None:
    settings.OIDC_ISSUER = issuer
    settings.OIDC_CLIENT_ID = CLIENT_ID
    settings.OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_ALLOWED_DOMAINS = [DOMAIN]
    settings.OIDC_STAFF_GROUP = STAFF_GROUP
    # The discovery document is cached per issuer: each test reads it afresh.
    settings.OIDC_DISCOVERY_CACHE_SECONDS = 1


@pytest.fixture
def sso(settings, oidc_provider) -> OpenIdProvider:
    """The portal's single sign-on pointed at the real provider."""
    sso_settings(settings, oidc_provider.issuer)
    return oidc_provider


class TokenForger:
    """A loopback issuer whose discovery document sends the browser to the real provider
    and reads the real provider's keys, but whose token endpoint answers the ID token a
    test chose: the portal's validation of that token is what is tested."""

    def __init__(self, provider: OpenIdProvider):
        self.provider = provider
        self.id_token = ""
        self.token_requests: list[dict] = []
        forger = self
        real = httpx.get(f"{provider.issuer}/.well-known/openid-configuration").json()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, body: bytes, status: int = 200):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path != "/.well-known/openid-configuration":
                    return self._json(b"{}", 404)
                document = {
                    "issuer": forger.issuer,
                    "authorization_endpoint": real["authorization_endpoint"],
                    "token_endpoint": f"{forger.issuer}/token",
                    "jwks_uri": real["jwks_uri"],
                }
                return self._json(httpx.Response(200, json=document).content)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = parse_qs(self.rfile.read(length).decode())
                forger.token_requests.append(form)
                if form.get("client_secret") != [CLIENT_SECRET] or "code_verifier" not in form:
                    return self._json(b'{"error": "invalid_client"}', 401)
                answer = {"access_token": "at", "token_type": "Bearer", "id_token": forger.id_token}
                return self._json(httpx.Response(200, json=answer).content)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def forger(settings, oidc_provider) -> Iterator[TokenForger]:
    forger = TokenForger(oidc_provider)
    sso_settings(settings, forger.issuer)
    yield forger
    forger.close()
