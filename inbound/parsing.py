"""From an inbound item's stored body to the lead JSON that intake takes, or a reject.

Each source kind has one parser (PARSERS). A parser never raises on bad input: it returns
an InboundLead, or an InboundReject whose code and reason the owner sees and which can be
retried once the cause is fixed (a listing created, for example). What every kind shares
lives here: the JSON object, the storefront LeadSource names, intake's validation, and the
campaign that Description's marketing parameters name.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from django.utils.translation import gettext as _
from pydantic import ValidationError

from leads.catalog.storefronts import Storefront
from leads.intake import payload_limits
from leads.intake.schemas import LeadPayload, parse_lead_source
from leads.models import Listing

# LeadSource's source part (partner-center-leads.md §1.3) to our storefront.
STOREFRONT_BY_SOURCE = {
    "azuremarketplace": Storefront.AZURE_MARKETPLACE,
    "azureportal": Storefront.AZURE_MARKETPLACE,
    "testdrive": Storefront.AZURE_MARKETPLACE,
    "appsource": Storefront.APPSOURCE,
    "spza": Storefront.APPSOURCE,
}


@dataclass
class InboundLead:
    """A lead ready for intake: its validated payload, its raw JSON and its listing."""

    payload: LeadPayload
    raw: dict
    listing: Listing
    storefront: str


@dataclass
class InboundReject:
    code: str
    reason: str


type ParseResult = InboundLead | InboundReject


def storefront_for(lead_source: str, listing: Listing) -> str:
    """The storefront that LeadSource names, else the listing's own."""
    source = parse_lead_source(lead_source or "")[0]
    key = source.split(" ")[0].strip("()").lower()
    return STOREFRONT_BY_SOURCE.get(key, listing.storefront)


def json_object(body: str) -> dict | InboundReject:
    """The body as a JSON object, or the reject that says why it is not one."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return InboundReject("not_json", _("The body is not JSON."))
    if not isinstance(data, dict):
        return InboundReject("not_an_object", _("The body is not a JSON object."))
    return data


def lead_validate(raw: dict, listing: Listing, storefront: str) -> ParseResult:
    """Validate raw lead JSON as intake would; a refusal becomes a reject naming the fields."""
    problems = payload_limits.raw_payload_errors(raw)
    if not problems:
        try:
            payload = LeadPayload.model_validate(raw)
        except ValidationError as exc:
            problems = exc.errors(include_url=False, include_context=False)
        else:
            return InboundLead(payload=payload, raw=raw, listing=listing, storefront=storefront)
    reason = "; ".join(
        f"{'.'.join(str(part) for part in problem.get('loc', ()))}: {problem.get('msg', '')}"
        for problem in problems
    )
    return InboundReject("invalid_lead", reason)


# Marketing parameters that name a campaign, by precedence: Microsoft's own, then UTM.
CAMPAIGN_PARAMETERS = ("mktcmpid", "ocid", "utm_campaign", "campaign")
CAMPAIGN_CODE_MAX = 64
_QUERY_PAIR = re.compile(r"(?:^|[?&\s;,])([A-Za-z_]+)=([^&\s;,\"']+)")


def campaign_code_from(description: str) -> str:
    """The campaign that Description's marketing parameters name, or ""."""
    parameters: dict[str, str] = {}
    text = description.strip()
    start = text.find("{")
    if start >= 0:
        try:
            data = json.loads(text[start : text.rfind("}") + 1])
        except ValueError:
            data = None
        if isinstance(data, dict):
            parameters = {str(key).lower(): value for key, value in data.items()}
    if not parameters:
        query = text.split("?", 1)[-1] if "?" in text else text
        pairs = parse_qsl(query, keep_blank_values=False) if "=" in query else []
        parameters = {key.lower(): value for key, value in pairs}
        parameters |= {
            key.lower(): value
            for key, value in _QUERY_PAIR.findall(text)
            if key.lower() not in parameters
        }
    for name in CAMPAIGN_PARAMETERS:
        value = parameters.get(name)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            code = str(value).strip()
            if code and len(code) <= CAMPAIGN_CODE_MAX and code.isprintable():
                return code
    return ""


def campaign_code_fill(raw: dict) -> None:
    """Set CampaignCode from Description's marketing parameters, unless the lead names one."""
    if not raw.get("CampaignCode") and isinstance(raw.get("Description"), str):
        code = campaign_code_from(raw["Description"])
        if code:
            raw["CampaignCode"] = code


# kind -> parser(item) ; each kind's module registers its parser here.
PARSERS: dict[str, Callable] = {}


def parser(kind: str):
    def register(function: Callable) -> Callable:
        PARSERS[kind] = function
        return function

    return register
