"""Leads for the Reports tests (tests/leads/test_reports.py, tests/browser/test_reports.py)."""

from datetime import UTC, datetime, time, timedelta

from django.utils import timezone

from leads.models import Lead, LeadTransition
from tests import factories


def _at(days_ago: int, hour: int = 9) -> datetime:
    return datetime.combine(timezone.localdate() - timedelta(days=days_ago), time(hour), UTC)


def make_report_lead(
    *,
    publisher,
    listing,
    created: int,
    action="INS",
    status="new",
    qualified=False,
    touched_after_hours=None,
    touched_by=None,
    is_test=False,
    origin="marketplace",
) -> Lead:
    """A lead created `created` days ago with its first activity; touched by a person
    `touched_after_hours` hours after its creation when given."""
    lead = factories.make_lead(publisher=publisher, status=status, is_test=is_test, origin=origin)
    created_at = _at(created)
    Lead.objects.filter(pk=lead.pk).update(
        created_at=created_at, qualified_at=created_at if qualified else None
    )
    factories.make_activity(lead=lead, listing=listing, action_code=action, occurred_at=created_at)
    # The automatic qualification (no person) is never a first touch.
    system = LeadTransition.objects.create(lead=lead, from_status="new", to_status="qualified")
    LeadTransition.objects.filter(pk=system.pk).update(created_at=created_at)
    if touched_after_hours is not None:
        for n, hours in enumerate((touched_after_hours, touched_after_hours + 30)):
            move = LeadTransition.objects.create(
                lead=lead,
                from_status="qualified",
                to_status="accepted",
                changed_by=touched_by,
                reason=f"move {n}",
            )
            LeadTransition.objects.filter(pk=move.pk).update(
                created_at=created_at + timedelta(hours=hours)
            )
    return lead
