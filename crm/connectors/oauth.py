"""The skeleton of the connectors whose CRM takes OAuth client-credentials tokens
(Dynamics 365, Marketo).

A TokenSession serves one batch: it takes the token from the worker's shared cache,
fetches one when there is none, and, when the CRM refuses the cached token, fetches a
fresh one and makes the call once more. A call that fails as a whole (the token
endpoint, an unreachable host, a refused address) raises CallFailure, which answers
every lead it stops with the same result. The subclass fetches the token and writes.
ClientCredentials is the grant a target's settings carry: the token request's fields
and the key the cache keeps its token under.
"""

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import httpx

from crm.connectors import http_client
from crm.connectors.base import DeliveryPayload, Result, SendOptions, all_results
from crm.connectors.ssrf import GuardPolicy, HostNotFound, TargetRefused, check_url
from crm.connectors.token_cache import TokenCache, TokenKey, default_cache

Answer = TypeVar("Answer")


class CallFailure(Exception):
    """A whole call (token or write) failed: every lead of the call gets this result."""

    def __init__(self, outcome: str, error: str, **fields) -> None:
        super().__init__(error)
        self.outcome, self.error, self.fields = outcome, error, fields

    def result_for(self, payload: DeliveryPayload) -> Result:
        return Result(payload.delivery_id, self.outcome, error=self.error, **self.fields)

    def results_for(self, payloads: list[DeliveryPayload]) -> list[Result]:
        return all_results(payloads, self.outcome, error=self.error, **self.fields)


def results_by_call[Item](
    items: list[Item], size: int, call: Callable[[list[Item]], list[Result]]
) -> list[Result]:
    """`call` on each run of `size` items in turn. When one raises CallFailure, its answer
    is the result of that run's items and of every later one: the later calls would meet
    the same token, limit or outage."""
    results: list[Result] = []
    for start in range(0, len(items), size):
        try:
            results += call(items[start : start + size])
        except CallFailure as failure:
            return results + failure.results_for(items[start:])
    return results


@dataclass(frozen=True)
class ClientCredentials:
    """A client-credentials grant: who asks for the token, and for what."""

    authority: str  # where the token comes from: the cache keeps one per authority
    client_id: str
    client_secret: str = field(repr=False)  # never in a repr, so never in a log line
    scope: str = ""  # empty where the token endpoint takes no scope (Marketo)

    def token_key(self) -> TokenKey:
        return TokenKey.of(
            authority=self.authority,
            client_id=self.client_id,
            scope=self.scope,
            secret=self.client_secret,
        )

    def grant(self) -> dict[str, str]:
        """The token request's fields."""
        fields = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        if self.scope:
            fields["scope"] = self.scope
        return fields


def check_urls(urls: tuple[str, ...], options: SendOptions) -> None:
    """Refuse a scheme or a non-public address now (ConfigurationError); the connection
    itself is checked again at connect time by ssrf.GuardedBackend."""
    policy = GuardPolicy(options.allow_private_targets, options.require_https)
    for url in urls:
        with contextlib.suppress(HostNotFound):  # DNS may recover: the request is retried
            check_url(url, policy)


class TokenSettings(Protocol):
    """A target's checked settings, which name the credentials of its token."""

    @property
    def credentials(self) -> ClientCredentials: ...


class TokenSession[Settings: TokenSettings]:
    """One batch's calls with a cached client-credentials token."""

    #: The connector's kind: its pooled clients are its own (http_client.client_for).
    kind = ""
    #: How the token endpoint is named in errors ("the Marketo identity service").
    token_service = ""

    def __init__(self, settings: Settings, cache: TokenCache, options: SendOptions) -> None:
        self.settings, self.cache, self.options = settings, cache, options
        self.credentials = settings.credentials
        self.key = self.credentials.token_key()
        self.timeout = http_client.timeout_for(options)

    def client(self, url: str) -> httpx.Client:
        """The pooled, guarded client for the origin of `url`."""
        return http_client.client_for(self.kind, url, self.options)

    def send(self, payloads: list[DeliveryPayload]) -> list[Result]:
        """One result per payload, in order."""
        raise NotImplementedError

    def erase(self, requests: list) -> list[Result]:
        """One result per erasure request, in order (the erasers' sessions)."""
        raise NotImplementedError

    def fetch_token(self) -> tuple[str, float]:
        """Ask the token endpoint: (access token, lifetime in seconds), or CallFailure."""
        raise NotImplementedError

    def with_token(self, call: Callable[[str, bool], Answer | None]) -> Answer:
        """Run call(token, may_refresh); when it answers None (the CRM refused the token),
        drop that token and run it once more with a fresh one, may_refresh False."""
        for may_refresh in (True, False):
            token = self.cache.get(self.key, self.fetch_token)
            answer = call(token, may_refresh)
            if answer is not None:
                return answer
            self.cache.invalidate(self.key, token)  # expired or revoked: fetch anew once
        raise AssertionError("a call that may not refresh must answer")

    def request(self, method: str, url: str, what: str, **kwargs) -> httpx.Response:
        """One HTTP call; a refused address, a timeout or a transport error raises
        CallFailure. Errors name the exception's type only: a URL may carry a secret."""
        try:
            return self.client(url).request(method, url, timeout=self.timeout, **kwargs)
        except TargetRefused as exc:
            raise CallFailure("permanent", f"{what}: {exc}") from None
        except httpx.TimeoutException:
            raise CallFailure("retryable", f"{what} timed out") from None
        except httpx.TransportError as exc:
            raise CallFailure(
                "retryable", f"could not reach {what} ({type(exc).__name__})"
            ) from None

    def read_token(self, response: httpx.Response) -> tuple[str, float]:
        """The token and its lifetime from a 200 answer of the token endpoint."""
        try:
            answer = response.json()
            return str(answer["access_token"]), float(answer.get("expires_in", 3599))
        except (ValueError, KeyError, TypeError):
            error = f"{self.token_service} answered an unreadable token"
            raise CallFailure("retryable", error) from None


class TokenConnector:
    """A connector that checks the target's config and sends a batch in one TokenSession."""

    kind = ""

    def __init__(self, token_cache: TokenCache = default_cache) -> None:
        self.token_cache = token_cache

    def send(
        self, config: dict, payloads: list[DeliveryPayload], options: SendOptions
    ) -> list[Result]:
        if not payloads:
            return []
        return self.open(config, options).send(payloads)

    def erase(self, config: dict, requests: list, options: SendOptions) -> list[Result]:
        """The eraser's half (a subclass whose session erases): one Result per request."""
        if not requests:
            return []
        return self.open(config, options).erase(requests)

    def open(self, config: dict, options: SendOptions) -> TokenSession:
        """A session for the target's settings; raises ConfigurationError."""
        raise NotImplementedError
