"""Intake's set-based writes on PostgreSQL: every raw statement of its write path.

Each function writes a whole batch in one statement whose text does not depend on the
batch's size: the rows travel as one JSON document (a list of rows, each a list of
column values), written by the json module's C encoder, and `jsonb_array_elements`
turns it back into rows, in order, each value cast to its column's type. psycopg binds
one parameter instead of one per column and row (no splitting of a huge statement, no
Python-level dumping of an array per column), and PostgreSQL plans one short statement.
A batch of one row binds its values as scalars (`SELECT %b::type, …`) instead.

The values are read from the model instances the batch built, as they are: no field's
`get_db_prep_save` runs per value. Each column's type is its field's own database type;
JSON values are wrapped for psycopg (in the document, in a one-element array, so that
SQL NULL and JSON null differ); a foreign key whose object was saved after the row was
built (a lead inserted in the same batch) takes its id. Identifiers come from the
models' metadata; every value is a bound parameter.

The reads of the write path are here too, so that no ORM query is built per request: the
stored answers of a batch's external ids, and the batch's leads locked FOR UPDATE.

The portable path (`leads.intake.writes`, for SQLite) implements the same functions
with the ORM; `leads.intake.writes` chooses between them.
"""

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from operator import itemgetter
from typing import Any
from uuid import UUID

import psycopg
from django.db import connection, models
from psycopg.types.json import Jsonb

from leads.models import Lead, LeadActivity

type _Column = tuple[str, str, Callable[[models.Model], Any]]


def stored_answers(*, storefront: str, keys: Sequence[str]) -> dict[str, dict]:
    """The intake answers already stored for these external ids of the storefront."""
    table = LeadActivity._meta.db_table
    sql = (
        f'SELECT "external_id", "intake_response" FROM "{table}" '  # noqa: S608
        'WHERE "storefront" = %b AND "external_id" = ANY(%b::text[])'
    )
    response = LeadActivity._meta.get_field("intake_response")
    convert = _converters(response)
    with _cursor() as cursor:
        cursor.execute(sql, [storefront, list(keys)])
        return {key: convert(value) for key, value in cursor.fetchall()}


def leads_lock(*, keys: Sequence[tuple[int, str]], origin: str) -> list[Lead]:
    """Lock (FOR UPDATE), in primary-key order, the leads of this origin with these
    (publisher id, normalized email) keys and the survivors of those merged into another,
    in one statement; the rows come back as Lead instances."""
    if not keys:
        return []
    table = Lead._meta.db_table
    fields = Lead._meta.concrete_fields
    names = ", ".join(f'l."{field.column}"' for field in fields)
    sql = (
        "WITH k(publisher_id, email_normalized) AS ("  # noqa: S608
        "SELECT * FROM unnest(%b::bigint[], %b::text[])), "
        f'found AS (SELECT l.id, l.merged_into_id FROM k JOIN "{table}" AS l '
        "ON l.publisher_id = k.publisher_id AND l.origin = %b "
        "AND l.email_normalized = k.email_normalized) "
        f'SELECT {names} FROM "{table}" AS l WHERE l.origin = %b AND l.id IN ('
        "SELECT id FROM found UNION ALL "
        "SELECT merged_into_id FROM found WHERE merged_into_id IS NOT NULL) "
        "ORDER BY l.id FOR UPDATE OF l"
    )
    params = [[key[0] for key in keys], [key[1] for key in keys], origin, origin]
    attnames = [field.attname for field in fields]
    converters = [_converters(field) for field in fields]
    alias = connection.alias
    with _cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        Lead.from_db(alias, attnames, [c(v) for c, v in zip(converters, row, strict=True)])
        for row in rows
    ]


