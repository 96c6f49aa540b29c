"""The Reports page's figures: a period's marketplace leads per listing or per source.

The report follows a cohort: the publisher's marketplace leads (test leads and Co-Sell
referrals left out, as on the dashboard) created in the period, counted by how far each
has gone since:
- *qualified*: qualified at some point (`qualified_at` set, or a status past qualified);
- *accepted*: accepted at some point (accepted now, or won or lost, which only follow it);
- *won*: won now.
Conversion is each stage over the one before it.

A lead's listing and source are those of its first storefront activity (the source is
its storefront and action code, as on the dashboard). The *first touch* is the first
status change made by a person (a `LeadTransition` with a `changed_by`): intake's own
qualification is not one. The median time to it is over the leads touched so far.

On PostgreSQL the figures come from the cohort rollup (leads.reporting.cohort): one
statement sums the stored rows of the period's days, counts live (with the rollup's own
SQL) the recent hours the rollup has yet to recompute, and takes the exact medians per group and
overall (`percentile_cont(0.5)` over the stored seconds to the first touch), with JIT
off for it (`SET LOCAL`, a second query); a third reads the listings' names (per listing
only). Its cost follows the stored rows (days × groups), not the leads. `report_live`
counts every lead of the period, as the page did before the rollup: SQLite uses it, and
the tests compare both. Day bounds are in the current time zone (settings.TIME_ZONE: the
rollup's days).
"""

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import (
    Aggregate,
    Count,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.catalog.storefronts import Storefront
from leads.models import Lead, LeadActivity, LeadOrigin, LeadStatus, LeadTransition, Listing
from leads.reporting import cohort as cohort_rollup

BY_LISTING, BY_SOURCE = "listing", "source"
GROUPINGS = (BY_LISTING, BY_SOURCE)

REACHED_QUALIFIED = (LeadStatus.QUALIFIED, LeadStatus.ACCEPTED, LeadStatus.WON, LeadStatus.LOST)
REACHED_ACCEPTED = (LeadStatus.ACCEPTED, LeadStatus.WON, LeadStatus.LOST)
FIGURES = ("leads", "qualified", "accepted", "won")


class Median(Aggregate):
    """PostgreSQL's continuous median (NULLs are ignored)."""

    function = "PERCENTILE_CONT"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


class SecondsBetween(Func):
    """Seconds from the second expression to the first (PostgreSQL)."""

    template = "EXTRACT(EPOCH FROM (%(expressions)s))"
    arg_joiner = " - "
    output_field = FloatField()


@dataclass(frozen=True)
class ReportRow:
    key: str
    label: str
    leads: int
    qualified: int
    accepted: int
    won: int
    median_seconds: float | None  # to the first touch; None when no lead was touched

    @staticmethod
    def _rate(part: int, whole: int) -> float | None:
        return None if not whole else round(100 * part / whole, 1)

    @property
    def qualified_rate(self) -> float | None:
        return self._rate(self.qualified, self.leads)

    @property
    def accepted_rate(self) -> float | None:
        return self._rate(self.accepted, self.qualified)

    @property
    def won_rate(self) -> float | None:
        return self._rate(self.won, self.accepted)

    @property
    def median_hours(self) -> float | None:
        return None if self.median_seconds is None else round(self.median_seconds / 3600, 1)


@dataclass(frozen=True)
class Report:
    since: date
    until: date
    by: str
    rows: list[ReportRow]
    total: ReportRow


def _bounds(since: date, until: date) -> tuple[datetime, datetime]:
    zone = timezone.get_current_timezone()
    return (
        datetime.combine(since, time.min, tzinfo=zone),
        datetime.combine(until + timedelta(days=1), time.min, tzinfo=zone),
    )


def _cohort(*, publisher, since: date, until: date, keys: bool = True) -> QuerySet[Lead]:
    """The period's marketplace leads with their first touch, and their group keys."""
    start, end = _bounds(since, until)
    first = LeadActivity.objects.filter(lead_id=OuterRef("pk")).order_by("occurred_at", "id")
    touches = LeadTransition.objects.filter(
        lead_id=OuterRef("pk"), changed_by__isnull=False
    ).order_by("created_at", "id")
    leads = Lead.objects.filter(
        publisher=publisher,
        origin=LeadOrigin.MARKETPLACE,
        is_test=False,
        created_at__gte=start,
        created_at__lt=end,
    ).annotate(report_touch=Subquery(touches.values("created_at")[:1]))
    if not keys:
        return leads
    return leads.annotate(
        report_listing=Subquery(first.values("listing_id")[:1]),
        report_storefront=Coalesce(Subquery(first.values("storefront")[:1]), Value("")),
        report_action=Coalesce(Subquery(first.values("action_code")[:1]), Value("")),
    )


def _figures(*, postgres: bool) -> dict:
    figures = {
        "leads": Count("pk"),
        "qualified": Count(
            "pk", filter=Q(qualified_at__isnull=False) | Q(status__in=REACHED_QUALIFIED)
        ),
        "accepted": Count("pk", filter=Q(status__in=REACHED_ACCEPTED)),
        "won": Count("pk", filter=Q(status=LeadStatus.WON)),
    }
    if postgres:
        figures["median"] = Median(SecondsBetween(F("report_touch"), F("created_at")))
    return figures


def _group_fields(by: str) -> tuple[str, ...]:
    return ("report_listing",) if by == BY_LISTING else ("report_storefront", "report_action")


def _label(by: str, key: tuple, listings: dict[int, str]) -> tuple[str, str]:
    if by == BY_LISTING:
        (listing_id,) = key
        if listing_id is None:
            return "none", _("No activity")
        return str(listing_id), listings.get(listing_id, _("Unknown listing"))
    storefront, action = key
    if not storefront:
        return "none", _("No activity")
    known = dict(LeadActivity.ActionCode.choices)
    where = str(Storefront(storefront).label) if storefront in Storefront.values else storefront
    what = str(known.get(action, action or _("No action code")))
    return f"{storefront}|{action}", f"{where} · {what}"


def _python_medians(cohort: QuerySet[Lead], fields: tuple[str, ...]) -> tuple[dict, float | None]:
    """Median seconds to the first touch per group and overall, computed in Python."""
    delays: dict[tuple, list[float]] = defaultdict(list)
    every: list[float] = []
    rows = cohort.filter(report_touch__isnull=False).values_list(
        *fields, "created_at", "report_touch"
    )
    for *key, created_at, touched_at in rows:
        seconds = (touched_at - created_at).total_seconds()
        delays[tuple(key)].append(seconds)
        every.append(seconds)
    medians = {key: statistics.median(values) for key, values in delays.items()}
    return medians, (statistics.median(every) if every else None)


def _rolled_up(
    *, publisher, since: date, until: date, by: str
) -> tuple[list[dict], dict, float | None]:
    """Rows of (key fields…, figures), medians per key and the overall median, from the
    cohort rollup and the recent hours it has yet to recompute counted live (one statement)."""
    fields = ("listing_id",) if by == BY_LISTING else ("storefront", "action_code")
    keys = ", ".join(fields)
    ctes, params = cohort_rollup.pending_ctes(publisher_id=publisher.pk, since=since, until=until)
    parts = (
        # Only constants and the rollup's SQL are formatted in; the values are parameters.
        f"WITH {ctes}, parts AS MATERIALIZED (SELECT {cohort_rollup.COLUMNS} "  # noqa: S608
        "FROM leads_leadcohortstat WHERE publisher_id = %(publisher)s "
        "AND day >= %(since)s AND day <= %(until)s "
        "AND (day, hour) NOT IN (SELECT day, hour FROM pending) "
        f"UNION ALL SELECT {cohort_rollup.COLUMNS} FROM live), "
    )
    figures = ", ".join(f"sum({name})::bigint AS {name}" for name in FIGURES)
    nulls = ", ".join("NULL::bigint" for _name in FIGURES)
    # One statement: the sums per key, then the medians per key and overall.
    report = (
        f"sums AS (SELECT {keys}, {figures} FROM parts GROUP BY {keys} HAVING sum(leads) > 0), "  # noqa: S608
        f"medians AS (SELECT {keys}, GROUPING({keys}) AS whole, "
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY s) AS median "
        f"FROM parts, unnest(touch_seconds) s GROUP BY GROUPING SETS (({keys}), ())) "
        f"SELECT 'sum', {keys}, {', '.join(FIGURES)}, NULL::double precision FROM sums "
        f"UNION ALL SELECT CASE WHEN whole = 0 THEN 'median' ELSE 'total' END, {keys}, "
        f"{nulls}, median FROM medians"
    )
    grouped, medians, overall = [], {}, None
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # The live part's estimate (a day of leads per pending day) would cross
        # jit_above_cost and spend ~100 ms compiling a query that reads ~1,000 rows.
        # And the medians sort every touched lead's seconds of the period (400,000 at 1M
        # leads): in memory, not spilled to temporary files.
        cursor.execute(
            "SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true)"
        )
        cursor.execute(parts + report, params)
        for kind, *values in cursor.fetchall():
            key, numbers, median = (
                tuple(values[: len(fields)]),
                values[len(fields) : -1],
                values[-1],
            )
            if kind == "sum":
                grouped.append(dict(zip((*fields, *FIGURES), (*key, *numbers), strict=True)))
            elif kind == "median":
                medians[key] = median
            else:
                overall = median
    renamed = ("report_listing",) if by == BY_LISTING else ("report_storefront", "report_action")
    rows = [
        {**{new: row.pop(old) for old, new in zip(fields, renamed, strict=True)}, **row}
        for row in grouped
    ]
    return rows, medians, overall


