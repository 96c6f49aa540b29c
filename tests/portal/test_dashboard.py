"""The dashboard: exact figures from the rollup and live aggregates, chart data through
json_script, a constant query count, and no figure of another publisher; the rollup
itself (leads.reporting.rollup) against a direct count, and its beat task."""

import json
import re
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.models import Delivery
from leads import tasks
from leads.catalog.storefronts import Storefront
from leads.models import Lead, LeadActivity, LeadDailyStat, LeadTransition
from leads.reporting import rollup
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def _at(days_ago: int, hour: int = 12) -> datetime:
    return datetime.combine(timezone.localdate() - timedelta(days=days_ago), time(hour), UTC)


def make_dated_lead(
    *,
    publisher,
    listing,
    created: int,
    action="INS",
    status="new",
    qualified: int | None = None,
    accepted: int | None = None,
    hour: int = 12,
    **fields,
) -> Lead:
    """A lead created `created` days ago, with its first activity (attributed to its
    `latest_campaign`, if any), qualified and accepted the given number of days ago."""
    lead = factories.make_lead(publisher=publisher, status=status, **fields)
    Lead.objects.filter(pk=lead.pk).update(
        created_at=_at(created, hour),
        qualified_at=_at(qualified) if qualified is not None else None,
    )
    factories.make_activity(
        lead=lead,
        listing=listing,
        action_code=action,
        occurred_at=_at(created, hour),
        campaign=fields.get("latest_campaign"),
    )
    if accepted is not None:
        transition = LeadTransition.objects.create(
            lead=lead, from_status="qualified", to_status="accepted", reason="Opportunity"
        )
        LeadTransition.objects.filter(pk=transition.pk).update(created_at=_at(accepted))
    lead.refresh_from_db()
    return lead


@pytest.fixture
def seeded(publisher):
    """Five marketplace leads, a test lead and a Co-Sell referral; a campaign; a target."""
    appsource = factories.make_listing(publisher=publisher, name="Contoso CRM")
    azure = factories.make_listing(
        publisher=publisher, storefront=Storefront.AZURE_MARKETPLACE, name="Contoso Box"
    )
    campaign = factories.make_campaign(
        publisher=publisher, name="Spring launch", status="active", goal_qualified_leads=4
    )
    lead = make_dated_lead  # shorter lines below
    lead(publisher=publisher, listing=appsource, created=2, status="qualified", qualified=2,
         latest_campaign=campaign)  # fmt: skip
    a2 = lead(publisher=publisher, listing=azure, created=3, action="PLT", status="accepted",
              qualified=3, accepted=1, latest_campaign=campaign)  # fmt: skip
    lead(publisher=publisher, listing=appsource, created=10)
    lead(publisher=publisher, listing=azure, created=20, action="Create", status="accepted",
         qualified=20, accepted=15)  # fmt: skip
    lead(publisher=publisher, listing=appsource, created=40)
    # Neither the test lead nor the referral counts anywhere.
    lead(publisher=publisher, listing=appsource, created=1, status="accepted", qualified=1,
         accepted=1, is_test=True, latest_campaign=campaign)  # fmt: skip
    lead(publisher=publisher, listing=azure, created=1, status="accepted", qualified=1,
         accepted=1, origin="co-sell", latest_campaign=campaign)  # fmt: skip
    target = factories.make_target(publisher=publisher, name="Contoso Salesforce")
    for status in ("delivered", "delivered", "pending", "sending", "failed"):
        factories.make_delivery(
            lead=a2,
            target=target,
            event=Delivery.Event.UPDATED,
            status=status,
            delivered_at=timezone.now() if status == "delivered" else None,
        )
    rollup.rollup_backfill(days=90)
    return {"campaign": campaign, "target": target}


def _chart(content: str, name: str) -> dict:
    match = re.search(
        rf'<script id="chart-{name}" type="application/json">(.*?)</script>', content, re.S
    )
    assert match, f"no json_script for {name}"
    return json.loads(match.group(1))


def test_kpis_count_marketplace_leads_of_7_and_30_days(client, owner, seeded):
    client.force_login(owner)

    response = client.get(reverse("home"))

    assert response.status_code == 200
    week, month = response.context["kpis"]
    assert (week.days, week.new, week.qualified, week.accepted, week.conversion) == (
        7, 2, 2, 1, 50.0,
    )  # fmt: skip
    assert (month.days, month.new, month.qualified, month.accepted, month.conversion) == (
        30, 4, 3, 2, 66.7,
    )  # fmt: skip
    content = response.content.decode()
    assert '<dd data-kpi="new-7">2</dd>' in content
    assert '<dd data-kpi="qualified-30">3</dd>' in content
    assert '<dd data-kpi="conversion-7">50.0 %</dd>' in content
    assert '<dd data-kpi="conversion-30">66.7 %</dd>' in content


