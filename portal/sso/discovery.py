"""The provider's endpoints, from its discovery document, cached.

Read on the first sign-in that needs them rather than at start-up: a provider that is down
costs a failed sign-in, never a web process that does not start.
"""

import requests
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

# mozilla-django-oidc's setting names, and the discovery keys they are read from.
ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}


# The library's names of the client's settings, and this project's (OIDC_CLIENT_ID, ...).
ALIASES = {"OIDC_RP_CLIENT_ID": "OIDC_CLIENT_ID", "OIDC_RP_CLIENT_SECRET": "OIDC_CLIENT_SECRET"}


class DiscoveryError(Exception):
    """The discovery document could not be read, or it names another issuer."""


def sso_enabled() -> bool:
    return bool(settings.OIDC_ISSUER and settings.OIDC_CLIENT_ID)


def _cache_key() -> str:
    return f"sso:discovery:{settings.OIDC_ISSUER}"


def discovery() -> dict:
    """The issuer's discovery document (cached for OIDC_DISCOVERY_CACHE_SECONDS)."""
    if not sso_enabled():
        raise ImproperlyConfigured("OIDC_ISSUER and OIDC_CLIENT_ID are not set.")
    document = cache.get(_cache_key())
    if document is not None:
        return document
    url = f"{settings.OIDC_ISSUER}/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as error:
        raise DiscoveryError(f"The discovery document at {url} could not be read.") from error
    if document.get("issuer", "").rstrip("/") != settings.OIDC_ISSUER:
        raise DiscoveryError(f"The discovery document at {url} names another issuer.")
    missing = [
        key
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri")
        if key not in document
    ]
    if missing:
        raise DiscoveryError(f"The discovery document at {url} lacks {', '.join(missing)}.")
    cache.set(_cache_key(), document, settings.OIDC_DISCOVERY_CACHE_SECONDS)
    return document


def oidc_setting(attr: str, *default):
    """mozilla-django-oidc's get_settings, with the endpoints read from discovery."""
    if attr in ENDPOINTS:
        return discovery().get(ENDPOINTS[attr], "")
    attr = ALIASES.get(attr, attr)
    if default:
        return getattr(settings, attr, default[0])
    return getattr(settings, attr)
