"""The Partner Center HTTPS-endpoint webhook: POST /api/v1/inbound/partner-center/<token>/.

Partner Center reads only the status code, never resends a lead it could not deliver, and
sends no Authorization header: the token in the URL is the credential. So the answer is
200 for anything stored (inbound.endpoint), and only:
- 404 for a token that names no live URL (unknown, revoked, or rotated out past its grace
  period);
- 429 with Retry-After once an address has sent API_AUTH_FAILURE_LIMIT unknown tokens in
  API_AUTH_WINDOW_MINUTES. A live token is still taken from that address: a lead is never
  refused for a neighbour's guesses, and a 256-bit token is not found by guessing. A
  revoked token is not counted: Partner Center may keep posting to a URL its publisher
  revoked, and that must not throttle every other publisher's leads from Microsoft;
- 400 for a body that is not JSON at all;
- 413 for a body over 64 KiB (leads.middleware, before this view);
- 5xx only when the database cannot store the item.

The path holds the token, so no log line may carry it: settings.LOGGING masks it
(inbound.log_filters) in Django's request logs and in the runserver log.
"""

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from ninja import Router, Schema, Status

from inbound import endpoint, sources
from leads.intake.schemas import ErrorAnswer
from portal import throttling

router = Router(tags=["inbound"])

# What Partner Center POSTs (partner-center-leads.md §2), documented for clients and for
# the Schemathesis run; the view reads the raw body itself, so nothing is refused by it.
_USER_DETAILS = {
    "type": "object",
    "properties": {
        name: {"type": "string", "maxLength": 200}
        for name in ("FirstName", "LastName", "Email", "Phone", "Country", "Company", "Title")
    },
}
WEBHOOK_BODY_SCHEMA = {
    "type": "object",
    "description": (
        "Partner Center's HTTPS-endpoint lead, keys in any case (its test lead sends "
        "userDetails). Every JSON body is stored; what cannot become a lead is a reject "
        "the owner sees and can retry."
    ),
    "properties": {
        "UserDetails": _USER_DETAILS,
        "LeadSource": {"type": "string", "maxLength": 200},
        "ActionCode": {"type": "string", "maxLength": 40},
        "OfferTitle": {"type": "string", "maxLength": 200},
        "Description": {"type": "string", "maxLength": 4000},
    },
}


class InboundAnswer(Schema):
    status: str  # "received", or "replayed" for a body stored within the replay window


def _answer(status: int, detail: str):
    return Status(status, {"detail": detail})


def _token_throttled(request: HttpRequest) -> int:
    """Retry-After seconds when this address has used up its unknown tokens, else 0."""
    address = throttling.throttle_address(request)
    if address is None:
        return 0
    window = throttling.window_count(
        scope="inbound-token",
        subject=address,
        window_seconds=settings.API_AUTH_WINDOW_MINUTES * 60,
    )
    return window.retry_after if window.count >= settings.API_AUTH_FAILURE_LIMIT else 0


def _token_failure_record(request: HttpRequest) -> None:
    address = throttling.throttle_address(request)
    if address is not None:
        throttling.window_hit(
            scope="inbound-token",
            subject=address,
            window_seconds=settings.API_AUTH_WINDOW_MINUTES * 60,
        )


@router.post(
    "/partner-center/{token}/",
    url_name="inbound_partner_center",
    response={200: InboundAnswer, **dict.fromkeys((400, 404, 413, 429), ErrorAnswer)},
    summary="Partner Center HTTPS-endpoint lead destination",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": WEBHOOK_BODY_SCHEMA}},
        }
    },
)
def partner_center_webhook(request: HttpRequest, token: str):
    """Paste this URL into Partner Center (the offer's Customer leads, HTTPS endpoint). No
    Authorization header: the URL's token is the secret. Every JSON body is stored first
    and answered 200; the worker then makes it a lead, or a reject the owner can retry."""
    match = sources.webhook_source_for_token(token=token)
    if match.source is None:
        if not match.is_known:
            retry_after = _token_throttled(request)
            if retry_after:
                response = JsonResponse(
                    {"detail": "Too many unknown inbound URLs from this address."}, status=429
                )
                response["Retry-After"] = str(retry_after)
                return response
            _token_failure_record(request)
        return _answer(404, "No such inbound URL.")
    body = endpoint.body_read(request.body)
    if body is None:
        return _answer(400, "The body is not JSON.")
    _, is_new = endpoint.webhook_receive(
        source=match.source, body=body, via_previous=match.via_previous
    )
    return Status(200, {"status": "received" if is_new else "replayed"})


# A URL pasted without its last slash reaches the same view (APPEND_SLASH cannot redirect
# a POST without losing its body). Not in the OpenAPI document: it is the same operation.
router.add_api_operation(
    "/partner-center/{token}",
    ["POST"],
    partner_center_webhook,
    response={200: InboundAnswer, **dict.fromkeys((400, 404, 413, 429), ErrorAnswer)},
    include_in_schema=False,
    url_name="inbound_partner_center_no_slash",
)
