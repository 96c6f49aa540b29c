"""The search's trigram index leads with the publisher (btree_gin).

At a million leads of one publisher, a common word's count (`LIMIT 1001`) ANDed the
trigram bitmap of every publisher's matches with a bitmap of the publisher's million rows
from a btree index: 82 ms of the 93 ms the count took (docs/benchmarks.md). With
`(publisher_id, search_text gin_trgm_ops)` one bitmap holds only the publisher's matches.
It replaces `lead_search_text_trgm`: every search is one publisher's. PostgreSQL only,
like the column; building it reads the whole table (about a minute at a million leads;
writes wait meanwhile).
"""

from django.contrib.postgres.operations import BtreeGinExtension
from django.db import migrations

FORWARD = (
    "CREATE INDEX IF NOT EXISTS lead_pub_search_trgm ON leads_lead "
    "USING gin (publisher_id, search_text gin_trgm_ops)",
    "DROP INDEX IF EXISTS lead_search_text_trgm",
)
BACKWARD = (
    "CREATE INDEX IF NOT EXISTS lead_search_text_trgm ON leads_lead "
    "USING gin (search_text gin_trgm_ops)",
    "DROP INDEX IF EXISTS lead_pub_search_trgm",
)


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("leads", "0028_referral_value_sort_ends")]

    operations = [BtreeGinExtension(), migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
