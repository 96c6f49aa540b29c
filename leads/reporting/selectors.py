"""The dashboard's reads of leads: rolled-up daily figures (campaign progress is read live
through leads.campaigns.selectors, like the campaign page).

Marketplace figures leave out test leads and Co-Sell referrals (DESIGN §1). The funnel by
status is cached by the rollup task: `leads.reporting.rollup.status_counts`.

The daily figures never pass a late rollup off as zeros: when beat's run is more than
`STALE_AFTER` late, the days it has missed (at most `LIVE_DAYS_MAX`) are counted live
from the leads with the rollup's own queries; when no rollup ever ran, or it is further
behind, the figures are *pending* and the dashboard says they are being prepared.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Sum
from django.utils import timezone

from leads.models import LeadDailyStat, LeadOrigin, LeadRollupState
from leads.reporting import rollup

# Beat runs the rollup every five minutes; two missed runs make the figures stale.
STALE_AFTER = timedelta(minutes=12)
LIVE_DAYS_MAX = 3


@dataclass(frozen=True)
class DailyStats:
    rows: list[dict]
    pending: bool  # no rollup yet, or too far behind to count live: say so, show no zeros
    live_since: date | None  # the first day counted live, when the rollup was late


def _live_rows(*, publisher, days: list[date]) -> list[dict]:
    """The rollup's figures of these days for one publisher, counted now, unsaved."""
    totals: dict[tuple, dict[str, int]] = defaultdict(
        lambda: {"new": 0, "qualified": 0, "accepted": 0}
    )
    counts = rollup.count_days(days=days, publisher_ids=[publisher.pk])
    for (_pub, day, storefront, action, origin, is_test, _campaign), figures in counts.items():
        if origin != LeadOrigin.MARKETPLACE or is_test:
            continue
        row = totals[(day, storefront, action)]
        row["new"] += figures.get("new_count", 0)
        row["qualified"] += figures.get("qualified_count", 0)
        row["accepted"] += figures.get("accepted_count", 0)
    return [
        {"day": day, "storefront": storefront, "action_code": action, **figures}
        for (day, storefront, action), figures in totals.items()
    ]


def daily_stats_current(*, publisher, since: date, until: date) -> DailyStats:
    """The daily figures of `daily_stats_for_publisher`, with the days a late rollup has
    missed counted live, or pending when that is not possible."""
    state = LeadRollupState.objects.filter(pk=1).first()
    if state is None:
        return DailyStats(rows=[], pending=True, live_since=None)
    now = timezone.now()
    if now - state.current_through <= STALE_AFTER:
        rows = daily_stats_for_publisher(publisher=publisher, since=since, until=until)
        return DailyStats(rows=rows, pending=False, live_since=None)
    first_missed = max(timezone.localdate(state.current_through), since)
    if (until - first_missed).days + 1 > LIVE_DAYS_MAX:
        return DailyStats(rows=[], pending=True, live_since=None)
    rolled = daily_stats_for_publisher(
        publisher=publisher, since=since, until=first_missed - timedelta(days=1)
    )
    missed = [first_missed + timedelta(days=n) for n in range((until - first_missed).days + 1)]
    live = _live_rows(publisher=publisher, days=missed)
    return DailyStats(rows=rolled + live, pending=False, live_since=first_missed)


def daily_stats_for_publisher(*, publisher, since: date, until: date) -> list[dict]:
    """Marketplace figures from the rollup, by day, storefront and action code."""
    return list(
        LeadDailyStat.objects.filter(
            publisher=publisher, origin=LeadOrigin.MARKETPLACE, is_test=False
        )
        .filter(day__gte=since, day__lte=until)
        .values("day", "storefront", "action_code")
        .annotate(new=Sum("new_count"), qualified=Sum("qualified_count"))
        .annotate(accepted=Sum("accepted_count"))
        .order_by()
    )
