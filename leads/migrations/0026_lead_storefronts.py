"""The lead's storefronts, stored on the lead (issue 17, the lead list at a million leads).

The list's storefront filter was an `EXISTS` on the lead's activities, probed for every
lead the page's index walk met (95–257 ms for the filtered list at 518,174 leads). Now
`storefronts` holds one bit per storefront the lead has an activity on (AppSource 1,
Azure Marketplace 2: `leads.catalog.storefronts.STOREFRONT_BITS`, frozen here), and the
filter is `storefronts IN (…)`, a condition on the row the list's indexes already walk;
its count is an index-only scan of `lead_pub_storefront_status` (storefronts, publisher,
origin, status, score; leads not merged away).

Adding the column with a constant default is a catalogue change (no rewrite); the backfill
is one UPDATE … FROM an aggregate of the activities (a hash aggregate and a hash join on
PostgreSQL), then ANALYZE gives the planner the column's statistics. Timed in
docs/benchmarks.md (the lead list under 100 ms).
"""

from django.db import migrations, models
from django.db.models import Case, Exists, OuterRef, Value, When

BITS = {"appsource": 1, "azure-marketplace": 2}

BACKFILL = """
UPDATE leads_lead AS lead SET storefronts = found.mask
FROM (
    SELECT lead_id, bit_or(CASE storefront {cases} ELSE 0 END)::smallint AS mask
    FROM leads_leadactivity GROUP BY lead_id
) AS found
WHERE lead.id = found.lead_id AND lead.storefronts <> found.mask
""".format(  # noqa: S608  the names and bits are the constants above
    cases=" ".join(f"WHEN '{name}' THEN {bit}" for name, bit in BITS.items())
)


def backfill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKFILL)
        schema_editor.execute("ANALYZE leads_lead")
        return
    lead_model = apps.get_model("leads", "Lead")
    activity_model = apps.get_model("leads", "LeadActivity")
    mask = Value(0)
    for name, bit in BITS.items():
        has_one = Exists(activity_model.objects.filter(lead=OuterRef("pk"), storefront=name))
        mask = mask + Case(When(has_one, then=Value(bit)), default=Value(0))
    lead_model.objects.update(storefronts=mask)


class Migration(migrations.Migration):
    dependencies = [("leads", "0025_lead_search_text_column")]

    operations = [
        migrations.AddField(
            model_name="lead",
            name="storefronts",
            field=models.PositiveSmallIntegerField(
                db_default=0, default=0, editable=False, verbose_name="storefronts"
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        # Built after the backfill: one sort of the final values, not an update per row.
        migrations.AddIndex(
            model_name="lead",
            index=models.Index(
                condition=models.Q(merged_into__isnull=True),
                fields=["storefronts", "publisher", "origin", "status", "score"],
                name="lead_pub_storefront_status",
            ),
        ),
    ]
