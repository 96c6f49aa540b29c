"""The secret of a Partner Center inbound URL: its token, and how it is stored and found.

Partner Center's HTTPS-endpoint destination sends no header, signature or lead id, so the
URL's token is the only secret. It is `secrets.token_urlsafe(32)`: 256 random bits in 43
URL-safe characters.

Only HMAC-SHA256(key, token), hex, is stored. The key is derived, with a salt of its own
("leadportal.inbound-token"), as the suppression hashes derive theirs (portal.hmac_keys):

- from INBOUND_TOKEN_HASH_KEY when it is set (recommended in production: it never has to
  change when SECRET_KEY rotates);
- else from SECRET_KEY.

A lookup tries the hashes under every key (INBOUND_TOKEN_HASH_KEY, SECRET_KEY and each of
SECRET_KEY_FALLBACKS), so rotating SECRET_KEY with the old one in the fallbacks, or setting
INBOUND_TOKEN_HASH_KEY later, never breaks a URL that Partner Center already holds.

A lookup is one indexed equality on the hash, so its time says nothing about how close a
guess was, and the matched hash is compared again with `hmac.compare_digest`.
"""

import hashlib
import hmac
import re
import secrets

from django.conf import settings

from portal.hmac_keys import hmac_keys

PURPOSE = "leadportal.inbound-token"
TOKEN_BYTES = 32
# token_urlsafe(32): 43 characters of the URL-safe base64 alphabet.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


def hash_keys() -> list[bytes]:
    """The HMAC keys, the one that writes first; the others only match."""
    return hmac_keys(purpose=PURPOSE, pinned=settings.INBOUND_TOKEN_HASH_KEY)


def token_hash(token: str, key: bytes | None = None) -> str:
    """The token's stored form under `key` (default: the key that writes)."""
    key = key or hash_keys()[0]
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def token_hashes(token: str) -> list[str]:
    """The token's stored form under every key that may have written it; none when the
    text cannot be a token at all."""
    if not TOKEN_SHAPE.fullmatch(token):
        return []
    return [token_hash(token, key) for key in hash_keys()]


def hash_matches(stored: str, candidates: list[str]) -> bool:
    """Whether `stored` is one of the candidates, compared in constant time."""
    return bool(stored) and any(hmac.compare_digest(stored, c) for c in candidates)


def token_generate() -> tuple[str, str]:
    """(token, its hash) for a new inbound URL; the token is shown once and never stored."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)
