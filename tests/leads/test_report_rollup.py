"""The Reports page's cohort rollup (leads.reporting.cohort) gives exactly the live figures:
before and after each rollup, after status changes long after the cohort day, new first
activities and first touches, merges, erasures and deletions, for two publishers; the
hours the rollup has yet to recompute are counted live when recent, never rolled up, or
when the rollup is late (most tests here make it late, so that every change is live)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from leads.catalog.storefronts import Storefront
from leads.models import Lead, LeadCohortDirty, LeadCohortStat, LeadRollupState, LeadTransition
from leads.reporting import cohort, rollup
from leads.reporting import report as report_selectors
from leads.work.services import lead_merge
from privacy import services as privacy_services
from tests import factories
from tests.leads.report_support import make_report_lead

pytestmark = [pytest.mark.django_db, pytest.mark.no_sqlite]

GROUPINGS = (report_selectors.BY_LISTING, report_selectors.BY_SOURCE)
PERIODS = ((0, 0), (1, 1), (7, 0), (30, 2), (89, 0))


def assert_same_as_live(*publishers) -> None:
    """Every grouping and period gives the live figures, median included."""
    today = timezone.localdate()
    for publisher in publishers:
        for by in GROUPINGS:
            for back, end in PERIODS:
                bounds = {
                    "since": today - timedelta(days=back),
                    "until": today - timedelta(days=end),
                }
                rolled = report_selectors.report_for_publisher(publisher=publisher, by=by, **bounds)
                live = report_selectors.report_live(publisher=publisher, by=by, **bounds)
                assert rolled == live, (publisher.pk, by, back, end)


def rollup_ran(*, minutes_ago: int) -> None:
    LeadRollupState.objects.update_or_create(
        pk=1, defaults={"current_through": timezone.now() - timedelta(minutes=minutes_ago)}
    )


@pytest.fixture(autouse=True)
def late_rollup(db):
    """Beat's last run an hour ago: every listed hour is counted live."""
    rollup_ran(minutes_ago=60)


@pytest.fixture
def world(publisher, other_publisher, owner):
    crm = factories.make_listing(publisher=publisher, name="Contoso CRM")
    box = factories.make_listing(
        publisher=publisher, storefront=Storefront.AZURE_MARKETPLACE, name="Contoso Box"
    )
    theirs = factories.make_listing(publisher=other_publisher, name="Fabrikam")
    leads = []
    statuses = ("new", "qualified", "accepted", "won", "lost", "disqualified")
    for n in range(24):
        leads.append(
            make_report_lead(
                publisher=publisher,
                listing=(crm, box)[n % 2],
                created=n % 9,
                action=("INS", "TRIAL", "CONTACT")[n % 3],
                status=statuses[n % len(statuses)],
                qualified=n % 4 == 0,
                touched_after_hours=(None, 1.5, 7, 30)[n % 4],
                touched_by=owner,
            )
        )
    for n in range(6):
        make_report_lead(
            publisher=other_publisher,
            listing=theirs,
            created=n,
            status=statuses[n],
            touched_after_hours=n + 0.25,
            touched_by=owner,
        )
    # Left out of every figure: a test lead, a Co-Sell referral, a lead with no activity.
    make_report_lead(publisher=publisher, listing=crm, created=2, is_test=True)
    make_report_lead(publisher=publisher, listing=crm, created=2, origin="co-sell")
    bare = factories.make_lead(publisher=publisher)
    Lead.objects.filter(pk=bare.pk).update(created_at=timezone.now() - timedelta(days=3))
    return {"publisher": publisher, "other": other_publisher, "owner": owner, "leads": leads}


def test_the_rollup_gives_the_live_figures_before_and_after_it_runs(world):
    assert LeadCohortDirty.objects.exists()  # the triggers listed the new leads' days
    assert_same_as_live(world["publisher"], world["other"])  # all counted live
    rollup.rollup_history()
    assert not LeadCohortDirty.objects.exists()
    assert LeadCohortStat.objects.filter(publisher=world["other"]).exists()
    assert_same_as_live(world["publisher"], world["other"])  # all from the rollup
    today = timezone.localdate()
    report = report_selectors.report_for_publisher(
        publisher=world["publisher"], since=today - timedelta(days=89), until=today, by="source"
    )
    assert report.total.leads == 25 and report.total.won == 4  # the bare lead: "No activity"
    assert report.total.median_seconds is not None and len(report.rows) == 7


def test_a_status_change_long_after_the_day_is_counted_live_then_rolled_up(world):
    cohort.cohort_rollup_all()
    lead = world["leads"][8]  # created 8 days ago, new
    lead.status = "won"
    lead.save(update_fields=["status"])
    Lead.objects.filter(pk=world["leads"][1].pk).update(status="lost", qualified_at=None)
    assert LeadCohortDirty.objects.count() == 2
    assert_same_as_live(world["publisher"], world["other"])
    assert cohort.cohort_rollup_dirty() == 2  # two cohort days recomputed
    assert not LeadCohortDirty.objects.exists()
    assert_same_as_live(world["publisher"], world["other"])


