"""Partner Center's HTTPS-endpoint lead destination: its body, parsed for intake.

Partner Center POSTs `{UserDetails, LeadSource, ActionCode, OfferTitle, Description}`
(partner-center-leads.md §2; keys in any case, the test lead has `userDetails`). The body
names no offer id: the listing comes from the URL's token.

Two repairs, both of Partner Center's documented quirks:
- Microsoft's FAQ test lead misses the comma between two members. A body that fails to
  parse is parsed again with a comma put back where a value ends a line and the next
  line opens a key; if that fails too, it is a `not_json` reject.
- Partner Center passes the storefront URL's extra parameters (`?mktcmpid=1234&…`) in
  `Description`, as JSON or as a query string (§1.2). The first campaign parameter found
  becomes the lead's CampaignCode, which intake attributes to a campaign, unless the
  body names one itself.
"""

import json
import re
from urllib.parse import parse_qsl

from inbound import parsing
from inbound.models import InboundItem, InboundSource
from leads.intake.schemas import LEAD_KEYS, canonical_keys
from leads.models import Listing

# What a webhook body may set; the offer and the lead id are ours to fill in.
WEBHOOK_KEYS = tuple(key for key in LEAD_KEYS if key not in {"OfferId", "LeadId"})

# Marketing parameters that name a campaign, by precedence: Microsoft's own, then UTM.
CAMPAIGN_PARAMETERS = ("mktcmpid", "ocid", "utm_campaign", "campaign")
CAMPAIGN_CODE_MAX = 64
_QUERY_PAIR = re.compile(r"(?:^|[?&\s;,])([A-Za-z_]+)=([^&\s;,\"']+)")
# A value's end (a quote, digit, literal, or a closing bracket), a line break, then a key.
_MISSING_COMMA = re.compile(r'(["\d\]}el])([ \t]*\r?\n\s*)(")')


def body_json(text: str) -> dict | parsing.InboundReject:
    """The body as a JSON object, with Partner Center's missing comma put back if need be."""
    data = parsing.json_object(text)
    if isinstance(data, parsing.InboundReject) and data.code == "not_json":
        repaired = parsing.json_object(_MISSING_COMMA.sub(r"\1,\2\3", text))
        if not isinstance(repaired, parsing.InboundReject):
            return repaired
    return data


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


@parsing.parser(InboundSource.Kind.WEBHOOK)
def webhook_parse(item: InboundItem) -> parsing.ParseResult:
    data = body_json(item.body)
    if isinstance(data, parsing.InboundReject):
        return data
    raw = canonical_keys(data, WEBHOOK_KEYS)
    listing = item.source.listing
    storefront = parsing.storefront_for(str(raw.get("LeadSource") or ""), listing)
    if storefront != listing.storefront:
        # The same offer may be listed on the other storefront too; else it is the listing's.
        sibling = Listing.objects.filter(
            publisher_id=listing.publisher_id,
            storefront=storefront,
            offer_id__iexact=listing.offer_id,
        ).first()
        listing, storefront = (sibling, storefront) if sibling else (listing, listing.storefront)
    raw["OfferId"] = listing.offer_id
    if not raw.get("CampaignCode") and isinstance(raw.get("Description"), str):
        code = campaign_code_from(raw["Description"])
        if code:
            raw["CampaignCode"] = code
    return parsing.lead_validate(raw, listing, storefront)
