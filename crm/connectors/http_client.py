"""Shared httpx plumbing for the connectors.

- One pooled client per (kind, origin, guard policy, extra CA bundle), kept in a small LRU.
  Every client connects through the SSRF guard (ssrf.GuardedBackend), never follows a
  redirect and ignores HTTP(S)_PROXY and friends (trust_env=False).
- Timeouts come from SendOptions: connect 5 s; each read and write at most the total
  (30 s), and reading the answer stops once the total has passed. Answers are read up to
  64 KiB; a Result keeps 500 characters.
- Certificates are checked against certifi's bundle, plus the PEM file that the
  environment variable CRM_EXTRA_CA_BUNDLE names, if set (a private CA, or the tests' CA).
- An HTTP answer or a transport error becomes a Result (status → outcome mapping below).
- `request()` is the one way out: `post()` and `send()` use it, and so does the Azure
  Table SDK, through `azure_transport.GuardedTransport`.
"""

import email.utils
import logging
import os
import ssl
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus

import certifi
import httpcore
import httpx

from crm.connectors.base import ConfigurationError, Result, SendOptions, excerpt
from crm.connectors.ssrf import GuardedBackend, GuardPolicy, TargetRefused, scheme_refusal

logger = logging.getLogger(__name__)
# httpx logs every request's full URL at INFO, and an endpoint URL can carry a secret
# (Power Automate's `sig=` query parameter): keep those lines out of the logs.
logging.getLogger("httpx").setLevel(logging.WARNING)

USER_AGENT = "LeadPortal/1"
EXTRA_CA_BUNDLE_ENV = "CRM_EXTRA_CA_BUNDLE"
MAX_RETRY_AFTER = 24 * 3600.0
MAX_BODY_BYTES = 64 * 1024
MAX_CLIENTS = 128
RETRYABLE_STATUSES = frozenset({408, 425, 429})
LIMITS = httpx.Limits(max_connections=10, max_keepalive_connections=5, keepalive_expiry=30.0)

_clients: OrderedDict[tuple, httpx.Client] = OrderedDict()
_clients_lock = threading.Lock()


@dataclass(frozen=True)
class Reply:
    status_code: int
    headers: httpx.Headers
    text: str  # the first 64 KiB (or the caller's limit) of the answer, decoded
    content: bytes = b""  # the same bytes, undecoded
    reason: str = ""
    is_truncated: bool = False  # the answer was longer than the limit


def url_checked(url: str, options: SendOptions, *, what: str) -> str:
    """The URL, when it parses and its scheme is allowed; raises ConfigurationError."""
    try:
        scheme = httpx.URL(url).scheme
    except httpx.InvalidURL as exc:
        raise ConfigurationError(f"{what} is not valid ({exc})") from exc
    refusal = scheme_refusal(scheme, policy_for(options))
    if refusal:
        raise ConfigurationError(refusal)
    return url


def policy_for(options: SendOptions) -> GuardPolicy:
    return GuardPolicy(
        allow_private_targets=options.allow_private_targets,
        require_https=options.require_https,
    )


def ssl_context() -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=certifi.where())
    extra_bundle = os.environ.get(EXTRA_CA_BUNDLE_ENV)
    if extra_bundle:
        context.load_verify_locations(cafile=extra_bundle)
    return context


def client_for(kind: str, url: str, options: SendOptions) -> httpx.Client:
    """The pooled client for this kind and origin (built on first use)."""
    parsed = httpx.URL(url)
    origin = (parsed.scheme, parsed.host, parsed.port)
    key = (kind, origin, policy_for(options), os.environ.get(EXTRA_CA_BUNDLE_ENV, ""))
    with _clients_lock:
        client = _clients.get(key)
        if client is not None:
            _clients.move_to_end(key)
            return client
        client = _clients[key] = _build_client(policy_for(options))
        if len(_clients) > MAX_CLIENTS:
            _, oldest = _clients.popitem(last=False)
            oldest.close()
    return client


def _build_client(policy: GuardPolicy) -> httpx.Client:
    context = ssl_context()
    transport = httpx.HTTPTransport(verify=context, trust_env=False, limits=LIMITS)
    # httpx takes no network backend of its own, so its pool is replaced by one that
    # connects through the guard (the same pool settings, plus network_backend).
    transport._pool = httpcore.ConnectionPool(
        ssl_context=context,
        max_connections=LIMITS.max_connections,
        max_keepalive_connections=LIMITS.max_keepalive_connections,
        keepalive_expiry=LIMITS.keepalive_expiry,
        network_backend=GuardedBackend(policy),
    )
    return httpx.Client(
        transport=transport,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
    )


def clients_close() -> None:
    """Close every pooled client (tests; a worker's shutdown)."""
    with _clients_lock:
        while _clients:
            _, client = _clients.popitem()
            client.close()


def timeout_for(options: SendOptions) -> httpx.Timeout:
    return httpx.Timeout(options.total_timeout, connect=options.connect_timeout)


def post(*, kind: str, url: str, content: bytes, headers: dict, options: SendOptions) -> Reply:
    """POST and read the answer; raises httpx errors and ssrf.TargetRefused."""
    return request(
        kind=kind, method="POST", url=url, content=content, headers=headers, options=options
    )