def test_an_unrelated_change_lists_no_day(world):
    cohort.cohort_rollup_all()
    Lead.objects.filter(publisher=world["publisher"]).update(score=42, status_reason="why")
    lead = world["leads"][3]
    factories.make_activity(  # a later activity: not the first
        lead=lead, listing=None, occurred_at=lead.created_at + timedelta(hours=3)
    )
    assert not LeadCohortDirty.objects.exists()


def test_a_new_first_activity_and_a_new_first_touch_move_the_figures(world):
    cohort.cohort_rollup_all()
    lead, other = world["leads"][5], world["leads"][6]
    elsewhere = factories.make_listing(publisher=world["publisher"], name="Contoso Mail")
    factories.make_activity(
        lead=lead, listing=elsewhere, action_code="CONTACT", occurred_at=lead.created_at
    )
    factories.make_activity(
        lead=lead, listing=elsewhere, occurred_at=lead.created_at - timedelta(minutes=5)
    )
    earlier = LeadTransition.objects.create(
        lead=other, from_status="new", to_status="qualified", changed_by=world["owner"]
    )
    LeadTransition.objects.filter(pk=earlier.pk).update(
        created_at=other.created_at + timedelta(minutes=10)
    )
    assert_same_as_live(world["publisher"])
    cohort.cohort_rollup_dirty()
    assert_same_as_live(world["publisher"])


def test_a_deleted_user_stops_being_a_first_touch(world):
    cohort.cohort_rollup_all()
    someone = factories.make_user()
    factories.make_membership(user=someone, publisher=world["publisher"])
    lead = world["leads"][0]  # never touched
    LeadTransition.objects.create(
        lead=lead, from_status="new", to_status="qualified", changed_by=someone
    )
    cohort.cohort_rollup_dirty()
    assert_same_as_live(world["publisher"])
    someone.delete()  # changed_by becomes empty: no longer a person's touch
    assert LeadCohortDirty.objects.exists()
    assert_same_as_live(world["publisher"])
    cohort.cohort_rollup_dirty()
    assert_same_as_live(world["publisher"])


def test_merges_erasures_and_deletions_keep_the_figures_exact(world):
    publisher, leads = world["publisher"], world["leads"]
    cohort.cohort_rollup_all()
    lead_merge(publisher=publisher, survivor_id=leads[2].pk, merged_id=leads[11].pk, by=None)
    assert_same_as_live(publisher, world["other"])
    cohort.cohort_rollup_dirty()
    assert_same_as_live(publisher, world["other"])
    privacy_services.leads_erase(leads=[leads[4], leads[7]], reason="r", source="admin")
    assert_same_as_live(publisher)
    cohort.cohort_rollup_dirty()
    assert_same_as_live(publisher)
    Lead.objects.filter(pk__in=[leads[9].pk, leads[10].pk]).delete()
    assert_same_as_live(publisher)
    cohort.cohort_rollup_dirty()
    assert_same_as_live(publisher, world["other"])


def test_a_rollup_of_one_publisher_leaves_the_other_listed(world):
    cohort.cohort_rollup_all(publisher_ids=[world["publisher"].pk])
    assert not LeadCohortDirty.objects.filter(publisher_id=world["publisher"].pk).exists()
    assert LeadCohortDirty.objects.filter(publisher_id=world["other"].pk).exists()
    assert_same_as_live(world["publisher"], world["other"])


def test_the_report_reads_the_rollup_in_two_queries_per_listing_three(
    world, django_assert_max_num_queries
):
    rollup.rollup_history()
    today = timezone.localdate()
    with django_assert_max_num_queries(2):
        report_selectors.report_for_publisher(
            publisher=world["publisher"],
            since=today - timedelta(days=89),
            until=today,
            by=report_selectors.BY_SOURCE,
        )
    with django_assert_max_num_queries(3):
        report_selectors.report_for_publisher(
            publisher=world["publisher"],
            since=today - timedelta(days=89),
            until=today,
            by=report_selectors.BY_LISTING,
        )


def test_the_beat_rollup_recomputes_the_listed_days(world):
    rollup.rollup_history()
    Lead.objects.filter(pk=world["leads"][3].pk).update(status="won")
    rollup.rollup_recent()
    assert not LeadCohortDirty.objects.exists()
    assert_same_as_live(world["publisher"])


def test_with_a_current_rollup_an_old_change_waits_for_it_and_a_new_lead_does_not(world):
    publisher = world["publisher"]
    cohort.cohort_rollup_all()
    rollup_ran(minutes_ago=1)
    today = timezone.localdate()
    bounds = {"since": today - timedelta(days=89), "until": today, "by": "source"}
    before = report_selectors.report_for_publisher(publisher=publisher, **bounds)
    Lead.objects.filter(pk=world["leads"][8].pk).update(status="won")  # 8 days old
    fresh = make_report_lead(publisher=publisher, listing=None, created=0, status="won")
    shown = report_selectors.report_for_publisher(publisher=publisher, **bounds)
    assert shown.total.leads == before.total.leads + 1  # the new lead at once
    assert shown.total.won == before.total.won + 1  # the old lead's win after the run
    assert fresh.pk
    cohort.cohort_rollup_dirty()
    assert_same_as_live(publisher)
    assert report_selectors.report_for_publisher(publisher=publisher, **bounds).total.won == (
        before.total.won + 2
    )
