"""A real OpenID Provider (the npm package `oidc-provider`, tests/sso/oidc_provider.mjs)
on a free loopback port, and a browser's walk through its sign-in and consent pages.

`oidc-provider` is a devDependency in package.json: `make test` runs `npm ci` when
node_modules is missing or older than package-lock.json; by hand, run `npm ci` once.
The provider signs with an RSA key made here, so that a test can also forge a token with
the provider's own key (a wrong audience, an expired token) or with another key.
"""

import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.crm.receivers.azurite import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
START_TIMEOUT_SECONDS = 30.0
CLIENT_ID = "lead-portal"
CLIENT_SECRET = "lead-portal-test-client-secret-0123456789"
POST_LOGOUT_URI = "http://testserver/accounts/login/"
STAFF_GROUP = "lead-portal-staff"
DOMAIN = "contoso.test"

# The provider's accounts: id -> claims (the id is the subject).
ACCOUNTS = {
    "invited": {"email": f"ana@{DOMAIN}", "email_verified": True, "name": "Ana", "groups": []},
    "stranger": {"email": f"bob@{DOMAIN}", "email_verified": True, "name": "Bob", "groups": []},
    "unverified": {"email": f"eve@{DOMAIN}", "email_verified": False, "name": "Eve"},
    "outsider": {"email": "olga@fabrikam.test", "email_verified": True, "name": "Olga"},
    "staff": {
        "email": f"sam@{DOMAIN}",
        "email_verified": True,
        "name": "Sam",
        "groups": ["other-group", STAFF_GROUP],
    },
}


def new_key(kid: str) -> tuple[rsa.RSAPrivateKey, dict]:
    """An RSA key and its private JWK (for the provider's configuration)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key))
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return key, jwk


@dataclass
class OpenIdProvider:
    issuer: str
    key: rsa.RSAPrivateKey
    kid: str

    def sign(self, claims: dict, key: rsa.RSAPrivateKey | None = None) -> str:
        """A JWT with these claims, signed by the provider's key (or by `key`)."""
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": self.kid})


def wait_until_answering(process: subprocess.Popen, issuer: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"oidc-provider exited with {process.returncode}:\n{log.read_text()}")
        try:
            httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"oidc-provider did not answer in {START_TIMEOUT_SECONDS} s:\n{log.read_text()}")


@contextmanager
def running_provider(portal_url: str = "http://testserver") -> Iterator[OpenIdProvider]:
    """Start oidc-provider with one confidential client of the portal at `portal_url`,
    and ACCOUNTS; stop it after."""
    if not (REPO_ROOT / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("oidc-provider is not installed: run `npm ci` at the repository root")
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    key, jwk = new_key("test-key-1")
    config = {
        "port": port,
        "issuer": issuer,
        "jwks": {"keys": [jwk]},
        "clients": [
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [f"{portal_url}/oidc/callback/"],
                "post_logout_redirect_uris": [f"{portal_url}/accounts/login/"],
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_post",
            }
        ],
        "accounts": ACCOUNTS,
    }
    with tempfile.TemporaryDirectory(prefix="oidc-provider-") as workdir:
        log = Path(workdir) / "provider.log"
        with log.open("w") as output:
            process = subprocess.Popen(
                ["node", str(SCRIPT)],
                cwd=REPO_ROOT,
                env={"PATH": os.environ["PATH"], "OIDC_TEST_CONFIG": json.dumps(config)},
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            try:
                wait_until_answering(process, issuer, log)
                yield OpenIdProvider(issuer=issuer, key=key, kid=jwk["kid"])
            finally:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')
PROMPT = re.compile(r'name="prompt" value="(\w+)"')


def walk_provider(browser: httpx.Client, url: str, account: str) -> str:
    """Follow the provider's pages as a browser would, signing in as `account` and giving
    consent; return the URL it finally sends the browser to (the portal's callback)."""
    for _ in range(12):
        response = browser.get(url)
        if response.is_redirect:
            url = urljoin(url, response.headers["location"])
            if url.startswith("http://testserver"):
                return url
            continue
        assert response.status_code == 200, response.text
        action = urljoin(url, FORM_ACTION.search(response.text).group(1))
        prompt = PROMPT.search(response.text).group(1)
        data = {"prompt": prompt}
        if prompt == "login":
            data.update({"login": account, "password": "any"})
        answer = browser.post(action, data=data)
        assert answer.is_redirect, answer.text
        url = urljoin(action, answer.headers["location"])
        if url.startswith("http://testserver"):
            return url
    raise AssertionError("the provider never sent the browser back to the portal")
