"""Standard Webhooks signing (reference/reliability-security.md §1).

`webhook-signature` is `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one per
active secret, space-separated: during a rotation both secrets sign, so the receiver
can switch at its own pace. The secret is `whsec_` + base64 of 32 random bytes; it is
decoded exactly as the official `standardwebhooks` library decodes it.
"""

import base64
import hashlib
import hmac
import secrets
import time

from crm.connectors.base import ConfigurationError

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
MAX_ACTIVE_SECRETS = 2


def secret_generate() -> str:
    """A new signing secret for an endpoint."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a `whsec_` secret stands for."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    # Like the official library: tolerate missing padding (b64decode skips extra '=').
    key = base64.b64decode(encoded + "==")
    if not key:
        raise ConfigurationError("the signing secret is empty")
    return key


def secrets_from_config(value: object) -> list[str]:
    """`signingSecret` is one secret, or during a rotation a list of two."""
    candidates = [value] if isinstance(value, str) else value
    if (
        not isinstance(candidates, list)
        or not 1 <= len(candidates) <= MAX_ACTIVE_SECRETS
        or not all(isinstance(s, str) and s.startswith(SECRET_PREFIX) for s in candidates)
    ):
        raise ConfigurationError(
            "signingSecret must be a whsec_ secret, or a list of two during a rotation"
        )
    for candidate in candidates:
        try:
            secret_key(candidate)
        except ValueError as exc:  # binascii.Error is a ValueError
            raise ConfigurationError("the signing secret is not valid base64") from exc
    return candidates


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signing_headers(
    signing_secrets: list[str], msg_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for exactly these body bytes."""
    if "." in msg_id:
        raise ConfigurationError("a webhook id must not contain '.'")
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            signature(secret, msg_id, timestamp, body) for secret in signing_secrets
        ),
    }
