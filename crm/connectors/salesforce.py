"""The Salesforce Web-to-Lead connector: one form POST per lead.

Web-to-Lead answers 200 whether or not Salesforce created the lead (a wrong org id, a
validation rule, or the daily cap of 500 leads per org all still answer 200), so
"delivered" means "Salesforce accepted the form". There is no idempotency key: a
connect error is safe to retry (nothing was sent), while a read timeout after sending
is ambiguous and is retried too, so a duplicate lead is possible (at least once). The
engine's token bucket keeps to the daily cap (crm.models.CrmTarget.PROFILES).
"""

import re
from urllib.parse import urlencode

from crm.connectors import http_client
from crm.connectors.base import (
    ConfigurationError,
    DeliveryPayload,
    Result,
    SendOptions,
    all_results,
)

KIND = "salesforce"
DEFAULT_BASE_URL = "https://webto.salesforce.com"
SERVLET_PATH = "/servlet/servlet.WebToLead"
ENCODING = "UTF-8"
ORG_ID = re.compile(r"^00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")
# Web-to-Lead's standard fields that a payload fills, named as the payload names them.
PAYLOAD_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "company",
    "phone",
    "country",
    "title",
    "lead_source",
    "description",
)
STANDARD_FIELDS = ("oid", *PAYLOAD_FIELDS, "encoding")


class SalesforceConnector:
    kind = KIND

    def send(
        self, config: dict, payloads: list[DeliveryPayload], options: SendOptions
    ) -> list[Result]:
        try:
            oid = org_id(config)
            url = endpoint_url(config, options)
        except ConfigurationError as exc:
            return all_results(payloads, "permanent", error=str(exc))
        return [_send_one(url, oid, payload, options) for payload in payloads]


def org_id(config: dict) -> str:
    value = config.get("objectIdentifier")
    if not isinstance(value, str) or not ORG_ID.match(value.strip()):
        raise ConfigurationError(
            "check the organization id: objectIdentifier must be 15 or 18 letters and "
            "digits starting with 00D"
        )
    return value.strip()


def endpoint_url(config: dict, options: SendOptions) -> str:
    base = config.get("baseUrl") or DEFAULT_BASE_URL
    if not isinstance(base, str):
        raise ConfigurationError("the Web-to-Lead base URL (baseUrl) is not valid")
    base = base.strip().rstrip("/")
    http_client.url_checked(base, options, what="the Web-to-Lead base URL")
    return f"{base}{SERVLET_PATH}?encoding={ENCODING}"


def form_fields(payload: DeliveryPayload, oid: str) -> list[tuple[str, str]]:
    """Web-to-Lead's standard fields, then the target's extra fields (custom field ids
    such as 00N…), which never replace a standard one."""
    fields = [
        ("oid", oid),
        *((name, getattr(payload, name)) for name in PAYLOAD_FIELDS),
        ("encoding", ENCODING),
    ]
    for key, value in payload.extra_fields.items():
        if str(key) not in STANDARD_FIELDS:
            fields.append((str(key), _form_value(value)))
    return fields


def _form_value(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"  # how a Web-to-Lead checkbox posts
    return "" if value is None else str(value)


def _send_one(url: str, oid: str, payload: DeliveryPayload, options: SendOptions) -> Result:
    content = urlencode(form_fields(payload, oid), encoding=ENCODING).encode("ascii")
    return http_client.send(
        kind=KIND,
        delivery_id=payload.delivery_id,
        url=url,
        content=content,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        options=options,
    )


connector = SalesforceConnector()