def report_for_publisher(*, publisher, since: date, until: date, by: str) -> Report:
    """The period's figures per listing or per source, and the total: from the cohort
    rollup on PostgreSQL (at most three queries, whatever the number of leads, days or listings),
    else counted live."""
    if connection.vendor != "postgresql":
        return report_live(publisher=publisher, since=since, until=until, by=by)
    grouped, medians, overall = _rolled_up(publisher=publisher, since=since, until=until, by=by)
    period = {"publisher": publisher, "since": since, "until": until, "by": by}
    return _assemble(**period, grouped=grouped, medians=medians, overall=overall)


def report_live(*, publisher, since: date, until: date, by: str) -> Report:
    """The period's figures counted from every lead of the period: at most three
    queries, whatever the number of leads or listings, but each visits every lead."""
    postgres = connection.vendor == "postgresql"
    fields = _group_fields(by)
    cohort = _cohort(publisher=publisher, since=since, until=until)
    grouped = list(cohort.values(*fields).annotate(**_figures(postgres=postgres)).order_by())
    if postgres:
        # The total's median needs no group keys: their subqueries are left out.
        lean = _cohort(publisher=publisher, since=since, until=until, keys=False)
        overall = lean.aggregate(median=Median(SecondsBetween(F("report_touch"), F("created_at"))))[
            "median"
        ]
        medians = {tuple(row[f] for f in fields): row["median"] for row in grouped}
    else:
        medians, overall = _python_medians(cohort, fields)
    period = {"publisher": publisher, "since": since, "until": until, "by": by}
    return _assemble(**period, grouped=grouped, medians=medians, overall=overall)


def _assemble(
    *, publisher, since: date, until: date, by: str, grouped: list[dict], medians: dict, overall
) -> Report:
    fields = _group_fields(by)
    listings = (
        dict(Listing.objects.filter(publisher=publisher).values_list("pk", "name"))
        if by == BY_LISTING
        else {}
    )
    rows = []
    for row in grouped:
        key = tuple(row[f] for f in fields)
        row_key, label = _label(by, key, listings)
        rows.append(
            ReportRow(
                key=row_key,
                label=label,
                leads=row["leads"],
                qualified=row["qualified"],
                accepted=row["accepted"],
                won=row["won"],
                median_seconds=medians.get(key),
            )
        )
    rows.sort(key=lambda r: (-r.leads, r.label))
    total = ReportRow(
        key="total",
        label=_("All"),
        leads=sum(r.leads for r in rows),
        qualified=sum(r.qualified for r in rows),
        accepted=sum(r.accepted for r in rows),
        won=sum(r.won for r in rows),
        median_seconds=overall,
    )
    return Report(since=since, until=until, by=by, rows=rows, total=total)
