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

import re

from inbound import parsing
from inbound.models import InboundItem, InboundSource
from leads.intake.schemas import LEAD_KEYS, canonical_keys
from leads.models import Listing

# What a webhook body may set; the offer and the lead id are ours to fill in.
WEBHOOK_KEYS = tuple(key for key in LEAD_KEYS if key not in {"OfferId", "LeadId"})

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
    parsing.campaign_code_fill(raw)
    return parsing.lead_validate(raw, listing, storefront)
