"""Partner Center's HTTPS-endpoint lead destination: its body, parsed for intake.

Partner Center POSTs `{UserDetails, LeadSource, ActionCode, OfferTitle, Description}`
(partner-center-leads.md §2; keys in any case, the test lead has `userDetails`). The body
names no offer id: the listing comes from the URL's token.
"""

from inbound import parsing
from inbound.models import InboundItem, InboundSource
from leads.intake.schemas import LEAD_KEYS, canonical_keys
from leads.models import Listing

# What a webhook body may set; the offer and the lead id are ours to fill in.
WEBHOOK_KEYS = tuple(key for key in LEAD_KEYS if key not in {"OfferId", "LeadId"})


@parsing.parser(InboundSource.Kind.WEBHOOK)
def webhook_parse(item: InboundItem) -> parsing.ParseResult:
    data = parsing.json_object(item.body)
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
    return parsing.lead_validate(raw, listing, storefront)
