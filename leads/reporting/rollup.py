"""The daily rollup behind the dashboard: `LeadDailyStat` rows recomputed from the leads.

Each row counts, for one publisher, day and combination of dimensions:
- `new_count`: leads created that day, under their first campaign;
- `qualified_count`: leads qualified that day (`Lead.qualified_at`), under their latest
  campaign (the one whose threshold qualified them);
- `accepted_count`: leads moved to accepted that day (their `LeadTransition`), under their
  latest campaign.
The storefront and action code are those of the lead's first activity. Days are calendar
days in settings.TIME_ZONE. A day is always recomputed whole, so a rerun is idempotent.

`LeadRollupState` says how far the rollup has got: `current_through`, the start of the
latest run of every publisher that recomputed today, and `complete_from`, the first day
of the latest full-history run (`rollup_history`, which `migrate` and `seed_demo` run, so
a fresh database with leads has its figures before beat's first run). The dashboard
reads it (leads.reporting.selectors) to count the days a late rollup has missed live.

The dashboard's funnel (marketplace leads of the last 90 days by their current status) is
not a daily figure: it is one GROUP BY that costs about 300 ms at a million leads, so the
same beat task refreshes it into the cache, and the dashboard reads it from there.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Min, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from leads.models import Lead, LeadActivity, LeadDailyStat, LeadRollupState, LeadTransition
from leads.reporting import cohort
from portal.models import Publisher

logger = logging.getLogger(__name__)

# Serializes concurrent rollups (beat overlap, a backfill): the delete-then-insert of one
# would otherwise collide with the other's rows on the unique constraints.
ADVISORY_LOCK_KEY = 0x4C504453  # "LPDS"

STATUS_WINDOW_DAYS = 90
# The beat task refreshes every five minutes; the margin covers a late or missed run.
STATUS_COUNTS_TTL_SECONDS = 15 * 60

_KEY_FIELDS = (
    "publisher_id",
    "day",
    "storefront",
    "action_code",
    "origin",
    "is_test",
    "campaign_id",
)


def _first_activity(field: str, lead_ref: str) -> Coalesce:
    first = LeadActivity.objects.filter(lead_id=OuterRef(lead_ref)).order_by("occurred_at", "id")
    return Coalesce(Subquery(first.values(field)[:1]), Value(""))


def _grouped(queryset: QuerySet, *, moment: str, lead: str, campaign: str, count: str):
    """Rows of (dimensions…, n) for `queryset`, whose lead is reached through `lead`."""
    prefix = f"{lead}__" if lead else ""
    return (
        queryset.annotate(
            stat_day=TruncDate(moment, tzinfo=timezone.get_current_timezone()),
            stat_storefront=_first_activity("storefront", f"{lead}_id" if lead else "pk"),
            stat_action=_first_activity("action_code", f"{lead}_id" if lead else "pk"),
        )
        .values_list(
            f"{prefix}publisher_id",
            "stat_day",
            "stat_storefront",
            "stat_action",
            f"{prefix}origin",
            f"{prefix}is_test",
            f"{prefix}{campaign}",
        )
        .annotate(n=Count(count, distinct=bool(lead)))
        .order_by()
    )


def _day_bounds(days: list[date]) -> tuple[datetime, datetime]:
    zone = timezone.get_current_timezone()
    start = datetime.combine(min(days), time.min, tzinfo=zone)
    end = datetime.combine(max(days) + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def count_days(*, days: list[date], publisher_ids) -> dict[tuple, dict[str, int]]:
    """Every (dimensions) → {new, qualified, accepted} of the given days: three GROUP BYs."""
    start, end = _day_bounds(days)
    leads = Lead.objects.all()
    transitions = LeadTransition.objects.filter(to_status=Lead.Status.ACCEPTED)
    if publisher_ids is not None:
        leads = leads.filter(publisher_id__in=publisher_ids)
        transitions = transitions.filter(lead__publisher_id__in=publisher_ids)
    # Each count: the rows it counts, the moment that dates a row, the path from a row to its
    # lead ("" for a lead itself), the lead's campaign it is credited to, and what it counts.
    sources = {
        "new_count": (leads, "created_at", "", "first_campaign_id", "pk"),
        "qualified_count": (leads, "qualified_at", "", "latest_campaign_id", "pk"),
        "accepted_count": (transitions, "created_at", "lead", "latest_campaign_id", "lead_id"),
    }
    wanted = set(days)
    counts: dict[tuple, dict[str, int]] = defaultdict(dict)
    for field, (queryset, moment, lead, campaign, count) in sources.items():
        dated = queryset.filter(**{f"{moment}__gte": start, f"{moment}__lt": end})
        rows = _grouped(dated, moment=moment, lead=lead, campaign=campaign, count=count)
        for *key, n in rows:
            if key[1] in wanted:
                counts[tuple(key)][field] = n
    return counts


@transaction.atomic
def rollup_days(*, publisher_ids: Iterable[int] | None = None, days: Iterable[date]) -> int:
    """Recompute the daily figures of the given days (all publishers when none are given)."""
    days = sorted(set(days))
    if not days:
        return 0
    publisher_ids = None if publisher_ids is None else list(publisher_ids)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
    # Taken before counting: a lead written during the run is left to the next one.
    started = timezone.now()
    counts = count_days(days=days, publisher_ids=publisher_ids)
    stale = LeadDailyStat.objects.filter(day__in=days)
    if publisher_ids is not None:
        stale = stale.filter(publisher_id__in=publisher_ids)
    stale.delete()
    rows = [
        LeadDailyStat(**dict(zip(_KEY_FIELDS, key, strict=True)), **figures)
        for key, figures in counts.items()
    ]
    LeadDailyStat.objects.bulk_create(rows, batch_size=1000)
    if publisher_ids is None and days[-1] >= timezone.localdate(started):
        LeadRollupState.objects.update_or_create(pk=1, defaults={"current_through": started})
    logger.info(
        "leads.rollup.done",
        extra={"days": len(days), "first_day": str(days[0]), "rows": len(rows)},
    )
    return len(rows)


def rollup_recent() -> int:
    """Recompute today and yesterday, the Reports page's changed cohort days
    (leads.reporting.cohort), and the funnel: what the beat task runs."""
    today = timezone.localdate()
    rows = rollup_days(days=[today - timedelta(days=1), today])
    cohort.cohort_rollup_dirty()
    status_counts_refresh()
    return rows


def rollup_backfill(*, days: int, publisher_ids: Iterable[int] | None = None) -> int:
    """Recompute the last `days` days, today included, every cohort day of the Reports
    page, and the funnel."""
    today = timezone.localdate()
    rows = rollup_days(
        publisher_ids=publisher_ids, days=[today - timedelta(days=n) for n in range(days)]
    )
    cohort.cohort_rollup_all(publisher_ids=publisher_ids)
    status_counts_refresh(publisher_ids=publisher_ids)
    return rows


def _history_days() -> int:
    today = timezone.localdate()
    first = Lead.objects.aggregate(first=Min("created_at"))["first"]
    since = min(timezone.localdate(first), today) if first else today
    rows = rollup_days(days=[since + timedelta(days=n) for n in range((today - since).days + 1)])
    LeadRollupState.objects.filter(pk=1).update(complete_from=since)
    return rows


def rollup_history() -> int:
    """Recompute every day from the first lead's to today, every cohort day of the
    Reports page, and the funnel: what `seed_demo` runs (and `migrate`, but for the cohorts,
    which migration 0026 filled). Idempotent, like every rollup."""
    rows = _history_days()
    cohort.cohort_rollup_all()
    status_counts_refresh()
    return rows


def rollup_after_migrate(*, using: str = "default", **kwargs) -> None:
    """post_migrate: a database whose figures were never rolled up in full gets them now,
    so the first dashboard is complete without waiting for beat. The funnel is left to
    its cache miss: `migrate` must not need Redis."""
    if LeadRollupState._meta.db_table not in connection.introspection.table_names():
        return  # migrated backwards, or to a plan that stops before the table
    state = LeadRollupState.objects.filter(pk=1).first()
    if state is None or state.complete_from is None:
        _history_days()


# --- The funnel: current statuses of the last 90 days' leads, cached ------------------------


def _status_key(publisher: Publisher) -> str:
    # The creation time keeps a recreated database (tests) from reading an old entry.
    return f"leads:status-counts:{publisher.pk}:{publisher.created_at.timestamp():.0f}"


def _status_counts_query(publisher_ids: list[int] | None) -> dict[int, dict[str, int]]:
    since = datetime.combine(
        timezone.localdate() - timedelta(days=STATUS_WINDOW_DAYS - 1),
        time.min,
        tzinfo=timezone.get_current_timezone(),
    )
    leads = Lead.objects.filter(
        origin=Lead.Origin.MARKETPLACE, is_test=False, created_at__gte=since
    )
    if publisher_ids is not None:
        leads = leads.filter(publisher_id__in=publisher_ids)
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = leads.values_list("publisher_id", "status").annotate(n=Count("pk")).order_by()
    for publisher_id, status, n in rows:
        counts[publisher_id][status] = n
    return counts


def status_counts(*, publisher: Publisher) -> dict[str, int]:
    """The publisher's marketplace leads of the last 90 days by status, from the cache
    (computed and cached on a miss, or counted live when the cache is down)."""
    key = _status_key(publisher)
    try:
        counts = cache.get(key)
    except Exception:
        logger.warning("leads.status_counts.cache_unavailable", exc_info=True)
        return _status_counts_query([publisher.pk]).get(publisher.pk, {})
    if counts is None:
        counts = _status_counts_query([publisher.pk]).get(publisher.pk, {})
        cache.set(key, counts, STATUS_COUNTS_TTL_SECONDS)
    return counts


def status_counts_refresh(*, publisher_ids: Iterable[int] | None = None) -> None:
    """Count every publisher's statuses in one GROUP BY and cache them."""
    publisher_ids = None if publisher_ids is None else list(publisher_ids)
    publishers = Publisher.objects.only("pk", "created_at")
    if publisher_ids is not None:
        publishers = publishers.filter(pk__in=publisher_ids)
    counts = _status_counts_query(publisher_ids)
    cache.set_many(
        {_status_key(p): counts.get(p.pk, {}) for p in publishers}, STATUS_COUNTS_TTL_SECONDS
    )
