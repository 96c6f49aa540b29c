"""Co-Sell referrals (DESIGN §1): leads a Microsoft seller has already qualified.

They are kept apart from marketplace leads: their own origin (never merged with a
marketplace lead of the same email), qualified on arrival, never scored, nurtured or
counted in campaign figures, and only for publishers that staff marked Co-Sell
enrolled. They reach the publisher's CRM targets with the lead source "Co-Sell"; they
do not go back to the field-seller CRM they came from.
"""

from typing import ClassVar

from django.db import DataError, IntegrityError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.catalog.storefronts import storefront_mask
from leads.intake.schemas import LEAD_KEYS, LeadPayload, single_line
from leads.intake.services import contact_fold
from leads.intake.transactions import ItemOutcome, refusal, run_atomic, unstorable
from leads.lifecycle.services import LeadEvent, lead_move, leads_changes_record
from leads.lifecycle.snapshot import CO_SELL_SOURCE
from leads.models import Lead, LeadActivity, Listing, Referral
from leads.referrals import services as referral_services

CO_SELL_ACTION = "CoSellReferral"
EXTERNAL_ID_PREFIX = "co-sell:"


class ReferralPayload(LeadPayload):
    """A referral: the lead JSON plus the referral's id and the offer it is about."""

    known_keys: ClassVar[tuple[str, ...]] = (*LEAD_KEYS, "ReferralId")

    ReferralId: single_line(150, min_length=1)
    OfferId: single_line(200, min_length=1)


def referral_ingest(
    *,
    payload: ReferralPayload,
    raw: dict,
    entered_by=None,
    listing: Listing | None = None,
    referral_values: dict | None = None,
) -> ItemOutcome:
    """Store a Co-Sell referral as a qualified co-sell lead; replays answer 200.

    The Referrals API sync (crm.referrals) names the listing and passes what Partner
    Center says of the referral (`referral_values`, leads.referrals.services.REMOTE_FIELDS).
    """
    external_id = EXTERNAL_ID_PREFIX + payload.ReferralId
    stored = LeadActivity.objects.filter(external_id=external_id).values_list(
        "intake_response", flat=True
    )
    if stored:
        return ItemOutcome(200, answer=stored[0])
    if listing is None:
        listings = list(
            Listing.objects.filter(offer_id__iexact=payload.OfferId).select_related("publisher")
        )
        if not listings:
            msg = _("No listing has the offer %(offer)s.") % {"offer": repr(payload.OfferId)}
            return refusal(["body", "OfferId"], msg, "unknown_offer")
        if len(listings) > 1:
            msg = _("The offer %(offer)s is on both storefronts; name one in OfferId's listing.")
            return refusal(
                ["body", "OfferId"], msg % {"offer": repr(payload.OfferId)}, "ambiguous_offer"
            )
        listing = listings[0]
    if not listing.publisher.co_sell_enrolled:
        msg = _("%(publisher)s is not Co-Sell enrolled, so it cannot receive referrals.")
        return refusal(
            ["body", "OfferId"], msg % {"publisher": listing.publisher.name}, "not_co_sell"
        )
    try:
        # Retried on deadlock or serialization failure, as marketplace intake is.
        return run_atomic(
            lambda: _store(payload, raw, listing, external_id, entered_by, referral_values)
        )
    except IntegrityError:
        stored = LeadActivity.objects.filter(external_id=external_id).values_list(
            "intake_response", flat=True
        )
        if not stored:
            raise
        return ItemOutcome(200, answer=stored[0])
    except DataError as exc:
        # Validation (leads.intake.payload_limits) should have refused it; never a 500 all the same.
        return unstorable(exc)


def _store(
    payload: ReferralPayload,
    raw: dict,
    listing: Listing,
    external_id: str,
    entered_by,
    referral_values: dict | None,
):
    now = timezone.now()
    details = payload.UserDetails
    email = Lead.normalize_email(details.Email)
    Lead.objects.bulk_create(
        [
            Lead(
                publisher=listing.publisher,
                origin=Lead.Origin.CO_SELL,
                email=details.Email,
                email_normalized=email,
            )
        ],
        ignore_conflicts=True,
    )
    # A merged lead's address is its survivor's (one hop: merges do not chain); both rows
    # are locked in primary-key order, as lead_merge locks a pair.
    people = Lead.objects.filter(publisher=listing.publisher, origin=Lead.Origin.CO_SELL)
    survivors = people.filter(email_normalized=email, merged_into__isnull=False)
    rows = {
        row.pk: row
        for row in people.select_for_update()
        .filter(Q(email_normalized=email) | Q(pk__in=survivors.values("merged_into_id")))
        .order_by("pk")
    }
    (lead,) = [row for row in rows.values() if row.email_normalized == email]
    if lead.merged_into_id:
        lead = rows.get(lead.merged_into_id) or people.select_for_update().get(
            pk=lead.merged_into_id
        )
    consolidated = lead.activities.exists()
    contact_fold(lead, details)
    lead.last_activity_at = now
    lead.storefronts |= storefront_mask([listing.storefront])
    event, transitions = "updated", []
    if lead.status == Lead.Status.NEW:
        reason = _("Co-Sell referral, qualified by a Microsoft seller.")
        transitions.append(
            lead_move(lead, to_status=Lead.Status.QUALIFIED, reason=reason, now=now, by=entered_by)
        )
        event = "qualified"
    lead.save()
    answer = {
        "id": str(lead.uuid),
        "status": lead.status,
        "score": lead.score,
        "consolidated": consolidated,
    }
    LeadActivity.objects.create(
        lead=lead,
        listing=listing,
        storefront=listing.storefront,
        action_code=CO_SELL_ACTION,
        lead_source=CO_SELL_SOURCE,
        external_id=external_id,
        description=payload.Description,
        occurred_at=min(payload.CreatedTime or now, now),
        raw_payload=raw,
        intake_response=answer,
    )
    if referral_values is None:  # posted by hand: only what the lead JSON says
        referral_values, sync_state = posted_referral_values(payload), Referral.SyncState.LOCAL
    else:
        sync_state = Referral.SyncState.SYNCED
    referral_services.referral_store(
        publisher=listing.publisher,
        lead=lead,
        partner_center_id=payload.ReferralId,
        values=referral_values,
        sync_state=sync_state,
    )
    events = [] if lead.status == Lead.Status.DISQUALIFIED else [LeadEvent(lead, event, listing.pk)]
    leads_changes_record(transitions=transitions, events=events, field_seller=False, now=now)
    return ItemOutcome(201, answer=answer)


def posted_referral_values(payload: ReferralPayload) -> dict:
    """A referral posted to /api/v1/referrals (or typed in admin): new, awaiting an answer."""
    details = payload.UserDetails
    return {
        "name": payload.OfferTitle or payload.ReferralId,
        "customer_name": details.Company,
        "customer_need": payload.Description,
        "status": Referral.Status.NEW,
        "substatus": Referral.Substatus.PENDING,
        "pc_created_at": payload.CreatedTime,
    }
