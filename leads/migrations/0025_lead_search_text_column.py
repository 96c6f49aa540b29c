"""The lead list's searchable text, stored (issue 17, the portal at a million leads).

`lead_search_trgm` (0021) indexed the expression `lp_lead_search_text(...)`, so every row
the index found had to compute it again to be rechecked, and every row an ordered walk of
`lead_pub_created` filtered had to compute it: `lp_unaccent` wraps a STABLE function and
cannot be inlined, about 30 µs a row, 0.1 to 0.6 s for a common word at 518,174 leads.
The text is now a stored generated column, `search_text`, with its own GIN trigram index:
a recheck or a filter is a `LIKE` on a stored string. PostgreSQL only (the SQLite
fallback searches the columns themselves); the column is not a model field: the search
reads it by name (`leads.lifecycle.search.SearchText`). Adding it rewrites the table under
an exclusive lock: about a minute at a million leads.
"""

from django.db import migrations

SEARCH_TEXT = "lp_lead_search_text(first_name, last_name, company, email_normalized)"
FORWARD = (
    f"ALTER TABLE leads_lead ADD COLUMN IF NOT EXISTS search_text text "
    f"GENERATED ALWAYS AS ({SEARCH_TEXT}) STORED",
    "CREATE INDEX IF NOT EXISTS lead_search_text_trgm ON leads_lead "
    "USING gin (search_text gin_trgm_ops)",
    "DROP INDEX IF EXISTS lead_search_trgm",
    # The planner estimates `LIKE '%word%'` from the column's histogram: with the default
    # 100 entries a word on 3 % of the rows matched none and was estimated at 0.01 %, so a
    # bitmap scan rechecked 25,000 rows instead of a walk of `lead_pub_created` stopping
    # after 51 matches. 2,000 entries estimate a common word within a few per cent.
    "ALTER TABLE leads_lead ALTER COLUMN search_text SET STATISTICS 2000",
    "ANALYZE leads_lead",
)
BACKWARD = (
    f"CREATE INDEX IF NOT EXISTS lead_search_trgm ON leads_lead "
    f"USING gin (({SEARCH_TEXT}) gin_trgm_ops)",
    "DROP INDEX IF EXISTS lead_search_text_trgm",
    "ALTER TABLE leads_lead DROP COLUMN IF EXISTS search_text",
)


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("leads", "0024_referral_sort_indexes")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
