"""A strict loopback stand-in for Marketo's identity service and Lead Database REST API.

It refuses what the contract (reference/crm-contracts.md, Marketo) does not allow: a wrong
client id or secret; a missing, invalid (601) or expired (602) token; more calls than the
rate limit allows in its window (606); any body but exactly {action: createOrUpdate,
lookupField: email, input: [1..300 leads]}. A lead with an unknown field is skipped with
reason 1006, as Marketo does; otherwise createOrUpdate by email creates, then updates.

Erasure: `GET /rest/v1/leads.json?filterType=email&filterValues=<1..300 emails>` (with
an optional `fields`) answers the leads with those emails, and `POST
/rest/v1/leads/delete.json` takes exactly {"input": [{"id": N}, … 1..300]} and answers
one result per id: "deleted", or "skipped" with reason 1004 (lead not found).
"""

import json
import secrets
import threading
import time
from collections import deque
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MUNCHKIN_ID = "123-ABC-456"
CLIENT_ID = "mkto-client-id"
CLIENT_SECRET = "mkto-client-secret"
LEAD_FIELDS = {
    "email",
    "firstName",
    "lastName",
    "phone",
    "company",
    "title",
    "country",
    "leadSource",
    "leadStatus",
}
MAX_INPUTS = 300
MAX_FILTER_VALUES = 300


