"""Retention with a frozen clock: which leads a run erases, in batches of the configured
size, one run at a time, resumed after a crash without erasing anyone twice."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.models import Lead
from privacy.retention import selectors, services
from privacy.retention.models import RetentionRun
from tests import factories
from tests.privacy.retention_support import Crash, FakeErase, make_lead_last_active

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
CUTOFF_24 = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)
LIMITS = services.RetentionLimits(batch_size=3, lease=timedelta(minutes=5), budget_seconds=60)
OLD = CUTOFF_24 - timedelta(days=30)


def _clock():
    return datetime.now(UTC)


def _run(erase, limits=LIMITS):
    return services.retention_run(erase=erase, limits=limits, clock=_clock)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def kept_24(publisher):
    publisher.retention_months = 24
    publisher.save(update_fields=["retention_months"])
    return publisher


def test_leads_just_outside_the_window_are_erased_and_those_just_inside_kept(frozen, kept_24):
    outside = make_lead_last_active(publisher=kept_24, at=CUTOFF_24 - timedelta(seconds=1))
    never_active = make_lead_last_active(
        publisher=kept_24, at=None, created_at=CUTOFF_24 - timedelta(days=1)
    )
    at_cutoff = make_lead_last_active(publisher=kept_24, at=CUTOFF_24)
    inside = make_lead_last_active(publisher=kept_24, at=CUTOFF_24 + timedelta(seconds=1))
    worked_lately = make_lead_last_active(publisher=kept_24, at=OLD)
    Lead.objects.filter(pk=worked_lately.pk).update(status_changed_at=NOW - timedelta(days=3))
    erase = FakeErase()

    run = _run(erase)

    assert erase.erased == sorted([outside.pk, never_active.pk])
    assert erase.sources == {"retention"}
    assert run.status == RetentionRun.Status.FINISHED
    assert (run.publishers, run.leads_erased, run.batches, run.errors) == (1, 2, 1, 0)
    part = run.parts.get()
    assert (part.publisher_id, part.months, part.cutoff) == (kept_24.pk, 24, CUTOFF_24)
    assert part.leads_erased == 2 and part.finished_at == NOW
    kept = set(Lead.objects.exclude(pk__in=erase.erased).values_list("pk", flat=True))
    assert kept == {at_cutoff.pk, inside.pk, worked_lately.pk}


def test_a_publisher_with_retention_off_is_untouched(frozen, kept_24, other_publisher):
    old_of_other = make_lead_last_active(publisher=other_publisher, at=OLD)
    erase = FakeErase()

    run = _run(erase)

    assert erase.calls == []
    assert run.publishers == 1 and run.leads_erased == 0
    assert list(run.parts.values_list("publisher_id", flat=True)) == [kept_24.pk]
    assert Lead.objects.get(pk=old_of_other.pk).email_normalized == old_of_other.email_normalized


def test_leads_are_erased_in_batches_of_the_configured_size(frozen, kept_24):
    old = [make_lead_last_active(publisher=kept_24, at=OLD + timedelta(hours=i)) for i in range(7)]
    erase = FakeErase()

    run = _run(erase)

    assert [len(call) for call in erase.calls] == [3, 3, 1]
    assert erase.erased == sorted(lead.pk for lead in old)
    assert (run.leads_erased, run.batches) == (7, 3)
    assert run.parts.get().batches == 3


def test_a_crash_mid_run_resumes_after_the_lease_without_erasing_twice(frozen, kept_24):
    old = [make_lead_last_active(publisher=kept_24, at=OLD + timedelta(hours=i)) for i in range(8)]
    crashing = FakeErase(fail_at=2, fail_on=Crash())

    with pytest.raises(Crash):
        _run(crashing)

    run = RetentionRun.objects.get()
    # The first batch committed with its counts; the second rolled back whole.
    assert (run.status, run.leads_erased, run.batches) == ("running", 3, 1)
    assert Lead.objects.filter(email_normalized__endswith="@erased.invalid").count() == 3
    # While the dead worker's lease runs, nobody takes the run over.
    assert _run(FakeErase()) is None
    frozen.shift(LIMITS.lease + timedelta(seconds=1))
    second = FakeErase()

    resumed = _run(second)

    assert resumed.pk == run.pk and resumed.resumes == 1
    assert resumed.status == RetentionRun.Status.FINISHED
    assert (resumed.leads_erased, resumed.batches) == (8, 3)
    assert sorted(crashing.calls[0] + second.erased) == sorted(lead.pk for lead in old)
    assert not set(crashing.calls[0]) & set(second.erased)


def test_an_error_stops_that_publisher_only_and_is_counted(frozen, kept_24, other_publisher):
    other_publisher.retention_months = 12
    other_publisher.save(update_fields=["retention_months"])
    failing = make_lead_last_active(publisher=kept_24, at=OLD)
    erasable = make_lead_last_active(publisher=other_publisher, at=OLD)
    erase = FakeErase(fail_at=1, fail_on=ValueError("refused"))

    run = _run(erase)

    assert run.status == RetentionRun.Status.FINISHED
    assert (run.leads_erased, run.errors) == (1, 1)
    parts = {part.publisher_id: part for part in run.parts.all()}
    assert (parts[kept_24.pk].error, parts[kept_24.pk].leads_erased) == ("ValueError", 0)
    assert (parts[other_publisher.pk].error, parts[other_publisher.pk].leads_erased) == ("", 1)
    # The failed batch rolled back: that lead is still there for the next run.
    assert Lead.objects.get(pk=failing.pk).email_normalized == failing.email_normalized
    assert erase.calls == [[failing.pk], [erasable.pk]]


def test_past_its_budget_a_run_stops_between_batches_and_the_next_task_goes_on(frozen, kept_24):
    for i in range(4):
        make_lead_last_active(publisher=kept_24, at=OLD + timedelta(hours=i))
    no_time = services.RetentionLimits(batch_size=3, lease=LIMITS.lease, budget_seconds=0)

    first = _run(FakeErase(), limits=no_time)
    erase = FakeErase()
    second = _run(erase)

    assert first.status == RetentionRun.Status.RUNNING and first.leads_erased == 0
    assert second.pk == first.pk and second.status == RetentionRun.Status.FINISHED
    assert second.leads_erased == 4 and second.resumes == 0


def test_only_one_run_at_a_time(frozen, kept_24):
    first = services.retention_run_begin(now=NOW, lease=LIMITS.lease)

    assert services.retention_run_begin(now=NOW, lease=LIMITS.lease) is None
    assert RetentionRun.objects.get().pk == first.pk


def test_the_queries_of_a_run_grow_by_a_bounded_number_per_batch(
    frozen, kept_24, django_assert_max_num_queries
):
    for i in range(12):
        make_lead_last_active(publisher=kept_24, at=OLD + timedelta(hours=i))
    batches = 4

    # Per batch: the savepoint pair, the lease, the ids, the two counts, and the fake
    # erasure's two; once: the plan, the parts' cursor, the empty batch, the finish.
    with django_assert_max_num_queries(16 + 8 * batches):
        run = _run(FakeErase())

    assert run.batches == batches


@pytest.mark.no_sqlite  # PostgreSQL's plan
def test_the_batch_query_uses_the_retention_index(frozen, kept_24):
    make_lead_last_active(publisher=kept_24, at=OLD)
    with CaptureQueriesContext(connection) as captured:
        selectors.lead_ids_past_retention(publisher_id=kept_24.pk, cutoff=CUTOFF_24, limit=500)
    (query,) = captured.captured_queries

    with connection.cursor() as cursor:
        # Statistics left by earlier tests may make another index plus a sort cheaper on a
        # tiny table; forbid scans that cannot give the order, to see the index's own path.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {query['sql']}")
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "lead_pub_last_active" in plan


@pytest.mark.parametrize(
    ("moment", "months", "expected"),
    [
        (datetime(2026, 3, 31, 9, tzinfo=UTC), 1, datetime(2026, 2, 28, 9, tzinfo=UTC)),
        (datetime(2024, 3, 31, 9, tzinfo=UTC), 1, datetime(2024, 2, 29, 9, tzinfo=UTC)),
        (datetime(2026, 1, 15, 9, tzinfo=UTC), 24, datetime(2024, 1, 15, 9, tzinfo=UTC)),
        (datetime(2026, 1, 15, 9, tzinfo=UTC), 120, datetime(2016, 1, 15, 9, tzinfo=UTC)),
    ],
)
def test_months_before_counts_calendar_months(moment, months, expected):
    assert selectors.months_before(moment, months) == expected


def test_the_next_run_is_the_next_retention_hour(settings):
    settings.RETENTION_HOUR = 3

    before = selectors.retention_next_run_at(now=datetime(2026, 6, 15, 2, 59, tzinfo=UTC))
    at = selectors.retention_next_run_at(now=datetime(2026, 6, 15, 3, 0, tzinfo=UTC))

    assert before == datetime(2026, 6, 15, 3, 0, tzinfo=UTC)
    assert at == datetime(2026, 6, 16, 3, 0, tzinfo=UTC)


def test_the_log_has_counts_and_no_personal_data(frozen, kept_24, caplog):
    marker = "marker-retention-7f3a@contoso.example"
    make_lead_last_active(publisher=kept_24, at=OLD, email=marker, first_name="Zebulon")
    caplog.set_level("INFO", logger="privacy.retention.services")

    _run(FakeErase())

    finished = [r for r in caplog.records if r.msg == "privacy.retention.finished"]
    assert [(r.leads_erased, r.batches, r.errors) for r in finished] == [(1, 1, 0)]
    dumped = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert marker not in dumped and "Zebulon" not in dumped


def test_a_new_publisher_without_retention_is_off():
    assert factories.make_publisher().retention_months is None


def test_celerys_soft_time_limit_hands_the_run_over_to_the_next_stretch(frozen, kept_24):
    for i in range(4):
        make_lead_last_active(publisher=kept_24, at=OLD + timedelta(hours=i))
    slow = FakeErase(fail_at=2, fail_on=SoftTimeLimitExceeded())

    first = _run(slow)
    second = _run(FakeErase())

    assert (first.status, first.leads_erased, first.errors, first.lease_until) == (
        "running",
        3,
        0,
        None,
    )
    assert first.parts.get().error == ""
    assert (second.pk, second.status, second.leads_erased, second.resumes) == (
        first.pk,
        "finished",
        4,
        0,
    )