def leads_insert(*, leads: Sequence[Lead]) -> dict[UUID, int]:
    """INSERT these new leads whole, in their order, in one statement; a lead whose person
    a concurrent transaction created first is skipped (ON CONFLICT DO NOTHING). Returns
    the ids of the rows inserted, by uuid."""
    if not leads:
        return {}
    columns = _columns(Lead, skip_pk=True)
    sql = _insert_sql(Lead, columns, len(leads)) + " ON CONFLICT DO NOTHING RETURNING uuid, id"
    with _cursor() as cursor:
        cursor.execute(sql, _values(columns, leads))
        return dict(cursor.fetchall())


# The columns a claimed lead takes from its person; every other column is a default.
CLAIM_COLUMNS = ("uuid", "publisher_id", "email", "email_normalized", "is_test")


def leads_claim(*, rows: Sequence[dict[str, Any]], now) -> None:
    """INSERT new people's leads before their batch is worked out, in this order, skipping
    each person that exists (ON CONFLICT DO NOTHING): CLAIM_COLUMNS from `rows`, the
    others the defaults of a new marketplace lead created now. No Lead instance a row:
    the defaults are bound once, as scalars, and only the rows' own columns vary."""
    if not rows:
        return
    template = Lead(origin=Lead.Origin.MARKETPLACE, created_at=now, updated_at=now)
    columns = _columns(Lead, skip_pk=True)
    varying: list[_Column] = [
        (column, cast, itemgetter(column))
        for column, cast, _value in columns
        if column in CLAIM_COLUMNS
    ]
    names = ", ".join(f'"{column}"' for column, _cast, _value in columns)
    selected = ", ".join(
        f'v."{column}"' if column in CLAIM_COLUMNS else f"%b::{cast}"
        for column, cast, _value in columns
    )
    aliases = ", ".join(f'"{column}"' for column, _cast, _value in varying)
    sql = (
        f'INSERT INTO "{Lead._meta.db_table}" ({names}) SELECT {selected} '  # noqa: S608
        f"FROM {_source(varying, len(rows))} AS v({aliases}) ON CONFLICT DO NOTHING"
    )
    params = [value(template) for column, _cast, value in columns if column not in CLAIM_COLUMNS]
    with _cursor() as cursor:
        cursor.execute(sql, [*params, *_values(varying, rows)])


def leads_update(*, leads: Sequence[Lead], fields: Iterable[str]) -> None:
    """UPDATE these fields of these (locked) leads in one statement."""
    if not leads:
        return
    names = {"id", *(Lead._meta.get_field(name).column for name in fields)}
    columns = [c for c in _columns(Lead, skip_pk=False) if c[0] in names]
    aliases = ", ".join(f'"{column}"' for column, _cast, _value in columns)
    assignments = ", ".join(
        f'"{column}" = v."{column}"' for column, _cast, _value in columns if column != "id"
    )
    sql = (
        f'UPDATE "{Lead._meta.db_table}" AS t SET {assignments} '  # noqa: S608
        f"FROM {_source(columns, len(leads))} AS v({aliases}) WHERE t.id = v.id"
    )
    with _cursor() as cursor:
        cursor.execute(sql, _values(columns, leads))


def rows_insert(*, objs: Sequence[models.Model], returning: bool = False) -> None:
    """INSERT rows of one model in one statement, in their order; with `returning`, set
    each object's primary key (PostgreSQL returns the ids of an INSERT … SELECT in the
    order of the rows it selected, ordered here by their position in the document, as
    Django's own bulk_create relies on for unnest)."""
    if not objs:
        return
    model = type(objs[0])
    columns = _columns(model, skip_pk=True)
    sql = _insert_sql(model, columns, len(objs))
    if returning:
        sql += f' RETURNING "{model._meta.pk.column}"'
    with _cursor() as cursor:
        cursor.execute(sql, _values(columns, objs))
        if returning:
            for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
                obj.pk = pk
                obj._state.adding = False


@contextmanager
def _cursor() -> Iterator:
    """Django's cursor wrapper (its error translation, its query log when on) around a
    psycopg cursor that binds on the server: each array travels as one parameter (%b:
    psycopg's binary format, no quoting or escaping of each value into the statement's
    text), and a statement run a few times on a connection is prepared (psycopg's
    prepare_threshold)."""
    connection.ensure_connection()
    with connection._prepare_cursor(psycopg.Cursor(connection.connection)) as cursor:
        yield cursor


