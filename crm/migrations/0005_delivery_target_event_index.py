"""An index for the deliveries list filtered by an event: (target, event, newest first).

The list walks each target's rows newest first (`delivery_target_created`); under an event
filter that walk read every row of the target to find a few test leads or erasures. On
PostgreSQL the index is built CONCURRENTLY: the outbox takes inserts and status updates
all the time, and a plain CREATE INDEX would hold them for the build (seconds at two
million deliveries). Hence `atomic = False`. A build that fails leaves an INVALID index
of that name: drop it, then migrate again.
"""

from django.db import migrations, models

NAME = "delivery_target_event_created"
INDEX = models.Index(fields=["target", "event", "-created_at", "-id"], name=NAME)


def _create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME} ON crm_delivery "
            "(target_id, event, created_at DESC, id DESC)"
        )
    else:
        schema_editor.add_index(apps.get_model("crm", "Delivery"), INDEX)


def _drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")
    else:
        schema_editor.remove_index(apps.get_model("crm", "Delivery"), INDEX)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("crm", "0004_erasure_deliveries")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="delivery", index=INDEX)],
            database_operations=[migrations.RunPython(_create, _drop)],
        )
    ]
