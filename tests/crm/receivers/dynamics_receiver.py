"""A strict loopback stand-in for Azure AD's token endpoint and Dataverse's leads API.

It refuses anything the contract (reference/crm-contracts.md, Dynamics 365) does not
allow: a wrong grant, client, secret or scope; a missing or expired bearer token; missing
OData headers; another path; an unknown attribute ("Invalid property", as Dataverse says).
PATCH with an alternate key upserts: it creates, then updates, never duplicates.
Erasure: `GET leads(<key>)?$select=statecode,statuscode` reads a record's state and
`DELETE leads(<key>)` removes it (204), where <key> is the alternate key
(`attr='<uuid>'`) or the lead id; both answer 404 for a missing record. A GET or
DELETE needs the bearer token and the OData headers but no Content-Type, and a DELETE
carries no body; `erasure_calls` records each (method, path) accepted.
"""

import json
import re
import secrets
import threading
import time
import uuid
from collections import deque
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
CLIENT_SECRET = "test-secret-value"
ALTERNATE_KEY = "msp_marketplaceleadid"
LEAD_ATTRIBUTES = {
    "subject",
    "firstname",
    "lastname",
    "emailaddress1",
    "telephone1",
    "companyname",
    "jobtitle",
    "address1_country",
    "description",
    "leadsourcecode",
    ALTERNATE_KEY,
}
_KEYED = re.compile(r"^/api/data/v9\.2/leads\((?P<attr>[a-z_0-9]+)='(?P<value>[0-9a-f-]{36})'\)$")
_BY_ID = re.compile(r"^/api/data/v9\.2/leads\((?P<id>[0-9a-f-]{36})\)$")
QUALIFIED, QUALIFIED_STATUS = 1, 3  # statecode Qualified, statuscode Qualified (converted)


