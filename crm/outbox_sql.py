"""The outbox's two hot statements in PostgreSQL's own SQL
(docs/delivery.md#claims-and-records).

- `claim`: one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n)
  RETURNING …` takes a target's oldest due rows, counts their attempt and sets their
  lease: one round trip, no transaction block around it.
- `settle`: one `UPDATE … FROM (VALUES …) RETURNING id` records a batch's results,
  each row only if the attempt that wrote the VALUES still holds it (status `sending`
  and the same attempt count).

Only the PostgreSQL path lives here; crm.leases and crm.records keep an ORM path with
the same meaning for the embedded SQLite default (`make run`). Table and column names
come from the model; every value is a bound parameter.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from crm.models import Delivery

TABLE = Delivery._meta.db_table


def _columns() -> str:
    return ", ".join(f'd."{field.column}"' for field in Delivery._meta.concrete_fields)


def _cast(name: str) -> str:
    return Delivery._meta.get_field(name).db_type(connection)


def claim(*, target_id: int, limit: int, now: datetime, lease_until: datetime) -> list[Delivery]:
    """Claim up to `limit` due rows of the target in one statement, oldest due first:
    pending and due, or sending under a lease that ran out (crm.selectors.due_filter).
    Rows that another claim holds locked are skipped, never waited for."""
    sql = (
        f'UPDATE "{TABLE}" AS d SET status = %s, lease_until = %s, '  # noqa: S608
        "attempts = d.attempts + 1, updated_at = %s "
        f'WHERE d.id IN (SELECT c.id FROM "{TABLE}" AS c WHERE c.target_id = %s '
        "AND ((c.status = %s AND c.next_attempt_at <= %s) "
        "OR (c.status = %s AND c.lease_until < %s)) "
        "ORDER BY c.next_attempt_at, c.id LIMIT %s FOR UPDATE SKIP LOCKED) "
        f"RETURNING {_columns()}"
    )
    sending, pending = Delivery.Status.SENDING, Delivery.Status.PENDING
    params = [sending, lease_until, now, target_id, pending, now, sending, now, limit]
    rows = list(Delivery.objects.raw(sql, params))
    # RETURNING keeps no order: give them back as the subquery chose them.
    rows.sort(key=lambda row: (row.next_attempt_at is None, row.next_attempt_at, row.pk))
    return rows


@dataclass(frozen=True)
class Settlement:
    """What one attempt's result writes to its row (crm.records.settlement_for)."""

    delivery_id: int
    attempts: int  # the claim's count: the guard against a holder whose lease was taken
    status: str
    status_code: int | None
    error: str
    excerpt: str
    delivered_at: datetime | None = None  # None: unchanged
    next_attempt_at: datetime | None = None  # None: unchanged
    outcome: str | None = None  # an erasure's outcome; None: unchanged
    lookup_wiped: bool = False  # an erasure settled: its lookup becomes {}


_VALUES = [
    ("id", "bigint"),
    ("attempts", "attempts"),
    ("status", "status"),
    ("code", "last_status_code"),
    ("error", "last_error"),
    ("excerpt", "response_excerpt"),
    ("delivered_at", "delivered_at"),
    ("next_attempt_at", "next_attempt_at"),
    ("outcome", "outcome"),
    ("wiped", "boolean"),
    ("lookup", "lookup"),
]


def settle(*, settlements: list[Settlement], now: datetime) -> set[int]:
    """Write a batch's results in one statement; returns the ids written (a row that
    another worker took since, after its lease ran out, is left alone)."""
    if not settlements:
        return set()
    casts = [kind if kind in {"bigint", "boolean"} else _cast(kind) for _, kind in _VALUES]
    row = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
    wiped = Delivery._meta.get_field("lookup").get_prep_value({})
    params: list = []
    for s in settlements:
        params += [s.delivery_id, s.attempts, s.status, s.status_code, s.error, s.excerpt]
        params += [s.delivered_at, s.next_attempt_at, s.outcome, s.lookup_wiped]
        params.append(wiped if s.lookup_wiped else None)
    names = ", ".join(name for name, _ in _VALUES)
    sql = (
        f'UPDATE "{TABLE}" AS d SET status = v.status, last_status_code = v.code, '  # noqa: S608
        "last_error = v.error, response_excerpt = v.excerpt, lease_until = NULL, "
        "updated_at = %s, delivered_at = COALESCE(v.delivered_at, d.delivered_at), "
        "next_attempt_at = COALESCE(v.next_attempt_at, d.next_attempt_at), "
        "outcome = COALESCE(v.outcome, d.outcome), "
        "lookup = CASE WHEN v.wiped THEN v.lookup ELSE d.lookup END "
        f"FROM (VALUES {', '.join([row] * len(settlements))}) AS v({names}) "
        "WHERE d.id = v.id AND d.status = %s AND d.attempts = v.attempts RETURNING d.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, *params, Delivery.Status.SENDING])
        return {pk for (pk,) in cursor.fetchall()}
