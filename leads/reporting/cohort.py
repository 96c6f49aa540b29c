"""The Reports page's rollup: cohort figures per publisher, hour and first activity.

The report (leads.reporting.report) follows the leads created in a period by how far each
has gone since, so a day's figures change long after the day: a status moves, an activity
or a first touch arrives, two leads are merged, a lead is erased. `LeadCohortStat` holds,
per publisher, cohort day and hour (settings.TIME_ZONE) and first activity's listing,
storefront and action code: the leads, the qualified, accepted and won among them, and on PostgreSQL
`touch_seconds`, every touched lead's seconds to its first touch (the median stays exact).

Which days to recompute: PostgreSQL triggers (migration 0026) write a `LeadCohortDirty`
row (the lead's publisher and creation time) whenever a lead is inserted or deleted, or
its status, `qualified_at`, origin, test flag, publisher or creation time change, whenever
an activity becomes, or stops being, a lead's first, and whenever a person's transition
does the same for its first touch. The rollup task (every five minutes) takes those rows
and recomputes their hours whole in one set-based statement: a change recounts one hour's
leads, not a day's. The report reads the stored rows and counts live, with the same SQL,
the listed hours of the last two days and those never rolled up (new leads: never a
zero while a rollup is pending); an older listed hour already rolled up (a status change
on an old lead) is read as stored, at most one beat run behind, unless the rollup is
late, when every listed hour is counted live. After each run the page is exactly the
live computation.

PostgreSQL only: on SQLite the report is counted live (leads.reporting.report).
"""

import logging
from collections.abc import Iterable
from datetime import date

from django.conf import settings
from django.db import connection, transaction

from leads.lifecycle.models import LeadOrigin, LeadStatus

logger = logging.getLogger(__name__)

# Serializes concurrent cohort rollups (beat overlap, a backfill).
ADVISORY_LOCK_KEY = 0x4C50434F  # "LPCO"

# The hours the page counts live when listed: those of the local days since 48 hours ago
# (new leads, their first activities and touches). Older listed hours are read as stored,
# at most one beat run behind, unless the rollup is late (then every one is counted live).
LIVE_HOURS = 48
STALE_AFTER = "12 minutes"  # as the dashboard's (leads.reporting.selectors)

QUALIFIED = (LeadStatus.QUALIFIED, LeadStatus.ACCEPTED, LeadStatus.WON, LeadStatus.LOST)
ACCEPTED = (LeadStatus.ACCEPTED, LeadStatus.WON, LeadStatus.LOST)

COLUMNS = "listing_id, storefront, action_code, leads, qualified, accepted, won, touch_seconds"

# The cohort's leads, one row per (publisher, day, hour, first activity's keys), for those
# that `{where}` keeps (`l` is the lead). The first activity and the first touch are
# found through `activity_lead_latest` (read backwards) and `transition_lead_created`, one
# probe each.
_GROUPED = """
SELECT l.publisher_id,
       (l.created_at AT TIME ZONE %(tz)s)::date AS day,
       extract(hour FROM l.created_at AT TIME ZONE %(tz)s)::int AS hour,
       fa.listing_id,
       COALESCE(fa.storefront, '') AS storefront,
       COALESCE(fa.action_code, '') AS action_code,
       count(*) AS leads,
       count(*) FILTER (WHERE l.qualified_at IS NOT NULL OR l.status = ANY(%(qualified)s))
           AS qualified,
       count(*) FILTER (WHERE l.status = ANY(%(accepted)s)) AS accepted,
       count(*) FILTER (WHERE l.status = %(won)s) AS won,
       COALESCE(
           array_agg(EXTRACT(EPOCH FROM (ft.created_at - l.created_at))::double precision)
               FILTER (WHERE ft.created_at IS NOT NULL),
           '{{}}'
       ) AS touch_seconds
FROM leads_lead l
{join}
LEFT JOIN LATERAL (
    SELECT a.listing_id, a.storefront, a.action_code FROM leads_leadactivity a
    WHERE a.lead_id = l.id ORDER BY a.occurred_at, a.id LIMIT 1
) fa ON true
LEFT JOIN LATERAL (
    SELECT t.created_at FROM leads_leadtransition t
    WHERE t.lead_id = l.id AND t.changed_by_id IS NOT NULL ORDER BY t.created_at, t.id LIMIT 1
) ft ON true
WHERE l.origin = %(marketplace)s AND NOT l.is_test {where}
GROUP BY 1, 2, 3, 4, 5, 6
"""

# A cohort hour's local start, and the leads created in it: found through `lead_pub_created`
# within a range wide enough for any offset change, then kept by their local hour (so an
# hour repeated when clocks go back is counted whole).
_HOUR_START = "(d.day + d.hour * interval '1 hour')"
_IN_HOUR = f"""
  ON l.publisher_id = {{publisher}}
 AND l.created_at >= ({_HOUR_START} AT TIME ZONE %(tz)s) - interval '3 hours'
 AND l.created_at < ({_HOUR_START} AT TIME ZONE %(tz)s) + interval '4 hours'
 AND date_trunc('hour', l.created_at AT TIME ZONE %(tz)s) = {_HOUR_START}
"""
# The leads of the given (publisher, day, hour) triples.
_HOURS_JOIN = (
    "JOIN unnest(%(hours_publisher)s::bigint[], %(hours_day)s::date[], %(hours_hour)s::int[]) "
    "AS d(publisher_id, day, hour)" + _IN_HOUR.format(publisher="d.publisher_id")
)


