"""The campaign page's leads per day: counted by day in the database, cached and refreshed
with the funnel, and exactly the per-lead count it replaced (first activity in the
campaign, in the site's time zone; test leads, test activities and Co-Sell left out)."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leads.campaigns import selectors
from leads.models import LeadActivity
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def per_lead_reference(campaign) -> dict:
    """The former computation: each attributed lead's first activity, counted in Python."""
    firsts: dict[int, object] = {}
    for activity in LeadActivity.objects.filter(
        campaign=campaign, is_test=False, lead__origin="marketplace", lead__is_test=False
    ):
        moment = firsts.get(activity.lead_id)
        firsts[activity.lead_id] = (
            min(moment, activity.occurred_at) if moment else activity.occurred_at
        )
    counts: dict = {}
    for moment in firsts.values():
        day = timezone.localdate(moment)
        counts[day] = counts.get(day, 0) + 1
    return counts


@pytest.fixture
def campaigns(publisher, other_publisher):
    listing = factories.make_listing(publisher=publisher)
    start = timezone.localdate() - timedelta(days=20)
    spring = factories.make_campaign(publisher=publisher, name="Spring", starts_on=start)
    summer = factories.make_campaign(publisher=publisher, name="Summer", starts_on=start)
    theirs = factories.make_campaign(publisher=other_publisher, name="Theirs", starts_on=start)
    now = timezone.now()
    for n in range(30):
        lead = factories.make_lead(
            publisher=publisher,
            is_test=n % 11 == 0,
            origin="co-sell" if n % 13 == 0 else "marketplace",
        )
        # Late at night and early in the morning: the day is the local one.
        for k, campaign in enumerate((spring, summer, spring)[: 1 + n % 3]):
            factories.make_activity(
                lead=lead,
                listing=listing,
                campaign=campaign,
                is_test=n % 7 == 0 and k == 0,
                occurred_at=now - timedelta(days=n % 15, hours=k * 13 + n % 5),
            )
    other_lead = factories.make_lead(publisher=other_publisher)
    factories.make_activity(lead=other_lead, campaign=theirs, occurred_at=now)
    return [spring, summer, theirs]


def test_the_chart_counts_each_lead_on_the_day_of_its_first_activity(campaigns):
    for campaign in campaigns:
        reference = per_lead_reference(campaign)
        chart = dict(selectors.campaign_leads_per_day(campaign=campaign))
        assert {day: n for day, n in chart.items() if n} == reference
        assert sum(reference.values()) > 0


def test_the_refresh_caches_every_chart_and_the_page_reads_it(campaigns):
    cache.clear()
    selectors.campaign_funnels_refresh()
    with CaptureQueriesContext(connection) as captured:
        charts = [selectors.campaign_leads_per_day(campaign=c) for c in campaigns]
    assert len(captured.captured_queries) == 0
    cache.clear()
    assert charts == [selectors.campaign_leads_per_day(campaign=c) for c in campaigns]


def test_a_miss_is_one_query(campaigns, django_assert_max_num_queries):
    cache.clear()
    with django_assert_max_num_queries(1):
        selectors.campaign_leads_per_day(campaign=campaigns[0])
