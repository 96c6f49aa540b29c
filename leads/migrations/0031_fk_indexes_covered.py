"""Indexes that other indexes cover, dropped; a lead's activities newest first, ties by id.

Each of these foreign keys had an index of its own, while a composite index already leads
with the same column: `lead_pub_*` with the lead's publisher, `lead_owner_next_step` with its owner,
`activity_lead_latest` with
an activity's lead, `activity_campaign_occurred` with its campaign, `transition_lead_created`
with a transition's lead. PostgreSQL serves a lookup by the key (a cascade, a join) from
the composite index as well, so every lead, activity and transition written paid for an
index that no query needed. `activity_lead_latest` replaces `activity_lead_occurred` with
the id as the tie-break, so "the latest activity" (the CSV export's listing, delivery
payloads) and "the first" (the Reports rollup, read backwards) are the index's first entry,
without a sort per lead.

On PostgreSQL the indexes are built and dropped CONCURRENTLY (hence `atomic = False`):
intake keeps writing meanwhile. A build that fails leaves an INVALID index of that name:
drop it, then migrate again.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from portal.migration_ops import fk_indexes_create, fk_indexes_drop

LATEST = models.Index(fields=["lead", "-occurred_at", "-id"], name="activity_lead_latest")
OCCURRED = models.Index(fields=["lead", "-occurred_at"], name="activity_lead_occurred")
LATEST_COLUMNS = "(lead_id, occurred_at DESC, id DESC)"
OCCURRED_COLUMNS = "(lead_id, occurred_at DESC)"
# (table, column) whose single-column index a composite index makes redundant.
COVERED = (
    ("leads_lead", "publisher_id"),
    ("leads_lead", "owner_id"),
    ("leads_leadactivity", "lead_id"),
    ("leads_leadactivity", "campaign_id"),
    ("leads_leadtransition", "lead_id"),
)


def _forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS activity_lead_latest "
            f"ON leads_leadactivity {LATEST_COLUMNS}"
        )
        schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS activity_lead_occurred")
    else:
        activity = apps.get_model("leads", "LeadActivity")
        schema_editor.add_index(activity, LATEST)
        schema_editor.remove_index(activity, OCCURRED)
    fk_indexes_drop(schema_editor, COVERED)


def _backwards(apps, schema_editor):
    fk_indexes_create(schema_editor, COVERED)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS activity_lead_occurred "
            f"ON leads_leadactivity {OCCURRED_COLUMNS}"
        )
        schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS activity_lead_latest")
    else:
        activity = apps.get_model("leads", "LeadActivity")
        schema_editor.add_index(activity, OCCURRED)
        schema_editor.remove_index(activity, LATEST)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("leads", "0030_lead_co_sell_indexes"),
        ("portal", "0004_publisher_send_window"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(_forwards, _backwards)],
            state_operations=[
                migrations.RemoveIndex(model_name="leadactivity", name="activity_lead_occurred"),
                migrations.AlterField(
                    model_name="lead",
                    name="publisher",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="leads",
                        to="portal.publisher",
                        verbose_name="publisher",
                    ),
                ),
                migrations.AlterField(
                    model_name="lead",
                    name="owner",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="owned_leads",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="owner",
                    ),
                ),
                migrations.AlterField(
                    model_name="leadactivity",
                    name="campaign",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="activities",
                        to="leads.campaign",
                        verbose_name="campaign",
                    ),
                ),
                migrations.AlterField(
                    model_name="leadactivity",
                    name="lead",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="activities",
                        to="leads.lead",
                        verbose_name="lead",
                    ),
                ),
                migrations.AlterField(
                    model_name="leadtransition",
                    name="lead",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="transitions",
                        to="leads.lead",
                        verbose_name="lead",
                    ),
                ),
                migrations.AddIndex(model_name="leadactivity", index=LATEST),
            ],
        ),
    ]
