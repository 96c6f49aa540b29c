"""Partner Center's Referrals API (reference/partner-center-inbound.md §1): read the
publisher's Co-Sell referrals and write its answers back. Plain Python, no Django.

- Token: Azure AD's v1 endpoint with the password grant (App+User, the only access the
  API supports): `resource`, `grant_type=password`, `client_id`, `client_secret`,
  `username`, `password`. Cached per (token URL, client, user) like the CRM tokens; a 401
  from the API drops the token and fetches a fresh one once (oauth.TokenSession).
- Read: `GET …/referrals?$filter=direction eq 'Incoming'&$orderby=updatedDateTime desc
  &$top=N`, then each `@odata.nextLink` while the page still holds referrals updated after
  the caller's watermark. Only documented OData is sent: filtering on updatedDateTime is
  not documented, ordering on it is, so the newest come first and the read stops early.
  A next link on another origin is refused (the bearer token would go with it).
- Write: `GET` the referral for a fresh eTag (eTags are not to be stored), then `PATCH`
  a JSON Patch of `replace` operations with `If-Match` and `Prefer: return=representation`.
- 429: wait Retry-After (when it is short) and try again, else a retryable CallFailure
  carrying the delay. 5xx and transport errors are retryable; other 4xx are permanent,
  with Partner Center's `description`. Errors never carry a secret or personal data.
"""

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import quote, urlencode, urljoin

import httpx

from crm.connectors import http_client
from crm.connectors.base import ConfigurationError, SendOptions, excerpt
from crm.connectors.dynamics365 import token_failure
from crm.connectors.http_client import retry_after_seconds
from crm.connectors.oauth import CallFailure, ClientCredentials, TokenSession, check_urls
from crm.connectors.token_cache import TokenCache, TokenKey, default_cache

RESOURCE = "https://api.partner.microsoft.com"
KIND = "partner-center"
PAGE_SIZE = 100
MAX_THROTTLE_WAITS = 3
TOKEN_REFUSED_HINT = (
    "Partner Center refused the token twice: check that the user has the Referrals Admin "
    "role and the app registration has Microsoft Partner delegation"
)


@dataclass(frozen=True)
class PartnerCenterSettings:
    token_url: str  # Azure AD's v1 token endpoint, the tenant already in it
    api_url: str  # …/v1.0/engagements/referrals
    client_id: str
    client_secret: str = field(repr=False)
    username: str = ""
    password: str = field(default="", repr=False)
    resource: str = RESOURCE

    @property
    def credentials(self) -> ClientCredentials:
        """The app's credentials (oauth.TokenSession); the user's come with the grant."""
        return ClientCredentials(
            authority=self.token_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            scope=f"{self.resource} {self.username}",
        )

    def token_key(self) -> TokenKey:
        """The cache key: a token per app and user, and a new one when either secret changes."""
        return TokenKey.of(
            authority=self.token_url,
            client_id=self.client_id,
            scope=f"{self.resource} {self.username}",
            secret=f"{self.client_secret}\n{self.password}",
        )

    def grant(self) -> dict[str, str]:
        """The password grant's fields (reference §1.1)."""
        return {
            "resource": self.resource,
            "grant_type": "password",
            "scope": "openid",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "username": self.username,
            "password": self.password,
        }


@dataclass(frozen=True)
class Contact:
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class RemoteReferral:
    """One referral as the API answered it, parsed; `raw` is the JSON object itself."""

    id: str
    etag: str
    engagement_id: str
    name: str
    customer_name: str
    customer_country: str
    customer_contact: Contact
    customer_need: str
    deal_value: Decimal | None
    currency: str
    close_date: date | None
    seller: Contact
    status: str
    substatus: str
    status_reason: str
    referral_type: str
    qualification: str
    direction: str
    pc_created_at: datetime | None
    pc_updated_at: datetime | None
    expires_at: datetime | None
    accepted_at: datetime | None
    raw: dict

    @property
    def seller_name(self) -> str:
        return self.seller.name

    @property
    def seller_email(self) -> str:
        return self.seller.email

    @property
    def seller_phone(self) -> str:
        return self.seller.phone


def settings_checked(settings: PartnerCenterSettings, options: SendOptions) -> None:
    """Refuse missing credentials and URLs the guard refuses; raises ConfigurationError."""
    missing = [
        name
        for name in ("client_id", "client_secret", "username", "password")
        if not getattr(settings, name).strip()
    ]
    if missing:
        raise ConfigurationError(f"the connection is missing {', '.join(missing)}")
    check_urls((settings.token_url, settings.api_url), options)


# --- parsing ---------------------------------------------------------------------------


