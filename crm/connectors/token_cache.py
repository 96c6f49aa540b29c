"""An in-process cache of OAuth client-credentials tokens, shared by a worker's threads.

Keyed by (authority, client id, scope) and a fingerprint of the secret: two targets that
name the same client id with different secrets never share a token, so a wrong secret
fails on its own instead of riding on another target's token. A token is refreshed
shortly before it expires (60 s, or a tenth of a short lifetime), never after.
"""

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

REFRESH_MARGIN_SECONDS = 60.0


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_at: float  # on the cache's clock (time.monotonic by default)


@dataclass(frozen=True)
class TokenKey:
    authority: str
    client_id: str
    scope: str
    secret_fingerprint: str

    @classmethod
    def of(cls, *, authority: str, client_id: str, scope: str, secret: str) -> "TokenKey":
        fingerprint = hashlib.sha256(secret.encode()).hexdigest()[:16]
        return cls(authority.rstrip("/"), client_id, scope, fingerprint)


Fetch = Callable[[], tuple[str, float]]  # answers (access token, lifetime in seconds)


class TokenCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[TokenKey, Token] = {}
        self._locks: dict[TokenKey, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: TokenKey, fetch: Fetch) -> str:
        """A valid token for the key; calls `fetch` (once, across threads) when needed.

        Exceptions from `fetch` propagate and nothing is cached.
        """
        token = self._fresh(key)
        if token:
            return token.access_token
        with self._lock_for(key):
            token = self._fresh(key)  # another thread may have fetched it meanwhile
            if token:
                return token.access_token
            access_token, lifetime = fetch()
            margin = min(REFRESH_MARGIN_SECONDS, lifetime / 10)
            self._tokens[key] = Token(access_token, self._clock() + lifetime - margin)
            return access_token

    def invalidate(self, key: TokenKey, access_token: str) -> None:
        """Forget the token the CRM refused; a newer one fetched meanwhile is kept."""
        with self._guard:
            token = self._tokens.get(key)
            if token and token.access_token == access_token:
                del self._tokens[key]

    def clear(self) -> None:
        with self._guard:
            self._tokens.clear()

    def _fresh(self, key: TokenKey) -> Token | None:
        token = self._tokens.get(key)
        if token and self._clock() < token.expires_at:
            return token
        return None

    def _lock_for(self, key: TokenKey) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


# The process-wide cache the connectors use; tests pass their own.
default_cache = TokenCache()
