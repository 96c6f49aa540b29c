"""Machine credentials: storefront keys, Microsoft-seller keys and publisher API tokens.

A key is 32 random bytes behind a readable prefix. Only its SHA-256 is stored: the key
has full entropy, so a fast hash is enough and a lookup is one indexed equality.
"""

import hashlib
import secrets

from django.utils import timezone

from leads.models import ApiKey, PublisherApiToken

PREFIXES = {
    ApiKey.Kind.STOREFRONT: "lpk_sf_",
    ApiKey.Kind.MICROSOFT_SELLER: "lpk_ms_",
    "publisher": "lpt_",
}


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_generate(kind: str) -> tuple[str, str, str]:
    """(key, its hash, its display prefix) for a new credential of this kind."""
    key = PREFIXES[kind] + secrets.token_urlsafe(32)
    return key, key_hash(key), key[: len(PREFIXES[kind]) + 4]


def api_key_authenticate(*, key: str, kind: str) -> ApiKey | None:
    """The live key of this kind that matches, touching its last use; else None."""
    if not key.startswith(PREFIXES[kind]):
        return None
    api_key = ApiKey.objects.filter(
        key_hash=key_hash(key), kind=kind, revoked_at__isnull=True
    ).first()
    if api_key is not None:
        _touch(ApiKey, api_key)
    return api_key


def publisher_token_authenticate(*, token: str) -> PublisherApiToken | None:
    if not token.startswith(PREFIXES["publisher"]):
        return None
    api_token = (
        PublisherApiToken.objects.filter(token_hash=key_hash(token), revoked_at__isnull=True)
        .select_related("publisher")
        .first()
    )
    if api_token is not None:
        _touch(PublisherApiToken, api_token)
    return api_token


def _touch(model, credential) -> None:
    """Record the last use at most once a minute, so a busy key does not write per call."""
    now = timezone.now()
    if credential.last_used_at is None or (now - credential.last_used_at).total_seconds() > 60:
        model.objects.filter(pk=credential.pk).update(last_used_at=now)
        credential.last_used_at = now
