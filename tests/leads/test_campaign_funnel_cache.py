"""The campaign funnels that the dashboard and the campaign pages share: cached per campaign,
refreshed by the rollup task, counted live around a cache that is down."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from leads import tasks
from leads.campaigns import selectors
from leads.models import Lead
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

DOWN_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        # Nothing listens on port 9 (discard) of loopback: every call fails at once.
        "LOCATION": "redis://127.0.0.1:9/0",
    }
}


def _funnel_queries(captured) -> list[str]:
    """The funnel's GROUP BY over attributed activities, among the captured queries."""
    return [
        q["sql"]
        for q in captured.captured_queries
        if "leads_leadactivity" in q["sql"] and "COUNT(DISTINCT" in q["sql"]
    ]


@pytest.fixture
def spring(publisher):
    """A campaign with three attributed leads: one qualified, one won, one new."""
    listing = factories.make_listing(publisher=publisher, name="Contoso CRM")
    campaign = factories.make_campaign(
        publisher=publisher, name="Spring", status="active", goal_qualified_leads=4
    )
    now = timezone.now()
    for status in ("qualified", "won", "new"):
        lead = factories.make_lead(publisher=publisher, status=status)
        factories.make_activity(
            lead=lead, listing=listing, campaign=campaign, occurred_at=now - timedelta(days=1)
        )
    return campaign


def _pages(client, campaign) -> tuple:
    dashboard = client.get(reverse("home"))
    page = client.get(reverse("campaign-detail", kwargs={"campaign_id": campaign.pk}))
    row = next(r for r in dashboard.context["campaigns"] if r["id"] == campaign.pk)
    funnel = page.context["funnel"]
    return (row["qualified"], row["percent"]), (funnel.qualified, funnel.goal_percent)


def test_the_funnel_is_counted_once_then_read_from_the_cache(spring, owner):
    client = Client()
    client.force_login(owner)

    with CaptureQueriesContext(connection) as first:
        first_figures = _pages(client, spring)
    with CaptureQueriesContext(connection) as second:
        second_figures = _pages(client, spring)

    assert first_figures == second_figures == ((2, 50), (2, 50))
    assert len(_funnel_queries(first)) == 1  # the dashboard's miss; the page then hits
    assert _funnel_queries(second) == []


def test_the_rollup_task_refreshes_both_pages_after_a_status_change(spring, owner):
    client = Client()
    client.force_login(owner)
    assert _pages(client, spring) == ((2, 50), (2, 50))
    new_lead = Lead.objects.get(status="new")
    Lead.objects.filter(pk=new_lead.pk).update(status="qualified")

    tasks.rollup_recent()

    assert _pages(client, spring) == ((3, 75), (3, 75))


def test_the_refresh_caches_every_campaign_in_one_query(spring, publisher):
    other = factories.make_campaign(publisher=publisher, name="Summer", status="draft")

    with CaptureQueriesContext(connection) as refresh:
        assert selectors.campaign_funnels_refresh() == 2
    with CaptureQueriesContext(connection) as read:
        funnels = selectors.campaign_funnels(publisher=publisher, campaigns=[spring, other])

    assert len(_funnel_queries(refresh)) == 1
    assert read.captured_queries == []
    assert (funnels[spring.pk].leads, funnels[spring.pk].won) == (3, 1)
    assert funnels[other.pk].leads == 0


def test_another_publishers_campaign_gets_no_funnel(spring, other_publisher):
    assert selectors.campaign_funnels(publisher=other_publisher, campaigns=[spring]) == {}


def test_a_cache_that_is_down_is_read_around(spring, publisher):
    with override_settings(CACHES=DOWN_CACHE):
        funnels = selectors.campaign_funnels(publisher=publisher, campaigns=[spring])

    assert (funnels[spring.pk].qualified, funnels[spring.pk].goal_percent) == (2, 50)
