"""Marketo REST: createOrUpdate by email, at most 300 leads a call.

Token: `GET /identity/oauth/token` (client credentials), cached until shortly before it
expires. Marketo answers HTTP 200 even for errors; the body says what happened:
- a top-level error 601/602 (token invalid or expired) fetches a new token and retries
  the call once;
- 606 (rate limit, 100 calls per 20 s) and the other transient codes are retryable;
- a call that fails as a whole stops the batch: the remaining calls would meet the same
  token, limit or outage, so their leads get the same result without being sent;
- otherwise one result per input, in order: created or updated is delivered; skipped
  is permanent for that lead, with Marketo's reasons (1xxx codes).
createOrUpdate by email is idempotent, so retrying a whole call never duplicates a lead.
"""

import contextlib
import json
import re
from dataclasses import dataclass

import httpx

from crm.connectors import http_client
from crm.connectors.base import (
    ConfigurationError,
    DeliveryPayload,
    Result,
    SendOptions,
    all_results,
    excerpt,
)
from crm.connectors.ssrf import GuardPolicy, HostNotFound, TargetRefused, check_url
from crm.connectors.token_cache import TokenCache, TokenKey, default_cache

MAX_INPUTS_PER_CALL = 300
LEADS_PATH = "/rest/v1/leads.json"
TOKEN_PATH = "/identity/oauth/token"
TOKEN_CODES = {"601", "602"}
# Transient codes, and how long Marketo suggests waiting (None: our own backoff).
RETRYABLE_CODES = {
    "604": None,  # request timed out
    "606": 20.0,  # rate limit: 100 calls per 20 s
    "607": 3600.0,  # daily quota: it resets at midnight US Central time
    "608": 60.0,  # API temporarily unavailable
    "611": None,  # system error
    "615": 5.0,  # concurrent access limit (10)
    "713": None,  # transient error
    "719": None,  # lock wait timeout
}
_MUNCHKIN = re.compile(r"^[A-Za-z0-9-]{3,30}$")


@dataclass(frozen=True)
class MarketoSettings:
    base_url: str
    client_id: str
    client_secret: str


def settings_from(config: dict) -> MarketoSettings:
    """The target's config, checked; raises ConfigurationError with a readable reason."""
    missing = [
        key
        for key in ("munchkinId", "clientId", "clientSecret")
        if not str(config.get(key) or "").strip()
    ]
    if missing:
        raise ConfigurationError(f"Marketo target is missing {', '.join(missing)}")
    munchkin = str(config["munchkinId"]).strip()
    if not _MUNCHKIN.match(munchkin):
        raise ConfigurationError("munchkinId must look like 123-ABC-456")
    base_url = str(config.get("baseUrl") or f"https://{munchkin}.mktorest.com").strip()
    return MarketoSettings(
        base_url=base_url.rstrip("/"),
        client_id=str(config["clientId"]).strip(),
        client_secret=str(config["clientSecret"]),
    )


def lead_input(payload: DeliveryPayload) -> dict:
    record = {
        "email": payload.email,
        "firstName": payload.first_name,
        "lastName": payload.last_name,
        "phone": payload.phone,
        "company": payload.company,
        "title": payload.title,
        "country": payload.country,
        "leadSource": payload.lead_source,
    }
    record.update(payload.extra_fields)
    record["email"] = payload.email  # the lookup field: a constant extra field never replaces it
    return record


class CallFailure(Exception):
    """A whole call (token or write) failed: every lead of the call gets this result."""

    def __init__(self, outcome: str, error: str, **fields) -> None:
        super().__init__(error)
        self.outcome, self.error, self.fields = outcome, error, fields

    def results_for(self, payloads: list[DeliveryPayload]) -> list[Result]:
        return all_results(payloads, self.outcome, error=self.error, **self.fields)


def code_failure(errors: list[dict], status_code: int) -> CallFailure:
    """The failure a top-level Marketo error list stands for."""
    first = errors[0] if errors else {}
    code, message = str(first.get("code", "")), str(first.get("message", ""))[:200]
    fields = {"status_code": status_code, "response_excerpt": excerpt(json.dumps(errors))}
    if code in RETRYABLE_CODES:
        return CallFailure(
            "retryable",
            f"Marketo error {code}: {message}",
            retry_after=RETRYABLE_CODES[code],
            **fields,
        )
    if code in TOKEN_CODES:
        message = f"{message}; check the API user's role and the LaunchPoint service"
    return CallFailure("permanent", f"Marketo error {code}: {message}", **fields)


def http_failure(response: httpx.Response, what: str) -> CallFailure:
    status = response.status_code
    fields = {"status_code": status, "response_excerpt": excerpt(response.text)}
    if status in {408, 429} or status >= 500:
        return CallFailure("retryable", f"{what} answered HTTP {status}", **fields)
    return CallFailure("permanent", f"{what} answered HTTP {status}", **fields)


