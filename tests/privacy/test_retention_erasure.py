"""The retention task end to end, with the real erasure service and a frozen clock: every
copy of a lead past its publisher's retention goes, once, and the rest stay."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from leads.models import Lead
from privacy.models import AccessLogEntry, ErasureRecord
from privacy.retention import tasks
from privacy.retention.models import RetentionRun
from tests.factories import make_lead
from tests.leads.nurture_support import Sequence
from tests.privacy.world import make_person, tables_holding

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 15, 3, 0, tzinfo=UTC)


def _last_active(lead: Lead, at: datetime) -> None:
    Lead.objects.filter(pk=lead.pk).update(created_at=at, last_activity_at=at)


def test_the_task_erases_every_copy_of_a_lead_past_retention_and_nothing_else(
    django_capture_on_commit_callbacks,
):
    sequence = Sequence()
    old = make_person(mark="oldmark", sequence=sequence)
    recent = make_lead(publisher=sequence.publisher, first_name="newmark")
    sequence.publisher.retention_months = 12
    sequence.publisher.save(update_fields=["retention_months"])
    _last_active(old.lead, NOW - timedelta(days=400))
    _last_active(recent, NOW - timedelta(days=300))

    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        tasks.retention_run()
        tasks.retention_run()  # the next day's run comes too early: nothing left to do

    assert tables_holding("oldmark") == []
    assert tables_holding("newmark") != []
    record = ErasureRecord.objects.get()
    assert (record.source, record.lead_ids, record.requested_by) == (
        "retention",
        [old.lead.pk],
        None,
    )
    assert record.reason == "Retention: 12 months after the last activity."
    entry = AccessLogEntry.objects.get(action="erase")
    assert (entry.source, entry.object_ids, entry.user) == ("retention", [str(old.lead.pk)], None)
    first, second = RetentionRun.objects.order_by("pk")
    assert (first.status, first.leads_erased, first.batches) == ("finished", 1, 1)
    assert (second.status, second.leads_erased) == ("finished", 0)
    assert Lead.objects.get(pk=old.lead.pk).uuid == old.lead.uuid  # the id and figures stay
