"""The consent rules: may this marketplace lead receive this listing's nurture emails?

Partner Center's payloads carry no consent flag, yet every marketplace lead clicked a call
to action and agreed that the publisher may contact them about the offer (§3.1 of the
Partner Center reference). So, for each activity intake applies, in this order:
  1. the payload's MarketingConsent, when sent, decides (basis: explicit, or import for a
     CSV file);
  2. otherwise a consent or refusal the lead stated earlier stands: a listing's policy
     never overrides an explicit "no";
  3. otherwise the listing's policy decides: off, a DNC action, a country among the
     listing's stricter regions (or no country while it has some) refuse; on grants
     consent to this listing's nurture sequence only ("contact about this offer").
Enrolment (leads.nurture.services) and the sender (leads.nurture.send) apply the same
rules; `nurture_allowed` is the sender's re-check.
"""

from dataclasses import dataclass

from django.utils.translation import gettext as _

from leads.catalog.regions import countries_display
from leads.consent.models import ConsentBasis, ConsentReason
from leads.models import Lead, LeadActivity, Listing

# What the customer was shown, as Microsoft documents it (partner-center-inbound.md §3.1),
# quoted verbatim: the evidence points at these by id, per action.
CUSTOMER_TEXTS = {
    "get-it-now": (
        "I give Microsoft permission to use or share my account information so that the "
        "provider or Microsoft can contact me regarding this product and related products "
        "and Microsoft may share contact, usage, and transactional information for support, "
        "billing, and other transactional activities."
    ),
    "contact-me": "A customer consents to sharing their information after they select Contact me.",
}
_TEXT_OF_ACTION = {
    LeadActivity.ActionCode.INS: "get-it-now",
    LeadActivity.ActionCode.PLT: "contact-me",
}


@dataclass(frozen=True)
class Decision:
    is_granted: bool
    basis: str
    reason: str


def consent_stated(lead: Lead) -> bool | None:
    """What the lead stated (a flag, a file or staff): True, False, or None when never."""
    if lead.marketing_consent:
        return True
    return False if lead.marketing_consent_at is not None else None


def policy_decide(*, listing: Listing, country: str, action: str | None) -> Decision:
    """Step 3: the listing's policy alone, for a lead that stated nothing."""
    basis = ConsentBasis.LISTING_POLICY
    if action == LeadActivity.ActionCode.DNC:
        return Decision(False, basis, ConsentReason.DO_NOT_CONTACT)
    if not listing.nurture_on_offer_consent:
        return Decision(False, basis, ConsentReason.POLICY_OFF)
    strict = listing.strict_countries
    if strict and not country:
        return Decision(False, basis, ConsentReason.UNKNOWN_COUNTRY)
    if country.upper() in strict:
        return Decision(False, basis, ConsentReason.STRICTER_REGION)
    return Decision(True, basis, ConsentReason.POLICY_ON)


def consent_decide(
    *,
    flag: bool | None,
    is_imported: bool,
    stated_before: bool | None,
    listing: Listing,
    country: str,
    action: str,
) -> Decision:
    """The decision an activity carries (steps 1 to 3 of the module docstring)."""
    if flag is not None:
        basis = ConsentBasis.IMPORT if is_imported else ConsentBasis.EXPLICIT
        return Decision(flag, basis, ConsentReason.FLAG_TRUE if flag else ConsentReason.FLAG_FALSE)
    if stated_before is not None:
        reason = ConsentReason.CONSENTED_EARLIER if stated_before else ConsentReason.REFUSED_EARLIER
        return Decision(stated_before, ConsentBasis.EXPLICIT, reason)
    return policy_decide(listing=listing, country=country, action=action)


def nurture_allowed(*, lead: Lead, consent_listing: Listing | None) -> bool:
    """The sender's re-check: the lead's stated consent, else the policy of the listing
    that enrolled it, as they are now (turned off, or a country now strict: no email)."""
    stated = consent_stated(lead)
    if stated is not None:
        return stated
    if consent_listing is None:
        return False
    return policy_decide(listing=consent_listing, country=lead.country, action=None).is_granted


def policy_snapshot(*, listing: Listing, flag: bool | None, country: str, action: str) -> dict:
    """The policy as it was when it was applied, with what it was applied to."""
    return {
        "listing_id": listing.pk,
        "offer_id": listing.offer_id,
        "nurture_on_offer_consent": listing.nurture_on_offer_consent,
        "strict_countries": sorted(listing.strict_countries),
        "flag": flag,
        "country": country,
        "action": action,
        "customer_text": _TEXT_OF_ACTION.get(action, ""),
    }


def policy_summary(snapshot: dict) -> str:
    """One sentence for people: what the snapshot's policy allowed."""
    if not snapshot or "nurture_on_offer_consent" not in snapshot:
        return ""
    if not snapshot["nurture_on_offer_consent"]:
        return _("Policy off: nurture emails only with an explicit MarketingConsent flag.")
    strict = snapshot.get("strict_countries") or []
    if not strict:
        return _("Policy on: nurture emails without an explicit flag, from every country.")
    return _(
        "Policy on: nurture emails without an explicit flag, except for leads from "
        "%(countries)s or with no country."
    ) % {"countries": countries_display(",".join(strict))}


def listing_policy_summary(listing: Listing) -> str:
    """The listing's policy now, in the words of `policy_summary`."""
    return policy_summary(
        {
            "nurture_on_offer_consent": listing.nurture_on_offer_consent,
            "strict_countries": sorted(listing.strict_countries),
        }
    )


def customer_text(snapshot: dict) -> str:
    """The wording the customer was shown for the snapshot's action, when documented."""
    return CUSTOMER_TEXTS.get((snapshot or {}).get("customer_text", ""), "")
