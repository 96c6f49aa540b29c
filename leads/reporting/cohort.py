"""The Reports page's rollup: cohort figures per publisher, day and first activity.

The report (leads.reporting.report) follows the leads created in a period by how far each
has gone since, so a day's figures change long after the day: a status moves, an activity
or a first touch arrives, two leads are merged, a lead is erased. `LeadCohortStat` holds,
per publisher, cohort day (settings.TIME_ZONE) and first activity's listing, storefront
and action code: the leads, the qualified, accepted and won among them, and on PostgreSQL
`touch_seconds`, every touched lead's seconds to its first touch (the median stays exact).

Which days to recompute: PostgreSQL triggers (migration 0026) write a `LeadCohortDirty`
row (the lead's publisher and creation time) whenever a lead is inserted or deleted, or
its status, `qualified_at`, origin, test flag, publisher or creation time change, whenever
an activity becomes, or stops being, a lead's first, and whenever a person's transition
does the same for its first touch. The rollup task (every five minutes) takes those rows
and recomputes their days whole in one set-based statement; the report reads the stored
rows of the other days and counts the days still listed live, with the same SQL. So the
page is always exactly the live computation, with no zeros while a rollup is pending.

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

QUALIFIED = (LeadStatus.QUALIFIED, LeadStatus.ACCEPTED, LeadStatus.WON, LeadStatus.LOST)
ACCEPTED = (LeadStatus.ACCEPTED, LeadStatus.WON, LeadStatus.LOST)

COLUMNS = "listing_id, storefront, action_code, leads, qualified, accepted, won, touch_seconds"

# The cohort's leads, one row per (publisher, day, first activity's keys), for the leads
# that `{where}` keeps (`l` is the lead). The first activity and the first touch are
# found through `activity_lead_occurred` and `transition_lead_created`, one probe each.
_GROUPED = """
SELECT l.publisher_id,
       (l.created_at AT TIME ZONE %(tz)s)::date AS day,
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
GROUP BY 1, 2, 3, 4, 5
"""

# The leads of the given (publisher, day) pairs: each day's bounds are local midnights.
_DAYS_JOIN = """
JOIN unnest(%(pairs_publisher)s::bigint[], %(pairs_day)s::date[]) AS d(publisher_id, day)
  ON l.publisher_id = d.publisher_id
 AND l.created_at >= (d.day::timestamp AT TIME ZONE %(tz)s)
 AND l.created_at < ((d.day + 1)::timestamp AT TIME ZONE %(tz)s)
"""


def _params(**extra) -> dict:
    return {
        "tz": settings.TIME_ZONE,
        "qualified": list(QUALIFIED),
        "accepted": list(ACCEPTED),
        "won": LeadStatus.WON,
        "marketplace": LeadOrigin.MARKETPLACE,
        **extra,
    }


# The days of one publisher's period still listed to recompute (`pending`), and their
# cohort rows counted now (`live`): the report's live part, with the rollup's own query.
_PENDING = """
pending AS (
    SELECT DISTINCT (created_at AT TIME ZONE %(tz)s)::date AS day FROM leads_leadcohortdirty
    WHERE publisher_id = %(publisher)s
      AND created_at >= (%(since)s::timestamp AT TIME ZONE %(tz)s)
      AND created_at < ((%(until)s::date + 1)::timestamp AT TIME ZONE %(tz)s)
),
live AS ({grouped})
"""
_PENDING_JOIN = """
JOIN pending d
  ON l.publisher_id = %(publisher)s
 AND l.created_at >= (d.day::timestamp AT TIME ZONE %(tz)s)
 AND l.created_at < ((d.day + 1)::timestamp AT TIME ZONE %(tz)s)
"""


def pending_ctes(*, publisher_id: int, since: date, until: date) -> tuple[str, dict]:
    """The common table expressions `pending` (the period's days the rollup has yet to
    recompute) and `live` (their cohort rows, counted now), with their parameters."""
    sql = _PENDING.format(grouped=_GROUPED.format(join=_PENDING_JOIN, where=""))
    return sql, _params(publisher=publisher_id, since=since, until=until)


def _recompute(cursor, pairs: list[tuple[int, date]]) -> int:
    """Replace the stored rows of the (publisher, day) pairs with fresh counts."""
    if not pairs:
        return 0
    params = _params(pairs_publisher=[p for p, _d in pairs], pairs_day=[d for _p, d in pairs])
    cursor.execute(
        "DELETE FROM leads_leadcohortstat s USING unnest(%(pairs_publisher)s::bigint[], "
        "%(pairs_day)s::date[]) AS d(publisher_id, day) "
        "WHERE s.publisher_id = d.publisher_id AND s.day = d.day",
        params,
    )
    cursor.execute(
        f"INSERT INTO leads_leadcohortstat (publisher_id, day, {COLUMNS}) "
        + _GROUPED.format(join=_DAYS_JOIN, where=""),
        params,
    )
    return cursor.rowcount


def _locked(cursor) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])


@transaction.atomic
def cohort_rollup_dirty() -> int:
    """Recompute the cohort days the triggers listed since the last run (the beat task):
    rows that commit meanwhile are left to the next run. Returns the days recomputed."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        _locked(cursor)
        cursor.execute(
            "WITH gone AS (DELETE FROM leads_leadcohortdirty RETURNING publisher_id, created_at) "
            "SELECT DISTINCT publisher_id, (created_at AT TIME ZONE %s)::date FROM gone",
            [settings.TIME_ZONE],
        )
        pairs = [(publisher_id, day) for publisher_id, day in cursor.fetchall()]
        rows = _recompute(cursor, pairs)
    logger.info("leads.cohort_rollup.done", extra={"days": len(pairs), "rows": rows})
    return len(pairs)


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
            f"INSERT INTO leads_leadcohortstat (publisher_id, day, {COLUMNS}) "
            + _GROUPED.format(join="", where=where),
            params,
        )
        rows = cursor.rowcount
    logger.info("leads.cohort_rollup.all", extra={"rows": rows})
    return rows