def test_charts_travel_through_json_script(client, owner, seeded):
    client.force_login(owner)

    content = client.get(reverse("home")).content.decode()

    per_day = _chart(content, "per_day")
    assert len(per_day["labels"]) == 90
    assert per_day["labels"][-1] == timezone.localdate().isoformat()
    totals = {d["label"]: sum(d["data"]) for d in per_day["datasets"]}
    assert totals == {"AppSource": 3, "Azure Marketplace": 2}
    assert per_day["datasets"][0]["data"][-3] == 1  # the AppSource lead of 2 days ago
    funnel = _chart(content, "funnel")
    assert funnel == {
        "labels": ["New", "Qualified", "Accepted", "Won", "Lost", "Disqualified"],
        "datasets": [{"label": "Leads", "data": [2, 1, 2, 0, 0, 0]}],
    }
    by_action = _chart(content, "by_action")
    assert by_action["datasets"][0]["data"] == [3, 1, 1]
    assert by_action["labels"][0] == "Install / get it now"
    campaigns = _chart(content, "campaigns")
    assert campaigns == {
        "labels": ["Spring launch"],
        "datasets": [
            {"label": "Qualified leads", "data": [2]},
            {"label": "Goal", "data": [4]},
        ],
    }
    health = _chart(content, "health")
    assert health["labels"] == ["Contoso Salesforce"]
    assert [(d["key"], d["data"]) for d in health["datasets"]] == [
        ("delivered", [2]),
        ("pending", [2]),
        ("failed", [1]),
    ]


def test_every_chart_has_a_canvas_and_a_data_table(client, owner, seeded):
    client.force_login(owner)

    content = client.get(reverse("home")).content.decode()

    for name in ("per_day", "funnel", "by_action", "campaigns", "health"):
        assert f'<canvas data-chart="{name}" role="img"' in content
    assert content.count('<details class="chart-data">') == 5
    assert content.count("<table>") == 5
    assert '<td class="numeric" data-status="accepted">2</td>' in content
    assert "/static/js/dashboard.js" in content
    assert "/static/vendor/chart-4.6.1.umd.min.js" in content


def test_campaign_progress_in_the_table(client, owner, seeded):
    client.force_login(owner)

    response = client.get(reverse("home"))

    assert response.context["campaigns"] == [
        {
            "id": seeded["campaign"].pk,
            "name": "Spring launch",
            "status": "Active",
            "qualified": 2,
            "goal": 4,
            "percent": 50,
        }
    ]


def test_empty_dashboard(client, owner):
    client.force_login(owner)

    response = client.get(reverse("home"))

    week, month = response.context["kpis"]
    assert (week.new, week.qualified, week.conversion) == (0, 0, None)
    assert (month.new, month.qualified, month.conversion) == (0, 0, None)
    content = response.content.decode()
    assert "No campaign has started yet." in content
    assert "No CRM target yet." in content
    assert _chart(content, "per_day")["datasets"][0]["data"] == [0] * 90


def _seed_bulk(publisher, count: int, *, campaign=None, target=None) -> None:
    """`count` marketplace leads over the last 60 days, each with an activity."""
    listing = factories.make_listing(publisher=publisher)
    statuses = ["new", "qualified", "accepted", "won", "lost", "disqualified"]
    leads = Lead.objects.bulk_create(
        Lead(
            publisher=publisher,
            email=f"bulk{n}-{listing.pk}@contoso.example",
            email_normalized=f"bulk{n}-{listing.pk}@contoso.example",
            status=statuses[n % 6],
            qualified_at=_at(n % 60) if n % 6 else None,
            latest_campaign=campaign,
            first_campaign=campaign,
        )
        for n in range(count)
    )
    for n, lead in enumerate(leads):
        Lead.objects.filter(pk=lead.pk).update(created_at=_at(n % 60))
    LeadActivity.objects.bulk_create(
        LeadActivity(
            lead=lead,
            listing=listing,
            storefront=listing.storefront,
            action_code=["INS", "PLT", "Create"][n % 3],
            occurred_at=_at(n % 60),
            campaign=campaign,
        )
        for n, lead in enumerate(leads)
    )
    if target is not None:
        Delivery.objects.bulk_create(
            Delivery(lead=lead, target=target, event="lead.qualified", status="pending")
            for lead in leads[:count:5]
        )


