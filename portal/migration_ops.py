"""Steps that migrations share: a foreign key's own index dropped or built again, under the
name Django gives it, concurrently on PostgreSQL (the migration sets `atomic = False`).

Migrations import this module by name, so what it does must not change: write a new
function rather than change one that a migration uses.
"""


def _concurrently(schema_editor) -> str:
    return "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""


def fk_indexes_drop(schema_editor, covered) -> None:
    """Drop the own index of each (table, column) in `covered`, if it is there."""
    for table, column in covered:
        name = schema_editor._create_index_name(table, [column], suffix="")
        schema_editor.execute(
            f"DROP INDEX {_concurrently(schema_editor)}IF EXISTS {schema_editor.quote_name(name)}"
        )


def fk_indexes_create(schema_editor, covered) -> None:
    """Build the own index of each (table, column) in `covered` again, if it is not there."""
    quote = schema_editor.quote_name
    for table, column in covered:
        name = schema_editor._create_index_name(table, [column], suffix="")
        schema_editor.execute(
            f"CREATE INDEX {_concurrently(schema_editor)}IF NOT EXISTS {quote(name)} "
            f"ON {quote(table)} ({quote(column)})"
        )