class MarketoReceiver:
    def __init__(self, rate_calls: int = 100, rate_window: float = 20.0) -> None:
        self.rate_calls, self.rate_window = rate_calls, rate_window
        self.token_lifetime = 3600
        self.tokens: dict[str, float] = {}  # token -> expiry (time.monotonic)
        self.leads: dict[str, dict] = {}  # lower-cased email -> fields (with "id")
        self.token_calls = 0
        self.lead_calls: list[int] = []  # the number of inputs of each accepted call
        self.refused: list[str] = []  # the error codes answered, in order
        self.call_times: deque[float] = deque()
        self.scripted: deque[dict] = deque()  # top-level errors for the next lead calls
        self.lock = threading.Lock()
        self.base_url = ""
        self.lookups: list[list[str]] = []  # the emails of each accepted lookup
        self.deletes: list[list[int]] = []  # the ids of each accepted delete

    def fail_next(self, code: str, message: str) -> None:
        self.scripted.append({"code": code, "message": message})

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens = dict.fromkeys(self.tokens, 0.0)

    def config(self, **overrides) -> dict:
        return {
            "munchkinId": MUNCHKIN_ID,
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "baseUrl": self.base_url,
            **overrides,
        }

    def token(self, query: str) -> tuple[int, dict]:
        self.token_calls += 1
        params = {key: values[0] for key, values in parse_qs(query).items()}
        if params != {
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }:
            return 401, {"error": "unauthorized", "error_description": "Bad client credentials"}
        token = f"{secrets.token_hex(16)}:ab"
        with self.lock:
            self.tokens[token] = time.monotonic() + self.token_lifetime
        return 200, {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.token_lifetime,
            "scope": "api@example.com",
        }

    def refuse(self, code: str, message: str) -> tuple[int, dict]:
        """Marketo's answer to a call it refuses as a whole: HTTP 200, success false."""
        self.refused.append(code)
        error = {"code": code, "message": message}
        return 200, {"requestId": "r#1", "success": False, "errors": [error]}

    def push(self, headers, body: bytes) -> tuple[int, dict]:
        error = self.call_error(headers)
        if error:
            self.refused.append(error["code"])
            return 200, {"requestId": "r#1", "success": False, "errors": [error]}
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        inputs = request.get("input") if isinstance(request, dict) else None
        if (
            not isinstance(inputs, list)
            or set(request) != {"action", "lookupField", "input"}
            or request["action"] != "createOrUpdate"
            or request["lookupField"] != "email"
            or not 1 <= len(inputs) <= MAX_INPUTS
            or not all(isinstance(lead, dict) for lead in inputs)
        ):
            self.refused.append("1003")
            failure = {"code": "1003", "message": "Invalid request body"}
            return 200, {"requestId": "r#1", "success": False, "errors": [failure]}
        self.lead_calls.append(len(inputs))
        return 200, {
            "requestId": "r#1",
            "success": True,
            "result": [self.upsert(i) for i in inputs],
        }

    def call_error(self, headers, *, has_body: bool = True) -> dict | None:
        """The top-level error this call earns, if any: token, content type, rate limit."""
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return {"code": "600", "message": "Access token not specified"}
        expiry = self.tokens.get(auth.removeprefix("Bearer "))
        if expiry is None:
            return {"code": "601", "message": "Access token invalid"}
        if expiry <= time.monotonic():
            return {"code": "602", "message": "Access token expired"}
        if has_body and headers.get("Content-Type") != "application/json":
            return {"code": "612", "message": "Invalid Content Type"}
        with self.lock:
            now = time.monotonic()
            while self.call_times and self.call_times[0] <= now - self.rate_window:
                self.call_times.popleft()
            if len(self.call_times) >= self.rate_calls:
                return {"code": "606", "message": f"Max rate limit '{self.rate_calls}' exceeded"}
            self.call_times.append(now)
        if self.scripted:
            return self.scripted.popleft()
        return None

    def lookup(self, headers, query: str) -> tuple[int, dict]:
        error = self.call_error(headers, has_body=False)
        if error:
            return self.refuse(error["code"], error["message"])
        params = parse_qs(query)
        values = ",".join(params.get("filterValues", [])).split(",")
        if (
            params.get("filterType") != ["email"]
            or set(params) - {"filterType", "filterValues", "fields"}
            or not 1 <= len([v for v in values if v]) <= MAX_FILTER_VALUES
        ):
            return self.refuse("1003", "Invalid filter")
        self.lookups.append(values)
        wanted = {value.strip().lower() for value in values}
        with self.lock:
            found = [
                {"id": lead["id"], "email": lead["email"]}
                for email, lead in self.leads.items()
                if email in wanted
            ]
        return 200, {"requestId": "r#2", "success": True, "result": found}

    def delete(self, headers, body: bytes) -> tuple[int, dict]:
        error = self.call_error(headers)
        if error:
            return self.refuse(error["code"], error["message"])
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        inputs = request.get("input") if isinstance(request, dict) else None
        if (
            not isinstance(inputs, list)
            or set(request) != {"input"}
            or not 1 <= len(inputs) <= MAX_INPUTS
            or not all(isinstance(i, dict) and set(i) == {"id"} for i in inputs)
            or not all(isinstance(i["id"], int) for i in inputs)
        ):
            return self.refuse("1003", "Invalid request body")
        ids = [i["id"] for i in inputs]
        self.deletes.append(ids)
        results = []
        with self.lock:
            for lead_id in ids:
                email = next((e for e, lead in self.leads.items() if lead["id"] == lead_id), None)
                if email is None:
                    reason = {"code": "1004", "message": "Lead not found"}
                    results.append({"id": lead_id, "status": "skipped", "reasons": [reason]})
                else:
                    del self.leads[email]
                    results.append({"id": lead_id, "status": "deleted"})
        return 200, {"requestId": "r#3", "success": True, "result": results}

    def upsert(self, lead: dict) -> dict:
        unknown = sorted(set(lead) - LEAD_FIELDS)
        if unknown:
            reason = {"code": "1006", "message": f"Field '{unknown[0]}' not found"}
            return {"status": "skipped", "reasons": [reason]}
        email = str(lead.get("email") or "").strip().lower()
        if not email:
            reason = {"code": "1003", "message": "Value for lookup field 'email' not set"}
            return {"status": "skipped", "reasons": [reason]}
        with self.lock:
            existing = self.leads.get(email)
            if existing:
                existing.update(lead)
                return {"id": existing["id"], "status": "updated"}
            record = {**lead, "id": len(self.leads) + 1}
            self.leads[email] = record
            return {"id": record["id"], "status": "created"}


def handler_for(receiver: MarketoReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/identity/oauth/token":
                self.answer(*receiver.token(url.query))
            elif url.path == "/rest/v1/leads.json":
                self.answer(*receiver.lookup(self.headers, url.query))
            else:
                self.answer(404, {"errors": [{"code": "610", "message": "Not found"}]})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/rest/v1/leads.json":
                self.answer(*receiver.push(self.headers, body))
            elif self.path == "/rest/v1/leads/delete.json":
                self.answer(*receiver.delete(self.headers, body))
            else:
                self.answer(404, {"errors": [{"code": "610", "message": "Not found"}]})

        def answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:  # keep pytest's output clean
            pass

    return Handler


@contextmanager
def running(receiver: MarketoReceiver):
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
