"""The dashboard's reads: a fixed number of queries, whatever the number of leads.

The shell composes the apps' reads: `leads.reporting` and `crm.selectors`, never their
models' managers. What is read how:
- rolled up (`leads.LeadDailyStat`, recomputed every five minutes by `leads.rollup_recent`):
  the KPI tiles, leads per day by storefront and leads by action code; when the rollup
  is late its missed days are counted live, and before the first rollup the tiles and
  those charts say the figures are being prepared;
- cached by the same task: the funnel by status (current statuses of the last 90 days'
  leads: a GROUP BY too slow to run per page view at a million leads);
- live: delivery health per target over the last 90 days (index target, created_at);
- campaign progress (`leads.campaigns.selectors.campaign_goal_progress`, the campaign page's
  any-touch attribution): each campaign's funnel is cached per campaign and refreshed by the
  rollup task, and the campaign pages read the same entries, so both show the same figures.
Marketplace figures leave out test leads and Co-Sell referrals (DESIGN §1).
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from django.utils.translation import gettext as _

from crm import health as crm_health
from leads.campaigns import selectors as campaign_selectors
from leads.catalog.storefronts import Storefront
from leads.models import LeadActivity, LeadStatus
from leads.reporting import rollup
from leads.reporting import selectors as reporting_selectors

WINDOW_DAYS = 90
KPI_WINDOWS = (7, 30)
MAX_CAMPAIGNS = 12
FUNNEL_ORDER = [s.value for s in LeadStatus]


@dataclass(frozen=True)
class Kpi:
    days: int
    new: int
    qualified: int
    accepted: int

    @property
    def conversion(self) -> float | None:
        """Accepted ÷ qualified, in per cent; None when nothing was qualified."""
        return None if not self.qualified else round(100 * self.accepted / self.qualified, 1)


def _window_start(today: date, days: int) -> date:
    return today - timedelta(days=days - 1)


def daily_rows(*, publisher, today: date) -> reporting_selectors.DailyStats:
    """The marketplace figures of the last 90 days, by day, storefront and action: rolled
    up, with the days a late rollup missed counted live, or pending (never false zeros)."""
    return reporting_selectors.daily_stats_current(
        publisher=publisher, since=_window_start(today, WINDOW_DAYS), until=today
    )


def kpis(rows: list[dict], *, today: date) -> list[Kpi]:
    """New, qualified and accepted over each KPI window, from the rolled-up rows."""
    result = []
    for days in KPI_WINDOWS:
        start = _window_start(today, days)
        inside = [row for row in rows if row["day"] >= start]
        result.append(
            Kpi(
                days=days,
                new=sum(row["new"] for row in inside),
                qualified=sum(row["qualified"] for row in inside),
                accepted=sum(row["accepted"] for row in inside),
            )
        )
    return result


def _storefront_label(value: str) -> str:
    return str(Storefront(value).label) if value in Storefront.values else _("No activity")


def leads_per_day(rows: list[dict], *, today: date) -> dict:
    """New leads per day and storefront over 90 days: one dataset per storefront."""
    labels = [_window_start(today, WINDOW_DAYS) + timedelta(days=n) for n in range(WINDOW_DAYS)]
    index = {day: n for n, day in enumerate(labels)}
    series: dict[str, list[int]] = {value: [0] * WINDOW_DAYS for value in Storefront.values}
    for row in rows:
        series.setdefault(row["storefront"], [0] * WINDOW_DAYS)[index[row["day"]]] += row["new"]
    datasets = [{"label": _storefront_label(key), "data": data} for key, data in series.items()]
    return {
        "labels": [day.isoformat() for day in labels],
        "datasets": datasets,
        "total": sum(sum(d["data"]) for d in datasets),
        "table": [
            (day, [d["data"][n] for d in datasets])
            for n, day in enumerate(labels)
            if any(d["data"][n] for d in datasets)
        ],
    }


def leads_by_action(rows: list[dict]) -> dict:
    """New leads of the last 90 days by the action code of their first activity."""
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        totals[row["action_code"]] += row["new"]
    known = dict(LeadActivity.ActionCode.choices)
    ordered = sorted(((n, code) for code, n in totals.items() if n), reverse=True)
    labels = [str(known.get(code, code or _("None"))) for _n, code in ordered]
    return {
        "labels": labels,
        "datasets": [{"label": _("New leads"), "data": [n for n, _code in ordered]}],
        "rows": [(label, code, n) for label, (n, code) in zip(labels, ordered, strict=True)],
    }


def campaign_progress(*, publisher) -> list[dict]:
    """Each running or past campaign: qualified leads attributed to it against its goal,
    live from the campaign page's own selector, so that both pages agree."""
    progress = campaign_selectors.campaign_goal_progress(publisher=publisher, limit=MAX_CAMPAIGNS)
    return [
        {
            "id": campaign.pk,
            "name": campaign.name,
            "status": campaign.get_status_display(),
            "qualified": funnel.qualified,
            "goal": funnel.goal,
            "percent": funnel.goal_percent,
        }
        for campaign, funnel in progress
    ]


def funnel(*, publisher) -> list[dict]:
    """Marketplace leads created in the last 90 days, by their current status (cached by
    the rollup task; see leads.reporting.rollup.status_counts)."""
    counts = rollup.status_counts(publisher=publisher)
    return [
        {"status": status, "label": str(LeadStatus(status).label), "count": counts.get(status, 0)}
        for status in FUNNEL_ORDER
    ]


def delivery_health(*, publisher) -> list[dict]:
    """Deliveries of the last 90 days per target of the publisher: the target list live,
    the counts from the cache that beat refreshes every five minutes."""
    return crm_health.delivery_health_by_target(publisher=publisher)
