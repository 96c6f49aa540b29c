"""Indexes for the portal's lead list and the dashboard rollup at a million leads.

PostgreSQL only (like 0002): `text_pattern_ops` and expression indexes serve the
prefix search (`UPPER(col) LIKE 'X%'`) and the name and last-activity sorts; the first
run's SQLite database has a few thousand leads and needs none of them. Measured in
docs/benchmarks.md (Portal): a prefix that matches nothing fell from 8 s to 0.2 ms, the
name and last-activity sorts from about 2 s to under 1 ms.
"""

from django.db import migrations

INDEXES = {
    "lead_pub_first_prefix": "leads_lead (publisher_id, UPPER(first_name) text_pattern_ops)",
    "lead_pub_last_prefix": "leads_lead (publisher_id, UPPER(last_name) text_pattern_ops)",
    "lead_pub_company_prefix": "leads_lead (publisher_id, UPPER(company) text_pattern_ops)",
    "lead_pub_name_sort": "leads_lead (publisher_id, LOWER(last_name), LOWER(first_name), id)",
    "lead_pub_activity_sort": (
        "leads_lead (publisher_id, COALESCE(last_activity_at, created_at) DESC, id DESC)"
    ),
    # The five-minute rollup: leads qualified on a day, moves to accepted on a day.
    "lead_qualified_at": "leads_lead (qualified_at) WHERE qualified_at IS NOT NULL",
    "transition_accepted_at": ("leads_leadtransition (created_at) WHERE to_status = 'accepted'"),
}


def _create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, definition in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")


def _drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("leads", "0007_nurture")]

    operations = [migrations.RunPython(_create, _drop)]
