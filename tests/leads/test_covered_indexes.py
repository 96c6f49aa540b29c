"""leads/0031 and crm/0006: a foreign key whose own index a composite index covers has
none, and `activity_lead_latest` orders a lead's activities newest first, ties by id."""

import csv
import io

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

from tests.factories import make_activity, make_lead, make_listing

COVERED = (
    ("leads_lead", "publisher_id"),
    ("leads_lead", "owner_id"),
    ("leads_leadactivity", "lead_id"),
    ("leads_leadactivity", "campaign_id"),
    ("leads_leadtransition", "lead_id"),
    ("crm_delivery", "lead_id"),
    ("crm_delivery", "target_id"),
)
# Both databases: the migration has a PostgreSQL path (concurrently) and a portable one.
pytestmark = pytest.mark.sqlite

BEFORE = [("leads", "0030_lead_co_sell_indexes"), ("crm", "0005_delivery_target_event_index")]


def _indexes(table: str) -> dict[str, dict]:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
    return {name: index for name, index in found.items() if index["index"]}


def _own_index(table: str, column: str) -> list[str]:
    """The plain indexes of `column` alone."""
    return [
        name
        for name, index in _indexes(table).items()
        if index["columns"] == [column] and not index["unique"] and not index["primary_key"]
    ]


def _leads_first(table: str, column: str) -> list[str]:
    """The indexes whose first column is `column` and that have more than one."""
    return [
        name
        for name, index in _indexes(table).items()
        if index["columns"][:1] == [column] and len(index["columns"]) > 1
    ]


@pytest.mark.django_db
def test_every_covered_key_has_no_index_of_its_own_but_a_composite_one():
    for table, column in COVERED:
        assert _own_index(table, column) == [], (table, column)
        assert _leads_first(table, column), (table, column)
    latest = _indexes("leads_leadactivity")["activity_lead_latest"]
    assert latest["columns"] == ["lead_id", "occurred_at", "id"]
    if connection.vendor == "postgresql":
        assert latest["orders"] == ["ASC", "DESC", "DESC"]
    assert "activity_lead_occurred" not in _indexes("leads_leadactivity")


@pytest.mark.django_db(transaction=True)
def test_the_migrations_go_back_and_forth():
    # Given the schema migrated back to before the two migrations
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)

    # Then each key has its own index again, and the activities their former index
    for table, column in COVERED:
        assert len(_own_index(table, column)) == 1, (table, column)
    indexes = _indexes("leads_leadactivity")
    assert "activity_lead_occurred" in indexes
    assert "activity_lead_latest" not in indexes

    # When it is migrated forward again
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    # Then the covered indexes are gone and the new one is there
    for table, column in COVERED:
        assert _own_index(table, column) == [], (table, column)
    assert "activity_lead_latest" in _indexes("leads_leadactivity")


@pytest.mark.django_db
def test_the_exports_latest_listing_breaks_a_tie_by_the_later_activity(publisher, owner):
    # Given two activities of one lead at the same moment, on two listings
    lead = make_lead(publisher=publisher)
    older = make_activity(lead=lead, listing=make_listing(publisher=publisher, name="First"))
    make_activity(
        lead=lead,
        listing=make_listing(publisher=publisher, name="Second"),
        occurred_at=older.occurred_at,
    )
    client = Client()
    client.force_login(owner)

    # When the owner exports the leads
    response = client.get(reverse("leads-export"))
    body = b"".join(response.streaming_content).decode("utf-8")

    # Then the latest listing is the later activity's
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"), newline="")))
    assert [row["Latest listing"] for row in rows] == ["Second"]
