"""Which listing a storefront lead names (by offer id or name), and whether it takes leads."""

from django.utils.translation import gettext as _

from leads.catalog.storefronts import Storefront
from leads.intake import reference
from leads.intake.schemas import LeadPayload, parse_lead_source
from leads.intake.transactions import refusal
from leads.models import Listing


def _offer_reference(payload: LeadPayload) -> tuple[str, str, list[str]]:
    """(kind, value, loc): the offer the lead names, by id or by display name."""
    if payload.OfferId:
        return "id", payload.OfferId, ["body", "OfferId"]
    offer = parse_lead_source(payload.LeadSource)[2]
    if offer:
        looks_like_id = "." in offer and " " not in offer
        return ("id" if looks_like_id else "name"), offer, ["body", "LeadSource"]
    if payload.OfferTitle:
        return "name", payload.OfferTitle, ["body", "OfferTitle"]
    return "none", "", ["body", "OfferId"]


def listings_for(*, storefront: str, payloads: list[LeadPayload]) -> list:
    """Per item, its eligible Listing, or the 422 outcome that says why there is none."""
    references = [_offer_reference(payload) for payload in payloads]
    ids = {value.lower() for kind, value, _ in references if kind == "id"}
    names = {value.lower() for kind, value, _ in references if kind == "name"}
    by_id, by_name = reference.listings_named(storefront=storefront, ids=ids, names=names)

    storefront_label = Storefront(storefront).label
    results = []
    for kind, value, loc in references:
        if kind == "none":
            results.append(
                refusal(
                    loc, _("Name the offer: send OfferId or LeadSource's offer part."), "no_offer"
                )
            )
            continue
        matches = [by_id[value.lower()]] if kind == "id" and value.lower() in by_id else []
        if kind == "name":
            matches = by_name.get(value.lower(), [])
        if not matches:
            msg = _("No listing on %(storefront)s has the offer %(offer)s.") % {
                "storefront": storefront_label,
                "offer": repr(value),
            }
            results.append(refusal(loc, msg, "unknown_offer"))
        elif len(matches) > 1:
            msg = _("Several listings are named %(offer)s; send OfferId.") % {"offer": repr(value)}
            results.append(refusal(loc, msg, "ambiguous_offer"))
        else:
            results.append(_eligibility(matches[0], loc))
    return results


def eligibility_problem(listing: Listing) -> tuple[str, str] | None:
    """(code, message) when the listing takes no leads now, else None."""
    if not listing.lead_management_enabled:
        msg = _("Lead management is not enabled for the listing %(listing)s.")
        return "lead_management_disabled", msg % {"listing": repr(listing.name)}
    if not listing.is_published:
        msg = _("The listing %(listing)s is not published.")
        return "listing_not_published", msg % {"listing": repr(listing.name)}
    return None


def _eligibility(listing: Listing, loc: list):
    problem = eligibility_problem(listing)
    if problem:
        return refusal(loc, problem[1], problem[0])
    return listing
