"""The HMAC keys of a stored hash that must survive a SECRET_KEY rotation.

Each use (suppression hashes, inbound URL tokens) has a purpose string of its own and a
setting that pins its key: the first key comes from that setting when it is set, else
from SECRET_KEY; SECRET_KEY and each SECRET_KEY_FALLBACKS entry follow, so a lookup
still matches what an earlier key wrote. New hashes always use the first key.
"""

import hashlib

from django.conf import settings


def _derive(purpose: str, secret: str) -> bytes:
    # What salted_hmac(purpose, …, secret=secret, algorithm="sha256") uses as its key.
    return hashlib.sha256((purpose + secret).encode()).digest()


def hmac_keys(*, purpose: str, pinned: str) -> list[bytes]:
    """The HMAC keys for `purpose`, the one that writes first; the others only match.
    `pinned` is the value of the use's own key setting ("" when not set)."""
    secrets = [pinned] if pinned else []
    secrets += [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    keys: list[bytes] = []
    for secret in secrets:
        key = _derive(purpose, secret)
        if key not in keys:
            keys.append(key)
    return keys