def _insert_sql(model: type[models.Model], columns: list[_Column], rows: int) -> str:
    names = ", ".join(f'"{column}"' for column, _cast, _value in columns)
    source = _source(columns, rows)
    return f'INSERT INTO "{model._meta.db_table}" ({names}) SELECT * FROM {source} AS v'  # noqa: S608


def _source(columns: list[_Column], rows: int) -> str:
    """The rows' source: for a single row, one scalar per column; else one JSON array of
    rows (`_values`), unpacked in order by PostgreSQL. A JSON column's value travels
    wrapped in a one-element array, so that SQL NULL (a bare null) and JSON null differ."""
    if rows == 1:
        return "(SELECT " + ", ".join(f"%b::{cast}" for _column, cast, _value in columns) + ")"
    picks = ", ".join(
        f"r.v -> {index} -> 0" if cast == "jsonb" else f"(r.v ->> {index})::{cast}"
        for index, (_column, cast, _value) in enumerate(columns)
    )
    return (
        f"(SELECT {picks} FROM jsonb_array_elements(%b::jsonb) "  # noqa: S608
        "WITH ORDINALITY AS r(v, n) ORDER BY r.n)"
    )


def _values(columns: list[_Column], objs: Sequence[models.Model]) -> list:
    """The parameters of `_source`: a scalar per column for one row; else the rows as one
    JSON document, written by the json module's C encoder (psycopg's dumping of arrays
    runs in Python, element by element)."""
    readers = [value for _column, _cast, value in columns]
    if len(objs) == 1:
        (obj,) = objs
        return [read(obj) for read in readers]
    return [_json([[read(obj) for read in readers] for obj in objs])]


def _json(rows: list) -> str:
    return json.dumps(rows, default=_json_value, ensure_ascii=False, separators=(",", ":"))


def _json_value(value: Any) -> Any:
    """A value json cannot write by itself, as `_source` reads it back."""
    if isinstance(value, Jsonb):
        return [value.obj]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} cannot be written by intake's statements")


@cache
def _converters(field: models.Field) -> Callable[[Any], Any]:
    """What the ORM does to a value this field's column returns (JSON parsed, …)."""
    expression = field.get_col(field.model._meta.db_table)
    converters = [
        *connection.ops.get_db_converters(expression),
        *expression.get_db_converters(connection),
    ]
    if not converters:
        return lambda value: value

    def convert(value):
        for converter in converters:
            value = converter(value, expression, connection)
        return value

    return convert


@cache
def _columns(model: type[models.Model], *, skip_pk: bool) -> list[_Column]:
    """(column, array element type, how to read the value off an instance), per field."""
    columns = []
    for field in model._meta.concrete_fields:
        if skip_pk and field.primary_key:
            continue
        # varchar(100)[] would truncate silently: the base type, as Django's UNNEST does.
        cast = field.db_type(connection).split("(")[0]
        columns.append((field.column, cast, _reader(field)))
    return columns


def _reader(field: models.Field) -> Callable[[models.Model], Any]:
    attname = field.attname
    if isinstance(field, models.JSONField):
        if field.null:
            return lambda obj: None if (v := getattr(obj, attname)) is None else Jsonb(v)
        return lambda obj: Jsonb(getattr(obj, attname))
    if field.is_relation:

        def related_id(obj):
            value = getattr(obj, attname)
            if value is None and field.is_cached(obj):
                related = field.get_cached_value(obj)
                if related is not None:  # saved after this row was built
                    value = related.pk
                    # Not setattr: Django's descriptor would forget the cached object.
                    obj.__dict__[attname] = value
            return value

        return related_id
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        # The instance's own time when the batch set one, else now (as save() would).
        return lambda obj: getattr(obj, attname) or field.pre_save(obj, True)
    return lambda obj: getattr(obj, attname)