def _get(data, key: str, default=None):
    """data[key], its case aside (the docs spell keys both ways); default otherwise."""
    if not isinstance(data, dict):
        return default
    if key in data:
        return data[key]
    lowered = key.lower()
    for name, value in data.items():
        if str(name).lower() == lowered:
            return value
    return default


def _text(value, limit: int) -> str:
    return "" if value is None else str(value).strip()[:limit]


def parse_time(value) -> datetime | None:
    """An API time (UTC, `Z`, up to seven decimals as .NET writes them), or None."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _decimal(value) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number.quantize(Decimal("0.01")) if number.is_finite() else None


def _contact(member) -> Contact:
    return Contact(
        first_name=_text(_get(member, "firstName"), 100),
        last_name=_text(_get(member, "lastName"), 100),
        email=_text(_get(member, "email"), 254),
        phone=_text(_get(member, "phoneNumber"), 50),
    )


def _first(items) -> dict:
    return items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}


def _need(details) -> str:
    """The customer's need: the notes, then the requirements by kind."""
    lines = [_text(_get(details, "notes"), 4000)]
    requirements = _get(details, "requirements") or {}
    for key, label in (
        ("solutions", "Solutions"),
        ("products", "Products"),
        ("services", "Services"),
        ("industries", "Industries"),
    ):
        items = _get(requirements, key) or []
        names = [
            _text(_get(item, "name") or _get(item, "id"), 200) if isinstance(item, dict) else ""
            for item in (items if isinstance(items, list) else [])
        ]
        names = [name for name in names if name]
        if names:
            lines.append(f"{label}: {', '.join(names)}")
    return "\n".join(line for line in lines if line)


def parse_referral(data: dict, *, etag: str = "") -> RemoteReferral:
    """A Referral JSON object as a RemoteReferral; unknown properties are kept in raw."""
    profile = _get(data, "customerProfile") or {}
    details = _get(data, "details") or {}
    closing = parse_time(_get(details, "closingDateTime"))
    return RemoteReferral(
        id=_text(_get(data, "id"), 150),
        etag=_text(_get(data, "eTag"), 200) or etag,
        engagement_id=_text(_get(data, "engagementId"), 150),
        name=_text(_get(data, "name"), 300),
        customer_name=_text(_get(profile, "name"), 200),
        customer_country=_text(_get(_get(profile, "address") or {}, "country"), 60),
        customer_contact=_contact(_first(_get(profile, "team"))),
        customer_need=_need(details),
        deal_value=_decimal(_get(details, "dealValue")),
        currency=_text(_get(details, "currency"), 3).upper(),
        close_date=closing.date() if closing else None,
        seller=_contact(_first(_get(data, "team"))),
        status=_text(_get(data, "status"), 10) or "None",
        substatus=_text(_get(data, "substatus"), 10) or "None",
        status_reason=_text(_get(data, "statusReason"), 500),
        referral_type=_text(_get(data, "type"), 20),
        qualification=_text(_get(data, "qualification"), 30),
        direction=_text(_get(data, "direction"), 10),
        pc_created_at=parse_time(_get(data, "createdDateTime")),
        pc_updated_at=parse_time(_get(data, "updatedDateTime")),
        expires_at=parse_time(_get(data, "expirationDateTime")),
        accepted_at=parse_time(_get(data, "acceptedDateTime")),
        raw=data,
    )


def api_failure(response: httpx.Response, what: str) -> CallFailure:
    """An API answer that is not a success, as a CallFailure naming Partner Center's reason."""
    status = response.status_code
    try:
        description = str(response.json().get("description") or "")
    except (ValueError, AttributeError):
        description = ""
    reason = excerpt(description or response.reason_phrase or "", 300)
    error = f"Partner Center answered {status} to {what}" + (f": {reason}" if reason else "")
    if status in http_client.RETRYABLE_STATUSES or status >= 500:
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        return CallFailure("retryable", error, status_code=status, retry_after=retry_after)
    if status == 401:
        return CallFailure("permanent", TOKEN_REFUSED_HINT, status_code=status)
    return CallFailure("permanent", error, status_code=status)


# --- the session -------------------------------------------------------------------------