def request(
    *,
    kind: str,
    method: str,
    url: str,
    content: bytes | None,
    headers: dict,
    options: SendOptions,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Reply:
    """Send one request through the guarded client and read at most `max_body_bytes` of
    the answer; raises httpx errors and ssrf.TargetRefused."""
    client = client_for(kind, url, options)
    deadline = time.monotonic() + options.total_timeout
    with client.stream(
        method, url, content=content, headers=headers, timeout=timeout_for(options)
    ) as response:
        body, is_truncated = _read_capped(response, deadline, max_body_bytes)
    text = body.decode(response.encoding or "utf-8", errors="replace")
    return Reply(
        response.status_code,
        response.headers,
        text,
        content=body,
        reason=response.reason_phrase,
        is_truncated=is_truncated,
    )


def _read_capped(response: httpx.Response, deadline: float, limit: int) -> tuple[bytes, bool]:
    """At most `limit` bytes of the answer, and whether there was more."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body.extend(chunk)
        if len(body) > limit:
            break
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("the answer took longer than the total timeout")
    return bytes(body[:limit]), len(body) > limit


def send(
    *, kind: str, delivery_id: str, url: str, content: bytes, headers: dict, options: SendOptions
) -> Result:
    """POST one payload and map the answer, or the failure, to a Result."""
    try:
        reply = post(kind=kind, url=url, content=content, headers=headers, options=options)
    except (httpx.HTTPError, httpx.InvalidURL, TargetRefused) as exc:
        result = result_for_error(delivery_id, exc)
    else:
        result = result_for_reply(delivery_id, reply)
    logger.info(
        "crm.http.attempt",
        extra={
            "kind": kind,
            "host": httpx.URL(url).host,
            "status": result.status_code,
            "outcome": result.outcome,
        },
    )
    return result


def result_for_reply(delivery_id: str, reply: Reply) -> Result:
    """Any 2xx is delivered; 3xx (never followed) and 4xx are permanent, except
    408/425/429, which are retried like 5xx, after Retry-After when given."""
    code = reply.status_code
    fields = {"status_code": code, "response_excerpt": excerpt(reply.text)}
    if 200 <= code < 300:
        return Result(delivery_id, "delivered", **fields)
    if 300 <= code < 400:
        error = f"{code} {phrase(code)}: redirect refused (redirects are never followed)"
        return Result(delivery_id, "permanent", error=error, **fields)
    if code == 410:
        error = "410 Gone: the endpoint says it no longer exists; the target is paused"
        return Result(delivery_id, "permanent", error=error, **fields)
    if code in RETRYABLE_STATUSES or code >= 500:
        retry_after = retry_after_seconds(reply.headers.get("Retry-After"))
        error = f"{code} {phrase(code)}"
        return Result(delivery_id, "retryable", error=error, retry_after=retry_after, **fields)
    return Result(delivery_id, "permanent", error=f"{code} {phrase(code)}", **fields)


def phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown Status"


def result_for_error(delivery_id: str, exc: Exception) -> Result:
    """Failures before the request left are safe to retry; after it left, the CRM may
    have the lead already, so the retry may duplicate it (said in the error)."""
    if isinstance(exc, TargetRefused):
        return Result(delivery_id, "permanent", error=str(exc))
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return Result(delivery_id, "permanent", error=f"the URL cannot be used ({exc})")
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return Result(delivery_id, "retryable", error="timed out connecting; nothing was sent")
    if isinstance(exc, httpx.ConnectError):
        error = f"could not connect: {connect_failure(exc)}; nothing was sent"
        return Result(delivery_id, "retryable", error=error)
    if isinstance(exc, httpx.TimeoutException):
        error = "timed out waiting for the answer; the CRM may have received the lead"
        return Result(delivery_id, "retryable", error=error)
    error = f"the connection failed ({type(exc).__name__}); the CRM may have received the lead"
    return Result(delivery_id, "retryable", error=error)


# A transport error's text (OpenSSL's or the OS's) → a sentence a newcomer can act on.
CONNECT_FAILURES = (
    (
        ("WRONG_VERSION_NUMBER", "record layer failure", "packet length too long"),
        "the server at that address does not speak HTTPS (if it is a plain HTTP server, "
        "such as the demo receiver, its address starts with http://)",
    ),
    (
        ("certificate has expired",),
        "the server's certificate has expired",
    ),
    (
        ("Hostname mismatch", "IP address mismatch", "doesn't match"),
        "the server's certificate is made out for another host name",
    ),
    (
        ("CERTIFICATE_VERIFY_FAILED", "self-signed", "self signed", "unable to get local issuer"),
        "the server's certificate is not trusted (self-signed, or issued by an authority "
        "this portal does not know)",
    ),
    (
        ("SSL", "TLS"),
        "the secure (TLS) handshake with the server failed",
    ),
    (
        ("Connection refused", "Errno 111", "Errno 61"),
        "nothing accepts connections at that address and port (connection refused)",
    ),
    (
        ("Name or service not known", "nodename nor servname", "name resolution", "no address"),
        "the host name could not be found",
    ),
    (
        ("Network is unreachable", "No route to host"),
        "the network cannot reach that address",
    ),
    (
        ("Connection reset",),
        "the server closed the connection before answering",
    ),
)


def connect_failure(exc: BaseException) -> str:
    """Why a connection could not be made, as a sentence, never OpenSSL's raw
    text such as "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1000)"."""
    text = str(exc)
    for markers, sentence in CONNECT_FAILURES:
        if any(marker.lower() in text.lower() for marker in markers):
            return sentence
    return f"the connection failed ({type(exc).__name__})"


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (RFC 9110 §10.2.3: delay-seconds or an HTTP-date),
    at least 0 and at most 24 hours; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        seconds = float(int(value))
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
