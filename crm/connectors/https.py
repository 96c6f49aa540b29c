"""The HTTPS-endpoint connector: Partner Center's JSON, signed per Standard Webhooks.

One POST per lead (an endpoint has no batch API). The body is Partner Center's, byte
for byte in its keys, followed additively by ours (reference/crm-contracts.md, HTTPS
endpoint). `webhook-id` is the delivery id, the same on every retry, so the receiver can
drop duplicates; the timestamp is fresh on each attempt. After a 410 the rest of the
batch is not sent: the engine pauses the target and they wait, pending.
"""

import json
from dataclasses import replace
from datetime import UTC, datetime

from crm.connectors import http_client, signing
from crm.connectors.base import (
    ConfigurationError,
    DeliveryPayload,
    ErasureRequest,
    Result,
    SendOptions,
    all_results,
    user_details,
)

KIND = "https"


class HttpsConnector:
    kind = KIND

    def send(
        self, config: dict, payloads: list[DeliveryPayload], options: SendOptions
    ) -> list[Result]:
        return _post_each(config, payloads, body_bytes, options)


def _post_each(config: dict, items: list, content_of, options: SendOptions) -> list[Result]:
    """POST each item's body (content_of(item)), signed with its delivery id, in order."""
    try:
        url = endpoint_url(config, options)
        signing_secrets = signing.secrets_from_config(config.get("signingSecret"))
    except ConfigurationError as exc:
        return all_results(items, "permanent", error=str(exc))
    results: list[Result] = []
    is_gone = False
    for item in items:
        if is_gone:
            results.append(_not_sent_after_gone(item))
            continue
        content = content_of(item)
        results.append(_post_signed(url, signing_secrets, item.delivery_id, content, options))
        is_gone = results[-1].status_code == 410
    return results


def endpoint_url(config: dict, options: SendOptions) -> str:
    url = config.get("httpsEndpointUrl")
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError("the endpoint URL (httpsEndpointUrl) is missing")
    return http_client.url_checked(url.strip(), options, what="the endpoint URL")


def _post_signed(
    url: str, signing_secrets: list[str], delivery_id: str, content: bytes, options: SendOptions
) -> Result:
    headers = {
        "Content-Type": "application/json",
        **signing.signing_headers(signing_secrets, delivery_id, content),
    }
    return http_client.send(
        kind=KIND,
        delivery_id=delivery_id,
        url=url,
        content=content,
        headers=headers,
        options=options,
    )


def _not_sent_after_gone(payload: DeliveryPayload | ErasureRequest) -> Result:
    error = "not sent: the endpoint answered 410 Gone to an earlier lead of this batch"
    return Result(payload.delivery_id, "retryable", error=error)


def body(payload: DeliveryPayload) -> dict:
    """Partner Center's keys first, then ours, then the target's extra fields. An extra
    field never replaces or shadows a standard key (UserDetails' included), in any letter
    case: Power Automate reads keys case-insensitively."""
    document = {
        "UserDetails": user_details(payload),
        "LeadSource": payload.lead_source,
        "ActionCode": payload.action_code,
        "OfferTitle": payload.offer_title,
        "Description": payload.description,
        "LeadId": payload.lead_id,
        "OfferId": payload.offer_id,
        "Storefront": payload.storefront,
        "Event": payload.event,
        "Score": payload.score,
        "Status": payload.status,
        "CampaignCode": payload.campaign_code,
        "CreatedTime": payload.created_at,
        "Origin": payload.origin,
        "IsTest": payload.is_test,
    }
    taken = {key.lower() for key in [*document, *document["UserDetails"]]}
    for key, value in payload.extra_fields.items():
        if str(key).lower() not in taken:
            document[str(key)] = value
            taken.add(str(key).lower())
    return document


def body_bytes(payload: DeliveryPayload) -> bytes:
    """Minified UTF-8 JSON: these exact bytes are signed and sent."""
    return json.dumps(body(payload), separators=(",", ":"), ensure_ascii=False).encode()


connector = HttpsConnector()


class HttpsEraser:
    """An erasure is always a signed `lead.erased` event: the lead id, no personal data.
    The endpoint finds its copy by LeadId, which every earlier event carried."""

    kind = KIND

    def erase(
        self, config: dict, requests: list[ErasureRequest], options: SendOptions
    ) -> list[Result]:
        results = _post_each(config, requests, erasure_body_bytes, options)
        return [replace(r, erasure="signalled") if r.is_delivered else r for r in results]


def erasure_body_bytes(request: ErasureRequest) -> bytes:
    """The lead.erased event: what happened and to which lead id, nothing about the person."""
    document = {
        "Event": "lead.erased",
        "LeadId": request.lead_id,
        "ErasedAt": datetime.now(UTC).isoformat(),
    }
    return json.dumps(document, separators=(",", ":")).encode()


eraser = HttpsEraser()
