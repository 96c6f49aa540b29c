"""Reads of nurture for the lead page: why nurture sends a lead no email, in words.

The same rules as enrolment and the sender (leads.nurture.services, leads.consent.policy),
asked in the order a reader needs them: a test lead, the suppression list (unsubscribe,
bounce, complaint), a stated refusal, then each listing's consent policy, and last the
lead's status. Each answer carries the latest evidence row that explains it.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leads.consent.policy import consent_stated, policy_decide
from leads.models import (
    ConsentBasis,
    ConsentReason,
    ConsentRecord,
    Lead,
    LeadActivity,
    Suppression,
)
from leads.nurture.services import STOP_STATUSES
from leads.nurture.unsubscribe import suppression_match


class NurtureBlock(models.TextChoices):
    TEST_LEAD = "test-lead", gettext_lazy("Test lead")
    WITHDRAWN = "withdrawn", gettext_lazy("Consent withdrawn")
    BOUNCED = "bounced", gettext_lazy("Bounced")
    COMPLAINED = "complained", gettext_lazy("Complained")
    SUPPRESSED = "suppressed", gettext_lazy("Address suppressed")
    REFUSED = "refused", gettext_lazy("Consent refused")
    NO_CONSENT = "no-consent", gettext_lazy("No consent")
    STRICTER_REGION = "stricter-region", gettext_lazy("Stricter region")
    POLICY_OFF = "policy-off", gettext_lazy("Consent policy off")
    SALES = "sales", gettext_lazy("In the sales pipeline")


@dataclass(frozen=True)
class NurtureRefusal:
    """Why nurture sends the lead nothing: the kind, a sentence, and the evidence."""

    block: str
    text: str
    evidence: ConsentRecord | None = None
    since: datetime | None = None

    @property
    def label(self) -> str:
        return NurtureBlock(self.block).label


_SUPPRESSION_BLOCKS = {
    Suppression.Reason.UNSUBSCRIBED: (NurtureBlock.WITHDRAWN, ConsentBasis.UNSUBSCRIBE),
    Suppression.Reason.BOUNCED: (NurtureBlock.BOUNCED, ConsentBasis.BOUNCE),
    Suppression.Reason.COMPLAINED: (NurtureBlock.COMPLAINED, ConsentBasis.COMPLAINT),
}
_POLICY_BLOCKS = {
    ConsentReason.POLICY_OFF: NurtureBlock.POLICY_OFF,
    ConsentReason.STRICTER_REGION: NurtureBlock.STRICTER_REGION,
    ConsentReason.UNKNOWN_COUNTRY: NurtureBlock.STRICTER_REGION,
    ConsentReason.DO_NOT_CONTACT: NurtureBlock.NO_CONSENT,
}


class _Evidence:
    """The lead's evidence rows: the newest ones the page loaded, else one query."""

    def __init__(self, lead: Lead, records: list[ConsentRecord] | None):
        self.lead, self.records = lead, records

    def latest(self, **filters) -> ConsentRecord | None:
        for record in self.records or ():
            if all(getattr(record, name) == value for name, value in filters.items()):
                return record
        if self.records is not None and not filters:
            return None
        return (
            ConsentRecord.objects.filter(lead=self.lead, **filters)
            .select_related("listing", "recorded_by", "email_send__step__campaign")
            .order_by("-recorded_at", "-id")
            .first()
        )


def nurture_refusal_for_lead(
    *,
    lead: Lead,
    activities: list[LeadActivity] | None = None,
    records: list[ConsentRecord] | None = None,
) -> NurtureRefusal | None:
    """Why nurture sends this lead no email, or None when it may (a sequence still has to
    run for its campaign). `activities` (with their listings) and `records` (the newest
    evidence) are what the lead page loaded already: then one query, the suppression list,
    and one more only when the evidence is older than `records`."""
    if lead.is_test:
        return NurtureRefusal(
            NurtureBlock.TEST_LEAD, _("Partner Center's test leads are never nurtured.")
        )
    evidence = _Evidence(lead, records)
    refusal = _suppressed(lead, evidence) or _consent_refused(lead, evidence, activities)
    if refusal is None and lead.status in STOP_STATUSES:
        refusal = NurtureRefusal(
            NurtureBlock.SALES,
            _("The lead is %(status)s: sales work it now, and nurture stops.")
            % {"status": lead.get_status_display().lower()},
            since=lead.status_changed_at,
        )
    return refusal


def _suppressed(lead: Lead, evidence: _Evidence) -> NurtureRefusal | None:
    suppression = (
        Suppression.objects.filter(suppression_match(lead.email_normalized))
        .filter(publisher_id=lead.publisher_id)
        .order_by("-created_at")
        .first()
    )
    if suppression is None:
        return None
    block, basis = _SUPPRESSION_BLOCKS[suppression.reason]
    record = evidence.latest(basis=basis)
    if record is None:
        # Suppressed before this lead had the address, or by a token no lead matched.
        return NurtureRefusal(
            NurtureBlock.SUPPRESSED,
            _("The address is on the publisher's suppression list (%(reason)s).")
            % {"reason": suppression.get_reason_display().lower()},
            since=suppression.created_at,
        )
    return NurtureRefusal(
        block, record.get_reason_display(), evidence=record, since=suppression.created_at
    )


def _consent_refused(
    lead: Lead, evidence: _Evidence, activities: list[LeadActivity] | None
) -> NurtureRefusal | None:
    stated = consent_stated(lead)
    if stated is True:
        return None
    if stated is False:
        record = evidence.latest(is_granted=False)
        text = record.get_reason_display() if record else _("The lead refused marketing email.")
        return NurtureRefusal(
            NurtureBlock.REFUSED, text, evidence=record, since=lead.marketing_consent_at
        )
    return _policy_refused(lead, evidence, activities)


def _policy_refused(
    lead: Lead, evidence: _Evidence, activities: list[LeadActivity] | None
) -> NurtureRefusal | None:
    """No stated consent: each listing the lead came through decides by its policy now."""
    if activities is None:
        activities = list(lead.activities.select_related("listing"))
    latest: dict[int, LeadActivity] = {}
    for activity in sorted(activities, key=lambda a: (a.occurred_at, a.pk)):
        if activity.listing_id is not None:
            latest.pop(activity.listing_id, None)
            latest[activity.listing_id] = activity  # the newest activity ends up last
    if not latest:
        return NurtureRefusal(
            NurtureBlock.NO_CONSENT,
            _("The lead never stated its consent, and no listing's policy applies to it."),
            evidence=evidence.latest(),
        )
    decisions = [
        policy_decide(listing=a.listing, country=lead.country, action=a.action_code)
        for a in latest.values()
    ]
    if any(decision.is_granted for decision in decisions):
        return None
    reason = decisions[-1].reason  # the listing of the newest activity
    return NurtureRefusal(
        _POLICY_BLOCKS.get(reason, NurtureBlock.NO_CONSENT),
        ConsentReason(reason).label,
        evidence=evidence.latest(),
    )
