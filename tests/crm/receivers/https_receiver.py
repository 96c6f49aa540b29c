"""A strict Standard Webhooks receiver: the publisher's HTTPS endpoint, as the contract
describes it (reference/crm-contracts.md, HTTPS endpoint).

Every request is verified with the official `standardwebhooks` library, so a pass is an
interop proof, not our code agreeing with itself. It refuses (and records why):
- anything but POST with Content-Type application/json (415);
- a missing, wrong or stale signature, or a stale or future timestamp (401);
- a body that is not a JSON object, or lacks a Partner Center key (400);
- a `lead.erased` event with anything but its three keys (Event, LeadId, ErasedAt):
  it must carry no personal data (400).
It drops duplicates on webhook-id: `effects` holds one body per distinct id, while
`requests` holds every raw request.
"""

import json

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.crm.receivers import LoopbackServer

PARTNER_CENTER_KEYS = ("UserDetails", "LeadSource", "ActionCode", "OfferTitle", "Description")
USER_DETAILS_KEYS = ("FirstName", "LastName", "Email", "Phone", "Country", "Company", "Title")


class HttpsReceiver(LoopbackServer):
    def __init__(self, secret: str, *, tls: bool = True) -> None:
        super().__init__(tls=tls)
        self.webhook = Webhook(secret)
        self.effects: dict[str, dict] = {}  # webhook-id -> the body, once

    @property
    def duplicates(self) -> int:
        accepted = [r for r in self.requests if not r.reason]
        return len(accepted) - len(self.effects)

    def handle(self, method: str, path: str, headers: dict, body: bytes) -> tuple:
        refusal = self._refusal(method, headers, body)
        if refusal:
            status, reason = refusal
            return status, {}, reason.encode(), 0.0, reason
        answer = self.next_answer()
        if 200 <= answer.status < 300:
            with self.lock:
                self.effects.setdefault(headers["webhook-id"], json.loads(body))
        return answer.status, answer.headers, answer.body, answer.delay, ""

    def _refusal(self, method: str, headers: dict, body: bytes) -> tuple[int, str] | None:
        if method != "POST":
            return 405, f"method {method} is not POST"
        if headers.get("content-type") != "application/json":
            return 415, f"content type {headers.get('content-type')!r} is not application/json"
        try:
            self.webhook.verify(body, headers, json_parse=False)
        except WebhookVerificationError as exc:
            return 401, f"signature: {exc}"
        try:
            document = json.loads(body)
        except ValueError:
            return 400, "the body is not JSON"
        return _shape_refusal(document)


ERASED_KEYS = {"Event", "LeadId", "ErasedAt"}


def _shape_refusal(document: object) -> tuple[int, str] | None:
    if not isinstance(document, dict):
        return 400, "the body is not a JSON object"
    if document.get("Event") == "lead.erased":
        if set(document) != ERASED_KEYS or not isinstance(document["LeadId"], str):
            return 400, f"a lead.erased event has exactly the keys {sorted(ERASED_KEYS)}"
        return None
    missing = [key for key in PARTNER_CENTER_KEYS if key not in document]
    details = document.get("UserDetails")
    if not isinstance(details, dict):
        return 400, f"missing Partner Center keys: {missing or ['UserDetails']}"
    missing += [f"UserDetails.{key}" for key in USER_DETAILS_KEYS if key not in details]
    if missing:
        return 400, f"missing Partner Center keys: {missing}"
    return None
