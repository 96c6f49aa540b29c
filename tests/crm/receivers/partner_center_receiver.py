"""A strict loopback stand-in for Azure AD's v1 token endpoint and Partner Center's
Referrals API, written from reference/partner-center-inbound.md §1 and its §4 checklist.

It enforces: the password grant's form (resource, grant_type=password, client_id,
client_secret, username, password); only the documented routes (404 elsewhere, 405 for
another verb); a Bearer token (401 when missing, unknown or expired; `expire_tokens()`
and `expire_after_calls` make tokens die on demand); OData `$filter` (the documented
fields), `$orderby` (createdDateTime, updatedDateTime), `$top`, `$select` and an opaque
`$skiptoken` in `@odata.nextLink`, with `@odata.count` (any other option: 400); PATCH
as a JSON array of `replace`/`add` operations only, on known paths; the §1.7 transition
table and terminal states; accepting needs a deal value and a close date; `If-Match`
stale → 412 (assumed: the docs do not say); a new eTag and updatedDateTime on every write;
204 unless `Prefer: return=representation`; a 429 mode with Retry-After. Every error
body is `{code, description, data, source}`.
"""

import base64
import json
import re
import secrets
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

from tests.crm.receivers import LoopbackServer

TENANT = "contoso.onmicrosoft.com"
CLIENT_ID = "0b9f6c1e-3a34-4f0e-9d55-1f1e2a6b7c8d"
CLIENT_SECRET = "pc-client-secret-value"
USERNAME = "referrals-admin@contoso.example"
PASSWORD = "pc-user-password-value"
RESOURCE = "https://api.partner.microsoft.com"
API_PATH = "/v1.0/engagements/referrals"

STATUSES = ("New", "Active", "Closed")
NEXT = {"New": ("New", "Active", "Closed"), "Active": ("Active", "Closed"), "Closed": ("Closed",)}
SUBSTATUSES = {
    "New": ("Pending", "Received"),
    "Active": ("Accepted",),
    "Closed": ("Won", "Lost", "Declined", "Expired"),
}
TERMINAL = {"Won", "Lost", "Declined", "Expired"}
ENUMS = {
    "status": STATUSES,
    "substatus": ("Pending", "Received", "Accepted", "Won", "Lost", "Declined", "Expired"),
    "type": ("Shared", "Independent"),
    "qualification": ("None", "Direct", "MarketingQualified", "SalesQualified"),
    "direction": ("Incoming", "Outgoing"),
}
FILTER_FIELDS = {
    "status": ("status",),
    "substatus": ("substatus",),
    "type": ("type",),
    "qualification": ("qualification",),
    "direction": ("direction",),
    "engagementId": ("engagementId",),
    "customerProfile/address/country": ("customerProfile", "address", "country"),
}
PATCH_PATHS = {
    "/status",
    "/substatus",
    "/statusReason",
    "/name",
    "/externalReferenceId",
    "/details/notes",
    "/details/dealValue",
    "/details/currency",
    "/details/closingDateTime",
}
ODATA_OPTIONS = {"$filter", "$orderby", "$top", "$select", "$skiptoken"}
_CLAUSE = re.compile(r"^\(?\s*(?P<field>[A-Za-z/]+) eq '(?P<value>[^']*)'\s*\)?$")
_TEAM = re.compile(r"^\(?\s*team/any\((?P<v>\w+):(?P=v)/email eq '(?P<value>[^']*)'\)\s*\)?$")


