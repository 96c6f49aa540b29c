"""Indexes for the Co-Sell list: a publisher's referral leads by time, by status, searched.

The list filtered `origin = 'co-sell'` while walking the publisher's index of all leads, so
at a million marketplace leads and 100,000 referrals a status that no referral had read
every marketplace row of that status (3.0 s), and a search walked the publisher's leads
by time (0.9 to 1.8 s; docs/benchmarks.md). These are partial indexes of the Co-Sell rows
only, so they stay small. On PostgreSQL they are built CONCURRENTLY (hence `atomic =
False`): intake keeps writing leads meanwhile. A build that fails leaves an INVALID index
of that name: drop it, then migrate again. The trigram index is PostgreSQL's only, like
the search column.
"""

from django.db import migrations, models

CO_SELL = models.Q(origin="co-sell")
CO_SELL_INDEXES = (
    models.Index(
        fields=["publisher", "-created_at", "-id"], name="lead_cosell_created", condition=CO_SELL
    ),
    models.Index(
        fields=["publisher", "status", "-created_at", "-id"],
        name="lead_cosell_status_created",
        condition=CO_SELL,
    ),
)

SEARCH = "lead_cosell_search_trgm"
COLUMNS = {
    "lead_cosell_created": "(publisher_id, created_at DESC, id DESC)",
    "lead_cosell_status_created": "(publisher_id, status, created_at DESC, id DESC)",
    SEARCH: "USING gin (publisher_id, search_text gin_trgm_ops)",
}


def _create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        for index in CO_SELL_INDEXES:
            schema_editor.add_index(apps.get_model("leads", "Lead"), index)
        return
    for name, columns in COLUMNS.items():
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON leads_lead {columns} "
            "WHERE origin = 'co-sell'"
        )


def _drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        for index in CO_SELL_INDEXES:
            schema_editor.remove_index(apps.get_model("leads", "Lead"), index)
        return
    for name in COLUMNS:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("leads", "0029_lead_publisher_search_index")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(model_name="lead", index=index) for index in CO_SELL_INDEXES
            ],
            database_operations=[migrations.RunPython(_create, _drop)],
        )
    ]
