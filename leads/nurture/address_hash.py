"""How the suppression list and unsubscribe tokens name an address without keeping it.

An address is named by HMAC-SHA256(key, normalized address), hex. A bare SHA-256 of an
address can be reversed by hashing a list of candidate addresses; a keyed HMAC cannot
without the key. The key is `django.utils.crypto.salted_hmac`'s derivation with a salt of
its own ("leadportal.suppression"), so the key is no other part of the portal's key:

- from SUPPRESSION_HASH_KEY when it is set (recommended in production: it never has to
  change when SECRET_KEY rotates);
- else from SECRET_KEY.

Lookups also try the keys derived from SECRET_KEY and from every SECRET_KEY_FALLBACKS
entry, so neither rotating SECRET_KEY (with the old one in the fallbacks) nor setting
SUPPRESSION_HASH_KEY later ever orphans an opt-out. New rows always use the first key.

Rows written before the HMAC (migration 0009) hold the bare SHA-256 and `is_legacy`;
those are matched by the SHA-256 for as long as they exist.
"""

import hashlib
import hmac

from django.conf import settings

from portal.hmac_keys import hmac_keys

PURPOSE = "leadportal.suppression"
_BLOCK = 64  # SHA-256's block size: HMAC pads its key to it


def hash_keys() -> list[bytes]:
    """The HMAC keys, the one that writes first; the others only match."""
    return hmac_keys(purpose=PURPOSE, pinned=settings.SUPPRESSION_HASH_KEY)


def normalize(email: str) -> str:
    """Lead.normalize_email, repeated so that this module needs no model."""
    return email.strip().lower()


def address_hash(email: str) -> str:
    """The address's name under the current key: what new rows and tokens carry."""
    return _hmac(hash_keys()[0], normalize(email))


def address_hashes(email: str) -> list[str]:
    """The address's name under every key that may have written a row."""
    address = normalize(email)
    return [_hmac(key, address) for key in hash_keys()]


def legacy_hash(email: str) -> str:
    """The bare SHA-256 that rows and tokens carried before the HMAC."""
    return hashlib.sha256(normalize(email).encode()).hexdigest()


def _hmac(key: bytes, address: str) -> str:
    return hmac.new(key, address.encode(), hashlib.sha256).hexdigest()


def hmac_sql(column: str, key: bytes) -> tuple[str, list[bytes]]:
    """The same HMAC computed by PostgreSQL over `column` (a trusted SQL identifier).

    PostgreSQL has sha256() built in but hmac() only in pgcrypto, so this is RFC 2104
    spelled out: sha256((K ^ opad) || sha256((K ^ ipad) || message)). The padded keys
    are bound parameters, never SQL text.
    """
    padded = key.ljust(_BLOCK, b"\0")
    outer = bytes(byte ^ 0x5C for byte in padded)
    inner = bytes(byte ^ 0x36 for byte in padded)
    sql = f"encode(sha256(%s::bytea || sha256(%s::bytea || convert_to({column}, 'UTF8'))), 'hex')"
    return sql, [outer, inner]


def legacy_sql(column: str) -> str:
    """The bare SHA-256 of `column`, hex, in PostgreSQL."""
    return f"encode(sha256(convert_to({column}, 'UTF8')), 'hex')"


def suppressed_sql(*, publisher_column: str, email_column: str) -> tuple[str, list[bytes]]:
    """An SQL condition: the address in `email_column` is suppressed for the publisher."""
    expressions, params = [], []
    for key in hash_keys():
        sql, key_params = hmac_sql(email_column, key)
        expressions.append(sql)
        params += key_params
    # Only identifiers of ours and placeholders go into the text.
    condition = (
        "EXISTS (SELECT 1 FROM leads_suppression su "  # noqa: S608
        f"WHERE su.publisher_id = {publisher_column} AND ("
        f"(NOT su.is_legacy AND su.email_hash IN ({', '.join(expressions)})) "
        f"OR (su.is_legacy AND su.email_hash = {legacy_sql(email_column)})))"
    )
    return condition, params
