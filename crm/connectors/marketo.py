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

import json
import re
from dataclasses import dataclass

import httpx

from crm.connectors.base import ConfigurationError, DeliveryPayload, Result, SendOptions, excerpt
from crm.connectors.oauth import (
    CallFailure,
    ClientCredentials,
    TokenConnector,
    TokenSession,
    check_urls,
    results_by_call,
)

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
    base_url: str  # the instance's REST API, which hands out its tokens too
    credentials: ClientCredentials


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
    base_url = str(config.get("baseUrl") or f"https://{munchkin}.mktorest.com").strip().rstrip("/")
    return MarketoSettings(
        base_url=base_url,
        credentials=ClientCredentials(
            authority=base_url,
            client_id=str(config["clientId"]).strip(),
            client_secret=str(config["clientSecret"]),
        ),
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


class MarketoSession(TokenSession[MarketoSettings]):
    """One batch's calls: the token, then one call per 300 leads, all to the instance."""

    kind = "marketo"
    token_service = "Marketo"

    def fetch_token(self) -> tuple[str, float]:
        params = self.credentials.grant()
        # The URL carries the secret: exceptions are reported by type, never by text.
        url, what = f"{self.settings.base_url}{TOKEN_PATH}", "the Marketo identity service"
        response = self.request("GET", url, what, params=params)
        if response.status_code == 401:
            try:
                detail = str(response.json().get("error_description") or "")
            except ValueError:
                detail = ""
            error = f"Marketo refused the client credentials: {detail or 'HTTP 401'}"
            raise CallFailure("permanent", error[:300], status_code=401)
        if response.status_code != 200:
            raise http_failure(response, what)
        return self.read_token(response)

    def call(self, method: str, path: str, **kwargs) -> dict:
        """One call to the instance with the token; its JSON answer when Marketo says it
        succeeded, else CallFailure (an expired or invalid token is fetched anew once)."""
        url = f"{self.settings.base_url}{path}"

        def call_once(token: str, may_refresh: bool) -> dict | None:
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            response = self.request(method, url, "Marketo", headers=headers, **kwargs)
            if response.status_code != 200:
                raise http_failure(response, "Marketo")
            try:
                answer = response.json()
            except ValueError:
                raise CallFailure("retryable", "Marketo answered unreadable JSON") from None
            if answer.get("success"):
                return answer
            errors = answer.get("errors") or []
            if {str(error.get("code")) for error in errors} & TOKEN_CODES and may_refresh:
                return None  # expired or invalid: fetch anew once
            raise code_failure(errors, response.status_code)

        return self.with_token(call_once)

    def push(self, chunk: list[DeliveryPayload]) -> list[Result]:
        """Send one call's leads; raises CallFailure when the call as a whole failed."""
        body = {
            "action": "createOrUpdate",
            "lookupField": "email",
            "input": [lead_input(payload) for payload in chunk],
        }
        return self.lead_results(chunk, self.call("POST", LEADS_PATH, json=body))

    def send(self, payloads: list[DeliveryPayload]) -> list[Result]:
        return results_by_call(payloads, MAX_INPUTS_PER_CALL, self.push)

    def lead_results(self, chunk: list[DeliveryPayload], answer: dict) -> list[Result]:
        entries = answer.get("result") or []
        if len(entries) != len(chunk):
            error = f"Marketo answered {len(entries)} results for {len(chunk)} leads"
            raise CallFailure("retryable", error, status_code=200)
        return [
            lead_result(payload, entry, 200) for payload, entry in zip(chunk, entries, strict=True)
        ]


class MarketoConnector(TokenConnector):
    kind = "marketo"
    session_class = MarketoSession

    def open(self, config: dict, options: SendOptions) -> MarketoSession:
        settings = settings_from(config)
        check_urls((settings.base_url,), options)
        return self.session_class(settings, self.token_cache, options)


connector = MarketoConnector()
