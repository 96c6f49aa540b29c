"""Machine credentials: storefront keys, Microsoft-seller keys and publisher API tokens.

A key is 32 random bytes behind a readable prefix. Only its SHA-256 is stored: the key
has full entropy, so a fast hash is enough and a lookup is one indexed equality. A live
storefront or seller key is cached per process (`leads.intake.reference`): its revocation
is seen by the next request.

Failed authentications are counted per client address (`portal.throttling`, a window of
API_AUTH_WINDOW_MINUTES in the cache). At API_AUTH_FAILURE_LIMIT, every call from that
address is refused with `AuthThrottled` (429) until the window ends, a valid key included:
otherwise a key guesser would learn which guess was right from the answer that is not 429.
"""

import hashlib
import logging
import secrets

from django.conf import settings
from django.utils import timezone

from leads.intake import reference
from leads.models import ApiKey, PublisherApiToken
from portal import throttling
from portal.models import Publisher

logger = logging.getLogger(__name__)

PREFIXES = {
    ApiKey.Kind.STOREFRONT: "lpk_sf_",
    ApiKey.Kind.MICROSOFT_SELLER: "lpk_ms_",
    "publisher": "lpt_",
}


def key_hash(key: str) -> str:
    # A header can never carry a lone surrogate over the wire, but a test client can.
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def key_generate(kind: str) -> tuple[str, str, str]:
    """(key, its hash, its display prefix) for a new credential of this kind."""
    key = PREFIXES[kind] + secrets.token_urlsafe(32)
    return key, key_hash(key), key[: len(PREFIXES[kind]) + 4]


class AuthThrottled(Exception):
    """Too many failed authentications from this address; retry after `retry_after` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def _window(client_address: str, *, count: bool) -> throttling.WindowCount:
    scope, window_seconds = "api-auth", settings.API_AUTH_WINDOW_MINUTES * 60
    if count:
        return throttling.window_hit(
            scope=scope, subject=client_address, window_seconds=window_seconds
        )
    # Read with the reference data's tokens, which the key's lookup needs next: one trip.
    return throttling.window_count(
        scope=scope,
        subject=client_address,
        window_seconds=window_seconds,
        read=reference.read_with_tokens,
    )


def auth_throttle_check(*, client_address: str | None) -> None:
    """Raise AuthThrottled if this address has used up its failed authentications."""
    if client_address is None:
        return
    window = _window(client_address, count=False)
    if window.count >= settings.API_AUTH_FAILURE_LIMIT:
        raise AuthThrottled(window.retry_after)


def auth_failure_record(*, client_address: str | None, kind: str) -> None:
    """Count one failed authentication against this address."""
    if client_address is None:
        return
    window = _window(client_address, count=True)
    if window.count == settings.API_AUTH_FAILURE_LIMIT:
        logger.warning("api.auth.throttled", extra={"kind": kind})


def api_key_authenticate(
    *, key: str, kind: str, client_address: str | None = None
) -> ApiKey | None:
    """The live key of this kind that matches, touching its last use; else None.

    With the caller's address, a throttled address raises AuthThrottled and a failure
    is counted against it.
    """
    auth_throttle_check(client_address=client_address)
    api_key = None
    if key.startswith(PREFIXES[kind]):
        api_key = reference.api_key_live(hashed=key_hash(key), kind=kind)
    if api_key is None:
        auth_failure_record(client_address=client_address, kind=kind)
        return None
    _touch(ApiKey, api_key)
    return api_key


def publisher_token_authenticate(
    *, token: str, client_address: str | None = None
) -> PublisherApiToken | None:
    """The live publisher token that matches, as `api_key_authenticate` does for keys."""
    auth_throttle_check(client_address=client_address)
    api_token = None
    if token.startswith(PREFIXES["publisher"]):
        api_token = (
            PublisherApiToken.objects.filter(token_hash=key_hash(token), revoked_at__isnull=True)
            .select_related("publisher")
            .first()
        )
    if api_token is None:
        auth_failure_record(client_address=client_address, kind="publisher")
        return None
    _touch(PublisherApiToken, api_token)
    return api_token


def _touch(model, credential) -> None:
    """Record the last use at most once a minute, so a busy key does not write per call."""
    now = timezone.now()
    if credential.last_used_at is None or (now - credential.last_used_at).total_seconds() > 60:
        model.objects.filter(pk=credential.pk).update(last_used_at=now)
        credential.last_used_at = now


def api_key_create(*, kind: str, name: str, storefront: str = "") -> tuple[ApiKey, str]:
    """Create a storefront or Microsoft-seller key; the plaintext is returned once."""
    key, hashed, prefix = key_generate(kind)
    api_key = ApiKey(kind=kind, storefront=storefront, name=name, prefix=prefix, key_hash=hashed)
    api_key.full_clean()
    api_key.save()
    return api_key, key


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key: it stops working at once and cannot be restored."""
    return _revoke(api_key)


def publisher_token_create(*, publisher: Publisher, name: str, created_by=None):
    """Create a publisher API token; the plaintext is returned once."""
    token, hashed, prefix = key_generate("publisher")
    api_token = PublisherApiToken.objects.create(
        publisher=publisher, name=name, prefix=prefix, token_hash=hashed, created_by=created_by
    )
    return api_token, token


def publisher_token_revoke(*, api_token: PublisherApiToken) -> PublisherApiToken:
    """Revoke a publisher API token."""
    return _revoke(api_token)


def _revoke[C: (ApiKey, PublisherApiToken)](credential: C) -> C:
    if credential.revoked_at is None:
        credential.revoked_at = timezone.now()
        credential.save(update_fields=["revoked_at"])
    return credential
