"""The demo's leads written in bulk: COPY on PostgreSQL, batched INSERTs on SQLite.

A million leads through the intake service would take hours. Each chunk is one
transaction; lead ids are drawn first, so the activity, transition and delivery rows
of a chunk can point at their leads.
"""

import itertools
import json
import random
import time
import uuid
from collections import Counter
from datetime import datetime

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import JSONField
from psycopg import sql

from crm.models import Delivery
from demo.lead_rows import LeadContext, lead_generate
from leads.models import Lead, LeadActivity, LeadTransition

PROGRESS_EVERY = 100_000
LEAD_COLUMNS = (
    "id", "uuid", "publisher_id", "origin", "first_name", "last_name", "email",
    "email_normalized", "phone", "country", "company", "title", "score", "score_breakdown",
    "status", "marketing_consent", "marketing_consent_at", "is_test", "first_campaign_id",
    "latest_campaign_id", "qualified_at", "status_changed_at", "status_changed_by_id",
    "status_reason", "last_activity_at", "created_at", "updated_at", "storefronts",
)  # fmt: skip
ACTIVITY_COLUMNS = (
    "lead_id", "listing_id", "campaign_id", "storefront", "action_code", "lead_source",
    "description", "occurred_at", "is_test", "raw_payload", "created_at",
)  # fmt: skip
TRANSITION_COLUMNS = (
    "lead_id", "from_status", "to_status", "changed_by_id", "reason", "created_at",
)  # fmt: skip
DELIVERY_COLUMNS = (
    "lead_id", "target_id", "event", "status", "attempts", "next_attempt_at", "last_error",
    "last_status_code", "response_excerpt", "delivered_at", "idempotency_key", "created_at",
    "updated_at",
)  # fmt: skip


def _with_defaults(model, columns: tuple[str, ...], rows: list[tuple]) -> tuple:
    """Give every column the seed does not set its field's default, so that a field added
    to the model later does not break the bulk write."""
    extra_columns, extra_values = [], []
    for model_field in model._meta.concrete_fields:
        if model_field.column in columns or model_field.primary_key:
            continue
        # A text field without a default is "" in the ORM's own inserts: the same here.
        if model_field.has_default() or (
            model_field.empty_strings_allowed and not model_field.null
        ):
            default = model_field.get_default()
            extra_columns.append(model_field.column)
            extra_values.append(
                json.dumps(default) if isinstance(model_field, JSONField) else default
            )
        elif not (model_field.null or model_field.has_db_default()):
            raise ImproperlyConfigured(f"seed_demo sets no value for {model_field} (NOT NULL).")
    if not extra_columns:
        return columns, rows
    extra = tuple(extra_values)
    return (*columns, *extra_columns), [row + extra for row in rows]


class _CopyWriter:
    """PostgreSQL: lead ids drawn from the sequence, rows streamed through COPY."""

    def __init__(self, cursor):
        self.cursor = cursor

    def lead_ids(self, count: int) -> list[int]:
        self.cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [Lead._meta.db_table, count],
        )
        return [row[0] for row in self.cursor.fetchall()]

    def write(self, model, columns: tuple[str, ...], rows: list[tuple]) -> None:
        columns, rows = _with_defaults(model, columns, rows)
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(model._meta.db_table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        with self.cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)


class _InsertWriter:
    """SQLite (the first-run database): explicit ids, INSERTs in batches of 2,000."""

    BATCH = 2_000

    def __init__(self, cursor):
        self.cursor = cursor

    def lead_ids(self, count: int) -> list[int]:
        # The chunk's transaction holds SQLite's write lock, so no one else takes these ids.
        self.cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {Lead._meta.db_table}")  # noqa: S608
        first = self.cursor.fetchone()[0] + 1
        return list(range(first, first + count))

    def write(self, model, columns: tuple[str, ...], rows: list[tuple]) -> None:
        columns, rows = _with_defaults(model, columns, rows)
        table, placeholders = model._meta.db_table, ", ".join(["%s"] * len(columns))
        statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608
        for batch in itertools.batched(rows, self.BATCH):
            self.cursor.executemany(statement, [tuple(map(self._adapt, row)) for row in batch])

    @staticmethod
    def _adapt(value):
        if isinstance(value, datetime):
            return connection.ops.adapt_datetimefield_value(value)
        if isinstance(value, uuid.UUID):
            return value.hex  # how UUIDField stores it without a native type
        return value


def leads_write(*, context: LeadContext, start: int, count: int, progress) -> Counter:
    """Write `count` leads from index `start`, one transaction per chunk, reporting progress."""
    chunk_size = 20_000 if connection.vendor == "postgresql" else 2_000
    written: Counter = Counter()
    started, next_report = time.monotonic(), PROGRESS_EVERY
    for chunk_start in range(start, start + count, chunk_size):
        size = min(chunk_size, start + count - chunk_start)
        written.update(_chunk_write(context=context, start=chunk_start, count=size))
        done = chunk_start + size - start
        if done >= next_report or done == count:
            progress(done, count, time.monotonic() - started)
            next_report = (done // PROGRESS_EVERY + 1) * PROGRESS_EVERY
    return written


@transaction.atomic
def _chunk_write(*, context: LeadContext, start: int, count: int) -> Counter:
    rng = random.Random(f"lead-portal-demo:{start}")  # noqa: S311 (demo data, not secrets)
    leads, activities, transitions, deliveries = [], [], [], []
    with connection.cursor() as cursor:
        writer = _CopyWriter(cursor) if connection.vendor == "postgresql" else _InsertWriter(cursor)
        for offset, lead_id in enumerate(writer.lead_ids(count)):
            lead, lead_activities, moves, delivery = lead_generate(
                context, rng, lead_id, start + offset
            )
            leads.append(lead)
            activities.extend(lead_activities)
            transitions.extend(moves)
            if delivery:
                deliveries.append(delivery)
        writer.write(Lead, LEAD_COLUMNS, leads)
        # Seeded history is not news: no new-lead email announces it (docs/notifications.md).
        writer.write(
            LeadActivity,
            (*ACTIVITY_COLUMNS, "notification_pending"),
            [(*row, False) for row in activities],
        )
        writer.write(LeadTransition, TRANSITION_COLUMNS, transitions)
        writer.write(Delivery, DELIVERY_COLUMNS, deliveries)
    return Counter(
        {
            "leads": len(leads),
            "lead activities": len(activities),
            "lead transitions": len(transitions),
            "deliveries": len(deliveries),
        }
    )