def api_time(moment: datetime) -> str:
    """As .NET writes it: seven decimals and a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def error(status: int, code: str, description: str) -> tuple:
    body = {"code": code, "description": description, "data": [], "source": "PartnerCenter"}
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode(), 0, description


def _dig(data: dict, keys: tuple[str, ...]):
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


class PartnerCenterReceiver(LoopbackServer):
    def __init__(self, *, token_lifetime: int = 3600) -> None:
        super().__init__(tls=True)
        self.token_lifetime = token_lifetime
        self.tokens: dict[str, float] = {}  # token -> expiry (time.monotonic)
        self.referrals: dict[str, dict] = {}
        self.token_calls = 0
        self.api_calls = 0
        self.expire_after_calls: int | None = None  # tokens die after this many API calls
        self.throttled: list[int] = []  # Retry-After of the next API answers, one each
        self.edit_before_next_patch = False  # someone else writes between our GET and PATCH
        self.fail_after_calls: int | None = None  # one 503 after this many API calls
        self.data_lock = threading.Lock()

    # --- what a test does to the service ----------------------------------------------

    def expire_tokens(self) -> None:
        with self.data_lock:
            self.tokens = dict.fromkeys(self.tokens, 0.0)

    def throttle(self, *retry_after: int) -> None:
        """The next API requests answer 429 with these Retry-After values, one each."""
        self.throttled.extend(retry_after)

    def share(self, *, updated: datetime | None = None, **fields) -> dict:
        """Microsoft shares an incoming referral with the partner (New/Pending)."""
        moment = updated or datetime.now(UTC)
        referral_id = fields.pop("id", str(uuid.uuid4()))
        referral = {
            "id": referral_id,
            "engagementId": str(uuid.uuid4()),
            "name": "Contoso migration",
            "createdDateTime": api_time(moment),
            "updatedDateTime": api_time(moment),
            "expirationDateTime": api_time(moment + timedelta(days=14)),
            "status": "New",
            "substatus": "Pending",
            "statusReason": "",
            "type": "Shared",
            "qualification": "SalesQualified",
            "direction": "Incoming",
            "customerProfile": {
                "name": "Fabrikam",
                "address": {"city": "Seattle", "country": "US"},
                "team": [
                    {
                        "firstName": "Ada",
                        "lastName": "Lovelace",
                        "email": f"ada.{referral_id[:8]}@fabrikam.example",
                        "phoneNumber": "+1 555 0100",
                    }
                ],
            },
            "consent": {"consentToShareInfoWithOthers": True, "consentToContact": True},
            "details": {
                "notes": "Needs a migration of 200 VMs.",
                "dealValue": 50000.0,
                "currency": "USD",
                "closingDateTime": api_time(moment + timedelta(days=60)),
                "requirements": {"solutions": [{"id": "SOL-1", "name": "Azure Migrate"}]},
            },
            "team": [
                {
                    "firstName": "Sam",
                    "lastName": "Seller",
                    "email": "sam.seller@microsoft.example",
                    "phoneNumber": "+1 555 0199",
                }
            ],
            "inviteContext": {"invitedBy": {"organizationId": "msft"}},
            # Additive properties the client must tolerate (§4.9).
            "referralSource": "Partner",
            "callToAction": "ContactMe",
            "customerMarketplaceIntent": "Yes",
            "eTag": f'"{uuid.uuid4()}"',
            **fields,
        }
        with self.data_lock:
            self.referrals[referral_id] = referral
        return referral

    def update(self, referral_id: str, **fields) -> dict:
        """Partner Center changes a referral on its side (a seller edits it)."""
        with self.data_lock:
            referral = self.referrals[referral_id]
            referral.update(fields)
            self._bump(referral)
            return dict(referral)

    def expire_stale(self, now: datetime) -> None:
        """§4.6: incoming New/Pending referrals older than 14 days become Closed/Expired."""
        with self.data_lock:
            for referral in self.referrals.values():
                created = datetime.fromisoformat(referral["createdDateTime"][:26] + "+00:00")
                stale = now - created > timedelta(days=14)
                if stale and (referral["status"], referral["substatus"]) == ("New", "Pending"):
                    referral["status"], referral["substatus"] = "Closed", "Expired"
                    self._bump(referral)

    def _bump(self, referral: dict) -> None:
        referral["updatedDateTime"] = api_time(datetime.now(UTC))
        referral["eTag"] = f'"{uuid.uuid4()}"'

    def token_url(self) -> str:
        return self.url("/{tenant}/oauth2/token")

    def api_url(self) -> str:
        return self.url(API_PATH)

    # --- the HTTP side -----------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict, body: bytes) -> tuple:
        route = urlsplit(path).path
        if route in (f"/{TENANT}/oauth2/token", "/common/oauth2/token"):
            if method != "POST":
                return error(405, "MethodNotAllowed", "The token endpoint takes POST.")
            return self._token(headers, body)
        if route == API_PATH:
            allowed = ("GET", "POST")
        elif route.startswith(API_PATH + "/") and "/" not in route[len(API_PATH) + 1 :]:
            allowed = ("GET", "PATCH")
        else:
            return error(404, "NotFound", f"No route for {route}.")
        if method not in allowed:
            return error(405, "MethodNotAllowed", f"{method} is not allowed on {route}.")
        with self.data_lock:
            self.api_calls += 1
            if self.expire_after_calls is not None and self.api_calls > self.expire_after_calls:
                self.tokens = dict.fromkeys(self.tokens, 0.0)
                self.expire_after_calls = None
        refusal = self._check_token(headers)
        if refusal:
            return refusal
        if self.fail_after_calls is not None and self.api_calls > self.fail_after_calls:
            self.fail_after_calls = None
            return error(503, "ServiceUnavailable", "The service is unavailable.")
        if self.throttled:
            delay = self.throttled.pop(0)
            status, answer_headers, answer, _delay, _reason = error(
                429, "TooManyRequests", "Rate limit is exceeded."
            )
            return status, {**answer_headers, "Retry-After": str(delay)}, answer, 0, ""
        if route == API_PATH:
            if method == "GET":
                return self._list(path)
            return self._create(body)
        referral_id = unquote(route[len(API_PATH) + 1 :])
        if method == "GET":
            return self._get(referral_id)
        return self._patch(referral_id, headers, body)

    def _token(self, headers: dict, body: bytes) -> tuple:
        with self.data_lock:
            self.token_calls += 1
        if headers.get("content-type") != "application/x-www-form-urlencoded":
            return self._aad(400, "invalid_request", "AADSTS900144: the body must be a form.")
        form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "password":
            return self._aad(400, "unsupported_grant_type", "AADSTS70003: unsupported grant.")
        if form.get("resource") != RESOURCE:
            return self._aad(400, "invalid_resource", "AADSTS500011: resource not found.")
        if form.get("client_id") != CLIENT_ID:
            return self._aad(400, "unauthorized_client", "AADSTS700016: app not found.")
        if form.get("client_secret") != CLIENT_SECRET:
            return self._aad(401, "invalid_client", "AADSTS7000215: Invalid client secret.")
        if (form.get("username"), form.get("password")) != (USERNAME, PASSWORD):
            return self._aad(400, "invalid_grant", "AADSTS50126: Invalid username or password.")
        token = secrets.token_urlsafe(24)
        with self.data_lock:
            self.tokens[token] = time.monotonic() + self.token_lifetime
        answer = {
            "token_type": "Bearer",
            "expires_in": str(self.token_lifetime),
            "resource": RESOURCE,
            "access_token": token,
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(answer).encode(), 0, ""

    @staticmethod
    def _aad(status: int, code: str, description: str) -> tuple:
        body = json.dumps({"error": code, "error_description": description}).encode()
        return status, {"Content-Type": "application/json"}, body, 0, description

    def _check_token(self, headers: dict) -> tuple | None:
        auth = headers.get("authorization", "")
        expiry = self.tokens.get(auth.removeprefix("Bearer "), 0.0)
        if not auth.startswith("Bearer ") or expiry <= time.monotonic():
            return error(401, "Unauthorized", "The bearer token is missing, invalid or expired.")
        return None

    # --- list ----------------------------------------------------------------------------

    def _list(self, path: str) -> tuple:
        query = parse_qs(urlsplit(path).query, keep_blank_values=True)
        unknown = sorted(set(query) - ODATA_OPTIONS)
        if unknown:
            return error(400, "BadRequest", f"Unknown query option {unknown[0]}.")
        if any(len(values) > 1 for values in query.values()):
            return error(400, "BadRequest", "A query option is given twice.")
        options = {key: values[0] for key, values in query.items()}
        if "$skiptoken" in options:
            if set(options) != {"$skiptoken"}:
                return error(400, "BadRequest", "$skiptoken stands alone in a next link.")
            try:
                options = json.loads(base64.urlsafe_b64decode(options["$skiptoken"]))
            except ValueError:
                return error(400, "BadRequest", "The $skiptoken is not valid.")
        try:
            rows = self._filtered(options.get("$filter", ""))
            rows = self._ordered(rows, options.get("$orderby", ""))
            top = int(options.get("$top", "100"))
            selected = self._selection(options.get("$select", ""))
        except ValueError as exc:
            return error(400, "BadRequest", str(exc))
        if not 1 <= top <= 1000:
            return error(400, "BadRequest", "$top must be between 1 and 1000.")
        offset = int(options.get("offset", 0))
        page = rows[offset : offset + top]
        if selected:
            page = [{key: row[key] for key in selected if key in row} for row in page]
        answer = {
            "@odata.context": f"{self.url('/v1.0/engagments/referrals')}/$metadata",
            "@odata.count": len(rows),
            "value": page,
        }
        if offset + top < len(rows):
            state = {**options, "offset": offset + top}
            token = base64.urlsafe_b64encode(json.dumps(state).encode()).decode()
            answer["@odata.nextLink"] = self.url(f"{API_PATH}?$skiptoken={token}")
        return 200, {"Content-Type": "application/json"}, json.dumps(answer).encode(), 0, ""

    def _filtered(self, expression: str) -> list[dict]:
        with self.data_lock:
            rows = [json.loads(json.dumps(row)) for row in self.referrals.values()]
        if not expression.strip():
            return rows
        for clause in re.split(r"\s+and\s+", expression.strip()):
            team = _TEAM.match(clause)
            if team:
                email = team["value"].lower()
                rows = [
                    r for r in rows if any(m.get("email", "").lower() == email for m in r["team"])
                ]
                continue
            match = _CLAUSE.match(clause)
            if not match or match["field"] not in FILTER_FIELDS:
                raise ValueError(f"The filter clause {clause!r} is not supported.")
            field, value = match["field"], match["value"]
            if field in ENUMS and value not in ENUMS[field]:
                raise ValueError(f"{value!r} is not a valid {field}.")
            rows = [r for r in rows if _dig(r, FILTER_FIELDS[field]) == value]
        return rows

    @staticmethod
    def _ordered(rows: list[dict], orderby: str) -> list[dict]:
        if not orderby:
            return rows
        field, _space, direction = orderby.strip().partition(" ")
        if field not in ("createdDateTime", "updatedDateTime") or direction not in (
            "",
            "asc",
            "desc",
        ):
            raise ValueError(f"Cannot order by {orderby!r}.")
        return sorted(rows, key=lambda row: (row[field], row["id"]), reverse=direction == "desc")

    def _selection(self, select: str) -> list[str]:
        names = [name.strip() for name in select.split(",") if name.strip()]
        with self.data_lock:
            known = set().union(*(row.keys() for row in self.referrals.values())) or {"id"}
        for name in names:
            if name not in known:
                raise ValueError(f"Cannot select {name!r}.")
        return names

    # --- one referral --------------------------------------------------------------------

    def _get(self, referral_id: str) -> tuple:
        with self.data_lock:
            referral = self.referrals.get(referral_id)
            if referral is None:
                return error(404, "NotFound", "No such referral.")
            data = json.dumps(referral).encode()
            etag = referral["eTag"]
        return 200, {"Content-Type": "application/json", "ETag": etag}, data, 0, ""

    def _create(self, body: bytes) -> tuple:
        try:
            data = json.loads(body)
        except ValueError:
            return error(400, "BadRequest", "The body is not JSON.")
        missing = [
            key
            for key in ("type", "customerProfile", "consent", "details")
            if not isinstance(data, dict) or key not in data
        ]
        if missing:
            return error(400, "BadRequest", f"Missing {', '.join(missing)}.")
        referral = self.share(**{**data, "direction": "Outgoing"})
        return 201, {"Content-Type": "application/json"}, json.dumps(referral).encode(), 0, ""

    def _patch(self, referral_id: str, headers: dict, body: bytes) -> tuple:
        try:
            ops = json.loads(body)
        except ValueError:
            return error(400, "BadRequest", "The body is not JSON.")
        if not isinstance(ops, list) or not ops:
            return error(400, "BadRequest", "A JSON Patch document is a non-empty array.")
        for op in ops:
            if not isinstance(op, dict) or set(op) != {"op", "path", "value"}:
                return error(400, "BadRequest", "Each operation has op, path and value.")
            if op["op"] not in ("replace", "add"):
                return error(400, "BadRequest", f"The operation {op['op']!r} is not supported.")
            if op["path"] not in PATCH_PATHS:
                return error(400, "BadRequest", f"The path {op['path']!r} cannot be updated.")
        with self.data_lock:
            referral = self.referrals.get(referral_id)
            if referral is None:
                return error(404, "NotFound", "No such referral.")
            if self.edit_before_next_patch:
                self.edit_before_next_patch = False
                self._bump(referral)
            if_match = headers.get("if-match")
            if if_match is not None and if_match != referral["eTag"]:
                return error(412, "PreconditionFailed", "The eTag does not match.")
            updated = json.loads(json.dumps(referral))
            for op in ops:
                target, *keys = op["path"].strip("/").split("/")
                holder = updated.setdefault(target, {}) if keys else updated
                holder[keys[0] if keys else target] = op["value"]
            refusal = self._transition_refusal(referral, updated)
            if refusal:
                return error(400, "InvalidTransition", refusal)
            if (updated["status"], updated["substatus"]) == ("Active", "Accepted"):
                updated.setdefault("acceptedDateTime", api_time(datetime.now(UTC)))
            self._bump(updated)
            self.referrals[referral_id] = updated
            data = json.dumps(updated).encode()
        if headers.get("prefer") == "return=representation":
            return 200, {"Content-Type": "application/json", "ETag": updated["eTag"]}, data, 0, ""
        return 204, {}, b"", 0, ""

    @staticmethod
    def _transition_refusal(was: dict, now: dict) -> str:
        for field in ("status", "substatus"):
            if now[field] not in ENUMS[field]:
                return f"{now[field]!r} is not a valid {field}."
        if was["substatus"] in TERMINAL:
            return f"The referral is {was['substatus']}: no further update is possible."
        if now["status"] not in NEXT[was["status"]]:
            return f"A referral cannot move from {was['status']} to {now['status']}."
        if now["substatus"] not in SUBSTATUSES[now["status"]]:
            return f"{now['substatus']} is not a substatus of {now['status']}."
        accepting = (now["status"], now["substatus"]) == ("Active", "Accepted")
        details = now.get("details") or {}
        if accepting and not (details.get("dealValue") and details.get("closingDateTime")):
            return "A deal value and a closing date are required to accept a referral."
        return ""