def lead_result(payload: DeliveryPayload, entry: dict, status_code: int) -> Result:
    status = str(entry.get("status", ""))
    if status in {"created", "updated"}:
        answer = json.dumps({"id": entry.get("id"), "status": status})
        return Result(payload.delivery_id, "delivered", status_code, response_excerpt=answer)
    reasons = entry.get("reasons") or []
    reason = "; ".join(f"{r.get('code', '')} {r.get('message', '')}".strip() for r in reasons)
    return Result(
        payload.delivery_id,
        "permanent",
        status_code,
        error=f"Marketo {status or 'did not accept'} the lead: {reason or 'no reason given'}",
        response_excerpt=excerpt(json.dumps(reasons)),
    )


class MarketoSession:
    """One batch's calls: a client, the settings and the cached token."""

    def __init__(self, settings: MarketoSettings, cache: TokenCache, options: SendOptions):
        self.settings, self.cache = settings, cache
        self.client = http_client.client_for("marketo", settings.base_url, options)
        self.timeout = http_client.timeout_for(options)
        self.key = TokenKey.of(
            authority=settings.base_url,
            client_id=settings.client_id,
            scope="",
            secret=settings.client_secret,
        )

    def fetch_token(self) -> tuple[str, float]:
        params = {
            "grant_type": "client_credentials",
            "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret,
        }
        # The URL carries the secret: exceptions are reported by type, never by text.
        response = self.request("GET", TOKEN_PATH, "the Marketo identity service", params=params)
        if response.status_code == 401:
            try:
                detail = str(response.json().get("error_description") or "")
            except ValueError:
                detail = ""
            error = f"Marketo refused the client credentials: {detail or 'HTTP 401'}"
            raise CallFailure("permanent", error[:300], status_code=401)
        if response.status_code != 200:
            raise http_failure(response, "the Marketo identity service")
        try:
            answer = response.json()
            return str(answer["access_token"]), float(answer.get("expires_in", 3599))
        except (ValueError, KeyError, TypeError):
            raise CallFailure("retryable", "Marketo answered an unreadable token") from None

    def request(self, method: str, path: str, what: str, **kwargs) -> httpx.Response:
        url = f"{self.settings.base_url}{path}"
        try:
            return self.client.request(method, url, timeout=self.timeout, **kwargs)
        except TargetRefused as exc:
            raise CallFailure("permanent", str(exc)) from None
        except httpx.TimeoutException:
            raise CallFailure("retryable", f"{what} timed out") from None
        except httpx.TransportError as exc:
            raise CallFailure(
                "retryable", f"could not reach {what} ({type(exc).__name__})"
            ) from None

    def push(self, chunk: list[DeliveryPayload]) -> list[Result]:
        """Send one call's leads; raises CallFailure when the call as a whole failed."""
        body = {
            "action": "createOrUpdate",
            "lookupField": "email",
            "input": [lead_input(payload) for payload in chunk],
        }
        for attempt in (1, 2):
            token = self.cache.get(self.key, self.fetch_token)
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            response = self.request("POST", LEADS_PATH, "Marketo", json=body, headers=headers)
            if response.status_code != 200:
                raise http_failure(response, "Marketo")
            try:
                answer = response.json()
            except ValueError:
                raise CallFailure("retryable", "Marketo answered unreadable JSON") from None
            if answer.get("success"):
                return self.lead_results(chunk, answer)
            errors = answer.get("errors") or []
            codes = {str(error.get("code")) for error in errors}
            if codes & TOKEN_CODES and attempt == 1:
                self.cache.invalidate(self.key, token)  # expired or invalid: fetch anew once
                continue
            raise code_failure(errors, response.status_code)
        raise AssertionError("unreachable")

    def lead_results(self, chunk: list[DeliveryPayload], answer: dict) -> list[Result]:
        entries = answer.get("result") or []
        if len(entries) != len(chunk):
            error = f"Marketo answered {len(entries)} results for {len(chunk)} leads"
            raise CallFailure("retryable", error, status_code=200)
        return [
            lead_result(payload, entry, 200) for payload, entry in zip(chunk, entries, strict=True)
        ]


def check_urls(urls: tuple[str, ...], options: SendOptions) -> None:
    """Refuse a scheme or a non-public address now (ConfigurationError); the connection
    itself is checked again at connect time by ssrf.GuardedBackend."""
    policy = GuardPolicy(options.allow_private_targets, options.require_https)
    for url in urls:
        with contextlib.suppress(HostNotFound):  # DNS may recover: the request is retried
            check_url(url, policy)


class MarketoConnector:
    kind = "marketo"

    def __init__(self, token_cache: TokenCache = default_cache) -> None:
        self.token_cache = token_cache

    def send(
        self, config: dict, payloads: list[DeliveryPayload], options: SendOptions
    ) -> list[Result]:
        if not payloads:
            return []
        settings = settings_from(config)
        check_urls((settings.base_url,), options)
        session = MarketoSession(settings, self.token_cache, options)
        results: list[Result] = []
        for start in range(0, len(payloads), MAX_INPUTS_PER_CALL):
            chunk = payloads[start : start + MAX_INPUTS_PER_CALL]
            try:
                results += session.push(chunk)
            except CallFailure as failure:
                # The later calls would meet the same token, limit or outage.
                return results + failure.results_for(payloads[start:])
        return results


connector = MarketoConnector()