class ReferralsSession(TokenSession[PartnerCenterSettings]):
    """One sync's or one write's calls, with the cached App+User token."""

    kind = KIND
    token_service = "Azure AD"

    def __init__(
        self,
        settings: PartnerCenterSettings,
        options: SendOptions,
        *,
        cache: TokenCache = default_cache,
        max_wait: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        settings_checked(settings, options)
        super().__init__(settings, cache, options)
        self.key = settings.token_key()
        self.max_wait, self.sleep = max_wait, sleep

    def fetch_token(self) -> tuple[str, float]:
        what = "the Azure AD token endpoint"
        response = self.request("POST", self.settings.token_url, what, data=self.settings.grant())
        if response.status_code != 200:
            raise token_failure(response)
        return self.read_token(response)

    def call(
        self, method: str, url: str, *, what: str, body: bytes | None = None, headers=None
    ) -> httpx.Response:
        """One API request with the token, a refresh on 401 and short 429 waits."""
        request_id = str(uuid.uuid4())  # the same on every retry of this request

        def once(token: str, may_refresh: bool) -> httpx.Response | None:
            sent = {
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "MS-CorrelationId": str(uuid.uuid4()),
                "MS-RequestId": request_id,
                **(headers or {}),
            }
            response = self.request(method, url, what, content=body, headers=sent)
            return None if response.status_code == 401 and may_refresh else response

        for waits in range(MAX_THROTTLE_WAITS + 1):
            response = self.with_token(once)
            if response.status_code != 429:
                return response
            delay = retry_after_seconds(response.headers.get("Retry-After"))
            delay = 1.0 if delay is None else delay
            if delay > self.max_wait or waits == MAX_THROTTLE_WAITS:
                raise api_failure(response, what)
            self.sleep(delay)
        raise AssertionError("unreachable")

    def _page_url(self, link: str) -> str:
        """A next link, resolved against the API and kept on its origin."""
        url = urljoin(self.settings.api_url, link)
        ours, theirs = httpx.URL(self.settings.api_url), httpx.URL(url)
        if (theirs.scheme, theirs.host, theirs.port) != (ours.scheme, ours.host, ours.port):
            raise CallFailure("permanent", "Partner Center's next link left the API's host")
        return url

    def referral_pages(
        self, *, since: datetime | None, page_size: int = PAGE_SIZE
    ) -> Iterator[list[RemoteReferral]]:
        """Incoming referrals, newest update first, page by page, until a page reaches
        referrals updated at or before `since` (None: every page)."""
        query = {
            "$filter": "direction eq 'Incoming'",
            "$orderby": "updatedDateTime desc",
            "$top": str(page_size),
        }
        url = f"{self.settings.api_url}?{urlencode(query, quote_via=quote)}"
        while url:
            response = self.call("GET", url, what="the referral list")
            if response.status_code != 200:
                raise api_failure(response, "the referral list")
            try:
                answer = response.json()
                items = [parse_referral(item) for item in answer["value"]]
            except (ValueError, KeyError, TypeError, AttributeError):
                raise CallFailure(
                    "retryable", "Partner Center answered an unreadable list"
                ) from None
            yield items
            times = [item.pc_updated_at for item in items if item.pc_updated_at]
            if since is not None and times and min(times) <= since:
                return
            link = answer.get("@odata.nextLink")
            url = self._page_url(link) if isinstance(link, str) and link and items else ""

    def referral_read(self, referral_id: str) -> RemoteReferral:
        url = f"{self.settings.api_url}/{quote(referral_id, safe='')}"
        response = self.call("GET", url, what="the referral")
        if response.status_code != 200:
            raise api_failure(response, "the referral")
        try:
            return parse_referral(response.json(), etag=response.headers.get("ETag", ""))
        except (ValueError, AttributeError):
            raise CallFailure(
                "retryable", "Partner Center answered an unreadable referral"
            ) from None

    def referral_update(self, referral_id: str, *, ops: list[dict], etag: str) -> RemoteReferral:
        """PATCH the operations under the eTag just read; answers the updated referral."""
        if any(op.get("op") not in ("replace", "add") for op in ops):
            raise ConfigurationError("the Referrals API takes only replace and add operations")
        url = f"{self.settings.api_url}/{quote(referral_id, safe='')}"
        headers = {
            "Content-Type": "application/json",
            "Prefer": "return=representation",
        }
        if etag:
            headers["If-Match"] = etag if etag.startswith('"') else f'"{etag}"'
        body = httpx.Request("PATCH", url, json=ops).read()
        response = self.call("PATCH", url, what="the referral update", body=body, headers=headers)
        if response.status_code == 204:  # no representation after all: read it
            return self.referral_read(referral_id)
        if response.status_code in (200, 201):
            try:
                return parse_referral(response.json(), etag=response.headers.get("ETag", ""))
            except (ValueError, AttributeError):
                return self.referral_read(referral_id)
        if response.status_code in (409, 412):
            raise CallFailure(
                "retryable",
                f"the referral changed in Partner Center meanwhile ({response.status_code})",
                status_code=response.status_code,
            )
        raise api_failure(response, "the referral update")