def test_query_count_stays_constant_as_leads_grow(client, publisher, owner):
    campaign = factories.make_campaign(publisher=publisher, status="active")
    target = factories.make_target(publisher=publisher)
    _seed_bulk(publisher, 10, campaign=campaign, target=target)
    rollup.rollup_backfill(days=90)
    client.force_login(owner)
    client.get(reverse("home"))  # warms the session and content types
    with CaptureQueriesContext(connection) as small:
        assert client.get(reverse("home")).status_code == 200

    _seed_bulk(publisher, 200, campaign=factories.make_campaign(publisher=publisher),
               target=factories.make_target(publisher=publisher))  # fmt: skip
    rollup.rollup_backfill(days=90)

    with CaptureQueriesContext(connection) as large:
        response = client.get(reverse("home"))
    assert response.context["kpis"][1].new > 10
    assert len(large) == len(small)
    assert len(small) <= 12


def test_query_count_is_bounded(client, publisher, owner, django_assert_max_num_queries):
    _seed_bulk(publisher, 200, target=factories.make_target(publisher=publisher))
    rollup.rollup_backfill(days=90)
    client.force_login(owner)
    client.get(reverse("home"))

    with django_assert_max_num_queries(12):
        client.get(reverse("home"))


def test_dashboard_of_b_shows_none_of_as_figures(client, publisher, owner, other_publisher):
    campaign_a = factories.make_campaign(publisher=publisher, name="Alpha secret campaign",
                                         status="active", goal_qualified_leads=10)  # fmt: skip
    campaign_b = factories.make_campaign(publisher=other_publisher, name="Bravo campaign",
                                         status="active", goal_qualified_leads=10)  # fmt: skip
    target_a = factories.make_target(publisher=publisher, name="Alpha secret target")
    target_b = factories.make_target(publisher=other_publisher, name="Bravo target")
    _seed_bulk(publisher, 50, campaign=campaign_a, target=target_a)
    _seed_bulk(other_publisher, 50, campaign=campaign_b, target=target_b)
    rollup.rollup_backfill(days=90)
    owner_b = factories.make_membership(publisher=other_publisher).user
    client.force_login(owner_b)

    content_b = client.get(reverse("home")).content.decode()
    client.force_login(owner)
    content_a = client.get(reverse("home")).content.decode()

    assert "Alpha secret" not in content_b
    assert "Bravo" not in content_a
    for content in (content_a, content_b):
        # Each publisher's own 50 leads, not 100: leads 0..29 fall in the last 30 days.
        assert sum(sum(d["data"]) for d in _chart(content, "per_day")["datasets"]) == 50
        assert sum(_chart(content, "funnel")["datasets"][0]["data"]) == 50
        assert sum(_chart(content, "health")["datasets"][1]["data"]) == 10
        # Leads n = 0, 6, …, 48 stay new: 41 of the 50 are qualified, under the campaign.
        assert _chart(content, "campaigns")["datasets"][0]["data"] == [41]


# --- The rollup (leads.reporting.rollup) ---------------------------------------------------


def _rolled_up(publisher, field: str) -> Counter:
    rows = (
        LeadDailyStat.objects.filter(publisher=publisher)
        .values_list("day")
        .annotate(n=Sum(field))
        .order_by()
    )
    return Counter({day: n for day, n in rows if n})


def _counted(dates) -> Counter:
    return Counter(timezone.localtime(moment).date() for moment in dates)


def test_rollup_matches_a_direct_count(publisher):
    campaign = factories.make_campaign(publisher=publisher, status="active")
    _seed_bulk(publisher, 120, campaign=campaign)
    leads = list(Lead.objects.filter(publisher=publisher)[:30])
    for n, lead in enumerate(leads):
        transition = LeadTransition.objects.create(
            lead=lead, from_status="qualified", to_status="accepted"
        )
        LeadTransition.objects.filter(pk=transition.pk).update(created_at=_at(n % 9))

    rollup.rollup_backfill(days=90)

    all_leads = Lead.objects.filter(publisher=publisher)
    assert _rolled_up(publisher, "new_count") == _counted(
        all_leads.values_list("created_at", flat=True)
    )
    assert _rolled_up(publisher, "qualified_count") == _counted(
        all_leads.exclude(qualified_at=None).values_list("qualified_at", flat=True)
    )
    assert _rolled_up(publisher, "accepted_count") == _counted(
        LeadTransition.objects.filter(lead__publisher=publisher, to_status="accepted").values_list(
            "created_at", flat=True
        )
    )
    by_action = dict(
        LeadDailyStat.objects.filter(publisher=publisher)
        .values_list("action_code")
        .annotate(n=Sum("new_count"))
        .order_by()
    )
    assert by_action == {"INS": 40, "PLT": 40, "Create": 40}


