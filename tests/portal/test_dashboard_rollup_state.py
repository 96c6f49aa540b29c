"""The dashboard never passes a missing or late rollup off as zeros: `migrate` leaves the
whole history rolled up, a late rollup's days are counted live, and a dashboard with no
rollup at all says its figures are being prepared."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from leads.models import LeadDailyStat, LeadRollupState
from leads.reporting import rollup
from tests import factories
from tests.portal.test_dashboard import make_dated_lead

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

PENDING = 'data-figures="pending"'


@pytest.fixture
def history(publisher):
    """Marketplace leads of 2, 10 and 200 days ago, a running campaign, and no rollup."""
    listing = factories.make_listing(publisher=publisher, name="Contoso CRM")
    factories.make_campaign(publisher=publisher, name="Spring launch", status="active")
    for created in (2, 10, 200):
        make_dated_lead(
            publisher=publisher, listing=listing, created=created, status="qualified",
            qualified=created,
        )  # fmt: skip
    LeadDailyStat.objects.all().delete()
    LeadRollupState.objects.all().delete()
    return listing


def _dashboard(client, owner) -> str:
    client.force_login(owner)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    return response.content.decode()


def test_migrate_rolls_up_the_whole_history_so_the_first_dashboard_is_right(client, owner, history):
    call_command("migrate", verbosity=0)

    content = _dashboard(client, owner)
    assert PENDING not in content
    assert '<dd data-kpi="new-7">1</dd>' in content
    assert '<dd data-kpi="new-30">2</dd>' in content
    assert '<dd data-kpi="qualified-30">2</dd>' in content
    state = LeadRollupState.objects.get()
    assert state.complete_from == timezone.localdate() - timedelta(days=200)
    assert sum(LeadDailyStat.objects.values_list("new_count", flat=True)) == 3


def test_migrate_again_changes_nothing(history):
    call_command("migrate", verbosity=0)
    rows = sorted(LeadDailyStat.objects.values_list("day", "new_count", "qualified_count"))
    state = LeadRollupState.objects.get()

    call_command("migrate", verbosity=0)

    assert sorted(LeadDailyStat.objects.values_list("day", "new_count", "qualified_count")) == rows
    assert LeadRollupState.objects.get().current_through == state.current_through


def test_before_any_rollup_the_dashboard_says_the_figures_are_being_prepared(
    client, owner, history
):
    content = _dashboard(client, owner)

    assert PENDING in content
    assert "The figures are being prepared" in content
    assert 'data-kpi="new-7"' not in content
    for chart in ("per_day", "by_action", "campaigns"):
        assert f'data-chart="{chart}"' not in content


def test_a_late_rollup_is_completed_live_for_the_days_it_missed(client, owner, publisher, history):
    rollup.rollup_history()
    # A lead arrives, and beat's runs stop: the rollup is an hour late.
    make_dated_lead(publisher=publisher, listing=history, created=0, hour=0)
    LeadRollupState.objects.update(current_through=timezone.now() - timedelta(hours=1))

    content = _dashboard(client, owner)

    assert PENDING not in content
    assert 'data-figures="live"' in content
    assert '<dd data-kpi="new-7">2</dd>' in content
    assert '<dd data-kpi="new-30">3</dd>' in content


def test_a_rollup_days_behind_is_pending_not_zeros(client, owner, history):
    rollup.rollup_history()
    LeadRollupState.objects.update(current_through=timezone.now() - timedelta(days=10))

    content = _dashboard(client, owner)

    assert PENDING in content
    assert 'data-kpi="new-30"' not in content


def test_the_beat_rollup_keeps_the_state_current(history):
    rollup.rollup_history()
    LeadRollupState.objects.update(current_through=timezone.now() - timedelta(days=1))

    rollup.rollup_recent()

    state = LeadRollupState.objects.get()
    assert timezone.now() - state.current_through < timedelta(minutes=1)
    assert state.complete_from == timezone.localdate() - timedelta(days=200)
