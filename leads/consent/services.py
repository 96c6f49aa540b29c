"""Writes of consent evidence: intake's batch, a suppression (unsubscribe, bounce,
complaint), staff's edit.

Every row is written in the transaction of the change it explains; none is ever updated.
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from leads.consent.models import ConsentBasis, ConsentReason, ConsentRecord
from leads.consent.policy import Decision, policy_snapshot
from leads.models import Lead, LeadActivity, Listing


def consent_record_build(
    *,
    lead: Lead,
    activity: LeadActivity,
    listing: Listing,
    decision: Decision,
    flag: bool | None,
    now: datetime,
) -> ConsentRecord:
    """The (unsaved) evidence of one activity's decision; intake saves a batch at once."""
    return ConsentRecord(
        lead=lead,
        is_granted=decision.is_granted,
        basis=decision.basis,
        reason=decision.reason,
        listing=listing,
        activity=activity,
        policy=policy_snapshot(
            listing=listing, flag=flag, country=lead.country, action=activity.action_code
        ),
        recorded_at=now,
    )


def consent_records_add(*, records: list[ConsentRecord]) -> None:
    """Save a batch of evidence rows in one INSERT (their activities are saved already)."""
    if records:
        ConsentRecord.objects.bulk_create(records)


# What each suppression of an address says about consent (Suppression.Reason's values).
_SUPPRESSION_EVIDENCE = {
    "unsubscribed": (ConsentBasis.UNSUBSCRIBE, ConsentReason.UNSUBSCRIBED),
    "bounced": (ConsentBasis.BOUNCE, ConsentReason.BOUNCED),
    "complained": (ConsentBasis.COMPLAINT, ConsentReason.COMPLAINED),
}


def consent_records_for_suppression(
    *,
    publisher_id: int,
    email_normalized: str,
    reason: str,
    send_id: int | None = None,
    by=None,
    now: datetime | None = None,
) -> int:
    """Record that the publisher's leads with this address unsubscribed, bounced or
    complained (`reason`, a Suppression.Reason), from which email and by whom; how many."""
    basis, why = _SUPPRESSION_EVIDENCE[reason]
    now = now or timezone.now()
    lead_ids = Lead.objects.filter(
        publisher_id=publisher_id, email_normalized=email_normalized
    ).values_list("pk", flat=True)
    records = [
        ConsentRecord(
            lead_id=lead_id,
            is_granted=False,
            basis=basis,
            reason=why,
            email_send_id=send_id,
            recorded_at=now,
            recorded_by=by,
        )
        for lead_id in lead_ids
    ]
    consent_records_add(records=records)
    return len(records)


@transaction.atomic
def lead_consent_set_by_staff(*, lead: Lead, is_granted: bool, by) -> ConsentRecord:
    """Staff state a lead's consent (admin): the lead's flag, its time, and the evidence."""
    now = timezone.now()
    Lead.objects.filter(pk=lead.pk).update(
        marketing_consent=is_granted, marketing_consent_at=now, updated_at=now
    )
    lead.marketing_consent, lead.marketing_consent_at = is_granted, now
    return ConsentRecord.objects.create(
        lead=lead,
        is_granted=is_granted,
        basis=ConsentBasis.STAFF,
        reason=ConsentReason.STAFF_GRANTED if is_granted else ConsentReason.STAFF_REFUSED,
        recorded_at=now,
        recorded_by=by,
    )
