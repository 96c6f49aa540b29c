"""The outbox's own indexes of its lead and target, dropped: `delivery_lead_created` and
`delivery_target_created` lead with those columns and serve the same lookups, so every
outbox row written paid for two indexes that no query needed (leads/0031 does the same
for leads, activities and transitions). Dropped CONCURRENTLY on PostgreSQL: the outbox
takes inserts and status updates all the time (hence `atomic = False`)."""

import django.db.models.deletion
from django.db import migrations, models

from portal.migration_ops import fk_indexes_create, fk_indexes_drop

COVERED = (("crm_delivery", "lead_id"), ("crm_delivery", "target_id"))


def _forwards(apps, schema_editor):
    fk_indexes_drop(schema_editor, COVERED)


def _backwards(apps, schema_editor):
    fk_indexes_create(schema_editor, COVERED)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("crm", "0005_delivery_target_event_index"),
        ("leads", "0031_fk_indexes_covered"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(_forwards, _backwards)],
            state_operations=[
                migrations.AlterField(
                    model_name="delivery",
                    name="lead",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        help_text="Empty for a synthetic test lead.",
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="leads.lead",
                        verbose_name="lead",
                    ),
                ),
                migrations.AlterField(
                    model_name="delivery",
                    name="target",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="crm.crmtarget",
                        verbose_name="target",
                    ),
                ),
            ],
        ),
    ]