def test_rollup_keeps_the_dimensions_of_the_first_activity(publisher):
    appsource = factories.make_listing(publisher=publisher)
    lead = make_dated_lead(publisher=publisher, listing=appsource, created=5, action="PLT",
                           is_test=True)  # fmt: skip
    azure = factories.make_listing(publisher=publisher, storefront="azure-marketplace")
    factories.make_activity(lead=lead, listing=azure, action_code="INS", occurred_at=_at(4))

    rollup.rollup_backfill(days=10)

    row = LeadDailyStat.objects.get(publisher=publisher)
    assert (row.day, row.storefront, row.action_code, row.origin, row.is_test) == (
        timezone.localdate() - timedelta(days=5), "appsource", "PLT", "marketplace", True,
    )  # fmt: skip
    assert (row.new_count, row.qualified_count, row.accepted_count, row.campaign) == (
        1, 0, 0, None,
    )  # fmt: skip


def test_rollup_is_idempotent_and_recomputes_whole_days(publisher):
    listing = factories.make_listing(publisher=publisher)
    make_dated_lead(publisher=publisher, listing=listing, created=1)
    rollup.rollup_backfill(days=3)
    first = list(LeadDailyStat.objects.values_list("day", "new_count"))

    rollup.rollup_backfill(days=3)

    assert list(LeadDailyStat.objects.values_list("day", "new_count")) == first
    Lead.objects.filter(publisher=publisher).delete()
    rollup.rollup_backfill(days=3)
    assert LeadDailyStat.objects.count() == 0


def test_rollup_of_one_publisher_leaves_the_others(publisher, other_publisher):
    make_dated_lead(publisher=publisher, listing=factories.make_listing(publisher=publisher),
                    created=1)  # fmt: skip
    make_dated_lead(publisher=other_publisher, created=1,
                    listing=factories.make_listing(publisher=other_publisher))  # fmt: skip
    rollup.rollup_backfill(days=3)
    Lead.objects.all().delete()

    rollup.rollup_backfill(days=3, publisher_ids=[publisher.pk])

    assert list(LeadDailyStat.objects.values_list("publisher_id", "new_count")) == [
        (other_publisher.pk, 1)
    ]


def test_the_task_recomputes_today_and_yesterday_only(publisher, settings):
    listing = factories.make_listing(publisher=publisher)
    for days_ago in (0, 1, 2):
        make_dated_lead(publisher=publisher, listing=listing, created=days_ago, hour=0)

    tasks.rollup_recent.apply()

    today = timezone.localdate()
    assert sorted(LeadDailyStat.objects.values_list("day", "new_count")) == [
        (today - timedelta(days=1), 1),
        (today, 1),
    ]
    assert settings.CELERY_BEAT_SCHEDULE["leads-rollup-recent"] == {
        "task": "leads.rollup_recent",
        "schedule": 300.0,
    }


def test_rollup_of_no_days_does_nothing(publisher):
    assert rollup.rollup_days(days=[]) == 0
    assert LeadDailyStat.objects.count() == 0


def test_funnel_comes_from_the_cache_the_task_refreshes(client, publisher, owner):
    listing = factories.make_listing(publisher=publisher)
    make_dated_lead(publisher=publisher, listing=listing, created=1)
    tasks.rollup_recent.apply()
    make_dated_lead(publisher=publisher, listing=listing, created=1, status="qualified")
    client.force_login(owner)

    before = client.get(reverse("home")).context["funnel"]
    tasks.rollup_recent.apply()
    after = client.get(reverse("home")).context["funnel"]

    assert [(row["status"], row["count"]) for row in before[:2]] == [("new", 1), ("qualified", 0)]
    assert [(row["status"], row["count"]) for row in after[:2]] == [("new", 1), ("qualified", 1)]


def test_funnel_is_counted_live_when_the_cache_is_down(publisher, monkeypatch):
    make_dated_lead(publisher=publisher, listing=factories.make_listing(publisher=publisher),
                    created=3, status="won")  # fmt: skip

    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(rollup.cache, "get", down)

    assert rollup.status_counts(publisher=publisher) == {"won": 1}


def test_rollup_leads_command_backfills(publisher):
    make_dated_lead(publisher=publisher, listing=factories.make_listing(publisher=publisher),
                    created=5)  # fmt: skip
    out = StringIO()

    call_command("rollup_leads", "--days", "7", "--publisher", publisher.slug, stdout=out)

    assert out.getvalue() == "Recomputed 7 days: 1 rows.\n"
    assert list(LeadDailyStat.objects.values_list("new_count", flat=True)) == [1]
