"""Reads of consent evidence, for the lead page (the lead is already the publisher's)."""

from dataclasses import dataclass

from django.db.models import Count, Window

from leads.consent.models import ConsentRecord
from leads.consent.policy import customer_text, policy_summary
from leads.models import Lead


@dataclass(frozen=True)
class ConsentEvidence:
    """The newest rows of a lead's evidence, and how many there are in all."""

    records: list[ConsentRecord]
    total: int

    @property
    def latest(self) -> ConsentRecord | None:
        return self.records[0] if self.records else None

    @property
    def earlier(self) -> int:
        return self.total - len(self.records)


def consent_evidence_for_lead(*, lead: Lead, limit: int = 10) -> ConsentEvidence:
    """The lead's newest `limit` evidence rows, each with its policy in words, and how many
    rows it has in all (a window count, computed before the limit): one query."""
    rows = (
        ConsentRecord.objects.filter(lead=lead)
        .select_related("listing", "recorded_by", "email_send__step__campaign")
        .annotate(total=Window(Count("id")))
        .order_by("-recorded_at", "-id")
    )
    records = list(rows[:limit])
    for record in records:
        record.policy_text = policy_summary(record.policy)
        record.customer_text = customer_text(record.policy)
    return ConsentEvidence(records=records, total=records[0].total if records else 0)
