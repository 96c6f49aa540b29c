"""Accent- and case-insensitive search of the lead list (issue 15, the list).

PostgreSQL only: the `unaccent` and `pg_trgm` extensions, an IMMUTABLE wrapper of
unaccent (the extension's own function is only STABLE, so it cannot be indexed), the
function that builds a lead's searchable text, and a GIN trigram index on it. The list's
search (`leads.lifecycle.search`) filters on exactly `lp_lead_search_text(...)`, so a
`LIKE '%term%'` is an index lookup. The extension operations and `_create` do nothing on
SQLite, whose fallback needs no index.
"""

from django.contrib.postgres.operations import TrigramExtension, UnaccentExtension
from django.db import migrations

FUNCTIONS = (
    # The dictionary is named, so the function does not depend on search_path (IMMUTABLE
    # must hold for the index to be trusted).
    """
    CREATE OR REPLACE FUNCTION lp_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$
    """,
    # First and last name, company and the email's domain, lower-cased and unaccented.
    # Schema-qualified, as pg_restore rebuilds the index with an empty search_path (a
    # `SET search_path` on the function would stop the planner from inlining it).
    """
    CREATE OR REPLACE FUNCTION lp_lead_search_text(text, text, text, text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT lower(public.lp_unaccent(
        coalesce($1, '') || ' ' || coalesce($2, '') || ' ' || coalesce($3, '') || ' '
        || split_part(coalesce($4, ''), '@', 2))) $$
    """,
)
INDEX = (
    "CREATE INDEX IF NOT EXISTS lead_search_trgm ON leads_lead USING gin "
    "(lp_lead_search_text(first_name, last_name, company, email_normalized) gin_trgm_ops)"
)


def _create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in FUNCTIONS:
        schema_editor.execute(statement)
    schema_editor.execute(INDEX)


def _drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS lead_search_trgm")
    schema_editor.execute("DROP FUNCTION IF EXISTS lp_lead_search_text(text, text, text, text)")
    schema_editor.execute("DROP FUNCTION IF EXISTS lp_unaccent(text)")


class Migration(migrations.Migration):
    dependencies = [("leads", "0020_lead_owner_notes_next_step_merge")]

    operations = [
        UnaccentExtension(),
        TrigramExtension(),
        migrations.RunPython(_create, _drop),
    ]