def _params(**extra) -> dict:
    return {
        "tz": settings.TIME_ZONE,
        "qualified": list(QUALIFIED),
        "accepted": list(ACCEPTED),
        "won": LeadStatus.WON,
        "marketplace": LeadOrigin.MARKETPLACE,
        **extra,
    }


# The publisher's cohort hours of the period still listed to recompute (`listed`), and
# those counted live (`pending`): the hours of the last LIVE_HOURS, the hours never rolled
# up (no stored row), or all of them when the beat rollup is late (more than STALE_AFTER
# behind) or never ran. `live` is their cohort rows counted now, with the rollup's query.
_PENDING = """
listed AS (
    SELECT DISTINCT (created_at AT TIME ZONE %(tz)s)::date AS day,
           extract(hour FROM created_at AT TIME ZONE %(tz)s)::int AS hour
    FROM leads_leadcohortdirty
    WHERE publisher_id = %(publisher)s
      AND created_at >= (%(since)s::timestamp AT TIME ZONE %(tz)s) - interval '3 hours'
      AND created_at < ((%(until)s::date + 1)::timestamp AT TIME ZONE %(tz)s) + interval '4 hours'
      AND (created_at AT TIME ZONE %(tz)s)::date BETWEEN %(since)s AND %(until)s
),
pending AS (
    SELECT day, hour FROM listed
    WHERE day >= (now() AT TIME ZONE %(tz)s - %(live_hours)s * interval '1 hour')::date
       OR NOT EXISTS (
           SELECT 1 FROM leads_leadrollupstate
           WHERE id = 1 AND current_through >= now() - %(stale_after)s::interval)
       OR NOT EXISTS (
           SELECT 1 FROM leads_leadcohortstat s WHERE s.publisher_id = %(publisher)s
           AND s.day = listed.day AND s.hour = listed.hour)
),
live AS ({grouped})
"""


def pending_ctes(*, publisher_id: int, since: date, until: date) -> tuple[str, dict]:
    """The common table expressions `pending` (the period's recent hours the rollup has yet
    to recompute) and `live` (their cohort rows, counted now), with their parameters."""
    join = "JOIN pending d" + _IN_HOUR.format(publisher="%(publisher)s")
    sql = _PENDING.format(grouped=_GROUPED.format(join=join, where=""))
    return sql, _params(
        publisher=publisher_id,
        since=since,
        until=until,
        live_hours=LIVE_HOURS,
        stale_after=STALE_AFTER,
    )


def _recompute(cursor, hours: list[tuple[int, date, int]]) -> int:
    """Replace the stored rows of the (publisher, day, hour) triples with fresh counts."""
    if not hours:
        return 0
    params = _params(
        hours_publisher=[p for p, _d, _h in hours],
        hours_day=[d for _p, d, _h in hours],
        hours_hour=[h for _p, _d, h in hours],
    )
    cursor.execute(
        "DELETE FROM leads_leadcohortstat s USING unnest(%(hours_publisher)s::bigint[], "
        "%(hours_day)s::date[], %(hours_hour)s::int[]) AS d(publisher_id, day, hour) "
        "WHERE s.publisher_id = d.publisher_id AND s.day = d.day AND s.hour = d.hour",
        params,
    )
    cursor.execute(
        f"INSERT INTO leads_leadcohortstat (publisher_id, day, hour, {COLUMNS}) "
        + _GROUPED.format(join=_HOURS_JOIN, where=""),
        params,
    )
    return cursor.rowcount


def _locked(cursor) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])


@transaction.atomic
def cohort_rollup_dirty() -> int:
    """Recompute the cohort hours the triggers listed since the last run (the beat task):
    rows that commit meanwhile are left to the next run. Returns the hours recomputed."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        _locked(cursor)
        cursor.execute(
            "WITH gone AS (DELETE FROM leads_leadcohortdirty RETURNING publisher_id, created_at) "
            "SELECT DISTINCT publisher_id, (created_at AT TIME ZONE %(tz)s)::date, "
            "extract(hour FROM created_at AT TIME ZONE %(tz)s)::int FROM gone",
            {"tz": settings.TIME_ZONE},
        )
        hours = cursor.fetchall()
        rows = _recompute(cursor, hours)
    logger.info("leads.cohort_rollup.done", extra={"hours": len(hours), "rows": rows})
    return len(hours)


@transaction.atomic
def cohort_rollup_all(*, publisher_ids: Iterable[int] | None = None) -> int:
    """Recompute every cohort day (of the given publishers, else of all): what `migrate`
    (0026) and `seed_demo` run. One statement; idempotent. Returns the rows written."""
    if connection.vendor != "postgresql":
        return 0
    publisher_ids = None if publisher_ids is None else list(publisher_ids)
    with connection.cursor() as cursor:
        _locked(cursor)
        if publisher_ids is None:
            cursor.execute("DELETE FROM leads_leadcohortdirty")
            cursor.execute("DELETE FROM leads_leadcohortstat")
            where, params = "", _params()
        else:
            scope = {"publishers": publisher_ids}
            cursor.execute(
                "DELETE FROM leads_leadcohortdirty WHERE publisher_id = ANY(%(publishers)s)", scope
            )
            cursor.execute(
                "DELETE FROM leads_leadcohortstat WHERE publisher_id = ANY(%(publishers)s)", scope
            )
            where, params = "AND l.publisher_id = ANY(%(publishers)s)", _params(**scope)
        cursor.execute(
            f"INSERT INTO leads_leadcohortstat (publisher_id, day, hour, {COLUMNS}) "
            + _GROUPED.format(join="", where=where),
            params,
        )
        rows = cursor.rowcount
    logger.info("leads.cohort_rollup.all", extra={"rows": rows})
    return rows