class DynamicsReceiver:
    def __init__(self, token_lifetime: int = 3600) -> None:
        self.token_lifetime = token_lifetime
        self.tokens: dict[str, float] = {}  # token -> expiry (time.monotonic)
        self.records: dict[str, dict] = {}  # leadid -> attributes
        self.token_calls = 0
        self.write_calls = 0
        self.rejected_tokens = 0
        self.scripted: deque[tuple[int, dict]] = deque()  # (status, headers) for next writes
        self.lock = threading.Lock()
        self.base_url = ""
        self.erasure_calls: list[tuple[str, str]] = []  # accepted GETs and DELETEs

    def convert(self, lead_id: str) -> None:
        """Qualify (convert) a record, as a salesperson would in Dynamics."""
        with self.lock:
            self.records[lead_id].update(statecode=QUALIFIED, statuscode=QUALIFIED_STATUS)

    def respond_next(self, status: int, headers: dict | None = None) -> None:
        """The next write request answers `status` (e.g. 429 with Retry-After, 503)."""
        self.scripted.append((status, headers or {}))

    def expire_tokens(self) -> None:
        """Every token issued so far is refused from now on (expired or revoked)."""
        with self.lock:
            self.tokens = dict.fromkeys(self.tokens, 0.0)

    def config(self, **overrides) -> dict:
        return {
            "instanceUrl": self.base_url,
            "authorityUrl": self.base_url,
            "directoryId": TENANT,
            "applicationId": CLIENT_ID,
            "applicationKey": CLIENT_SECRET,
            **overrides,
        }

    # --- token endpoint ---------------------------------------------------------------

    def token(self, path: str, headers, body: bytes) -> tuple[int, dict]:
        with self.lock:
            self.token_calls += 1
        if path != f"/{TENANT}/oauth2/v2.0/token":
            return 400, aad_error("invalid_request", "AADSTS90002: Tenant not found.")
        if headers.get("Content-Type") != "application/x-www-form-urlencoded":
            return 400, aad_error("invalid_request", "AADSTS900144: the body must be a form.")
        form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return 400, aad_error("unsupported_grant_type", "AADSTS70003: unsupported grant.")
        if form.get("client_id") != CLIENT_ID:
            return 400, aad_error(
                "unauthorized_client",
                "AADSTS700016: Application with identifier was not found in the directory.",
            )
        if form.get("client_secret") != CLIENT_SECRET:
            return 401, aad_error(
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 0000",
            )
        if form.get("scope") != f"{self.base_url}/.default":
            return 400, aad_error("invalid_scope", "AADSTS70011: The provided scope is invalid.")
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = time.monotonic() + self.token_lifetime
        answer = {"token_type": "Bearer", "expires_in": self.token_lifetime, "access_token": token}
        return 200, answer

    # --- leads API --------------------------------------------------------------------

    def refusal(self, headers, required: dict) -> tuple[int, dict, dict] | None:
        """The answer to a request without a valid token or the OData headers, if any."""
        auth = headers.get("Authorization", "")
        expiry = self.tokens.get(auth.removeprefix("Bearer "), 0.0)
        if not auth.startswith("Bearer ") or expiry <= time.monotonic():
            self.rejected_tokens += 1
            return (
                401,
                odata_error("0x80072560", "The user is not a member of the organization."),
                {},
            )
        for name, value in required.items():
            if headers.get(name) != value:
                return 400, odata_error("0x80048d19", f"Header {name} must be {value}."), {}
        return None

    def write(self, method: str, path: str, headers, body: bytes) -> tuple[int, dict, dict]:
        with self.lock:
            self.write_calls += 1
        refused = self.refusal(headers, {**READ_HEADERS, "Content-Type": "application/json"})
        if refused:
            return refused
        if self.scripted:
            status, extra_headers = self.scripted.popleft()
            return status, odata_error("0x80072322", "Scripted failure."), extra_headers
        try:
            attributes = json.loads(body)
        except ValueError:
            return 400, odata_error("0x80048d19", "The request body is not valid JSON."), {}
        unknown = sorted(set(attributes) - LEAD_ATTRIBUTES)
        if unknown:
            message = (
                f"Invalid property '{unknown[0]}' was found in entity "
                "'Microsoft.Dynamics.CRM.lead'."
            )
            return 400, odata_error("0x80060888", message), {}
        return self.store(method, path, attributes)

    def store(self, method: str, path: str, attributes: dict) -> tuple[int, dict, dict]:
        keyed = _KEYED.match(path)
        if method == "POST" and path == "/api/data/v9.2/leads":
            lead_id = str(uuid.uuid4())
        elif method == "PATCH" and keyed:
            if keyed["attr"] != ALTERNATE_KEY:
                return 400, odata_error("0x80060891", "A key with that name is not defined."), {}
            if attributes.get(ALTERNATE_KEY, keyed["value"]) != keyed["value"]:
                return 400, odata_error("0x80060892", "The key value does not match."), {}
            with self.lock:
                lead_id = next(
                    (
                        lid
                        for lid, rec in self.records.items()
                        if rec.get(ALTERNATE_KEY) == keyed["value"]
                    ),
                    str(uuid.uuid4()),
                )
            attributes = {ALTERNATE_KEY: keyed["value"], **attributes}
        else:
            return 404, odata_error("0x80060888", f"Resource not found for {method} {path}."), {}
        with self.lock:
            self.records[lead_id] = {**self.records.get(lead_id, {}), **attributes}
        entity = f"{self.base_url}/api/data/v9.2/leads({lead_id})"
        return 204, {}, {"OData-EntityId": entity}

    # --- erasure: read the state, delete -------------------------------------------------

    def erase(self, method: str, target: str, headers, body: bytes) -> tuple[int, dict, dict]:
        path, _, query = target.partition("?")
        refused = self.refusal(headers, READ_HEADERS)
        if refused:
            return refused
        if self.scripted:
            status, extra_headers = self.scripted.popleft()
            return status, odata_error("0x80072322", "Scripted failure."), extra_headers
        if method == "DELETE" and (body or query):
            return 400, odata_error("0x80048d19", "A DELETE takes no body or query."), {}
        if method == "GET" and parse_qs(query) not in ({}, {"$select": ["statecode,statuscode"]}):
            return 400, odata_error("0x80060888", f"Unsupported query {query!r}."), {}
        lead_id = self.find(path)
        if lead_id is None and not (_KEYED.match(path) or _BY_ID.match(path)):
            return 404, odata_error("0x80060888", f"Resource not found for {method} {path}."), {}
        with self.lock:
            self.erasure_calls.append((method, target))
        if lead_id is None:
            return 404, odata_error("0x80040217", "lead With Id Does Not Exist"), {}
        if method == "DELETE":
            with self.lock:
                del self.records[lead_id]
            return 204, {}, {}
        record = self.records[lead_id]
        state = {"statecode": record.get("statecode", 0), "statuscode": record.get("statuscode", 1)}
        return 200, {"leadid": lead_id, **state}, {}

    def find(self, path: str) -> str | None:
        """The lead id a keyed path names, when the record exists."""
        with self.lock:
            by_id = _BY_ID.match(path)
            if by_id:
                return by_id["id"] if by_id["id"] in self.records else None
            keyed = _KEYED.match(path)
            if not keyed or keyed["attr"] != ALTERNATE_KEY:
                return None
            return next(
                (
                    lid
                    for lid, rec in self.records.items()
                    if rec.get(ALTERNATE_KEY) == keyed["value"]
                ),
                None,
            )


READ_HEADERS = {"OData-MaxVersion": "4.0", "OData-Version": "4.0", "Accept": "application/json"}


def aad_error(code: str, description: str) -> dict:
    return {"error": code, "error_description": description}


def odata_error(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def handler_for(receiver: DynamicsReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.dispatch("POST")

        def do_PATCH(self) -> None:
            self.dispatch("PATCH")

        def do_GET(self) -> None:
            self.dispatch("GET")

        def do_DELETE(self) -> None:
            self.dispatch("DELETE")

        def dispatch(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {}
            if method == "POST" and self.path.endswith("/oauth2/v2.0/token"):
                status, answer = receiver.token(self.path, self.headers, body)
            elif method in {"GET", "DELETE"}:
                status, answer, headers = receiver.erase(method, self.path, self.headers, body)
            else:
                status, answer, headers = receiver.write(method, self.path, self.headers, body)
            data = json.dumps(answer).encode() if answer else b""
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if data:
                self.send_header("Content-Type", "application/json; odata.metadata=minimal")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:  # keep pytest's output clean
            pass

    return Handler


@contextmanager
def running(receiver: DynamicsReceiver):
    """Serve the receiver on a free loopback port for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(receiver))
    receiver.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
