"""Intake's set-based writes on PostgreSQL: every raw statement of its write path.

Each function writes a whole batch in one statement whose text does not depend on the
batch's size: the values travel as one array per column, and `unnest` turns the arrays
back into rows. psycopg then binds one parameter per column instead of one per column
and row (no splitting of a huge statement), and PostgreSQL plans one short statement.

The values are read from the model instances the batch built, as they are: no field's
`get_db_prep_save` runs per value. Each column's type is its field's own database type,
cast on the array; JSON values are wrapped for psycopg; a foreign key whose object was
saved after the row was built (a lead inserted in the same batch) takes its id.
Identifiers come from the models' metadata; every value is a bound parameter.

The portable path (`leads.intake.writes`, for SQLite) implements the same functions
with the ORM; `leads.intake.writes` chooses between them.
"""

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any
from uuid import UUID

import psycopg
from django.db import connection, models
from psycopg.types.json import Jsonb

from leads.models import Lead

type _Column = tuple[str, str, Callable[[models.Model], Any]]


def leads_insert(*, leads: Sequence[Lead]) -> dict[UUID, int]:
    """INSERT these new leads whole, in their order, in one statement; a lead whose person
    a concurrent transaction created first is skipped (ON CONFLICT DO NOTHING). Returns
    the ids of the rows inserted, by uuid."""
    if not leads:
        return {}
    columns = _columns(Lead, skip_pk=True)
    sql = _insert_sql(Lead, columns) + " ON CONFLICT DO NOTHING RETURNING uuid, id"
    with _cursor() as cursor:
        cursor.execute(sql, _arrays(columns, leads))
        return dict(cursor.fetchall())


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
        f"FROM {_unnest(columns)} AS v({aliases}) WHERE t.id = v.id"
    )
    with _cursor() as cursor:
        cursor.execute(sql, _arrays(columns, leads))


def rows_insert(*, objs: Sequence[models.Model], returning: bool = False) -> None:
    """INSERT rows of one model in one statement, in their order; with `returning`, set
    each object's primary key (PostgreSQL returns the ids of an INSERT … SELECT from
    unnest in the order of its rows, as Django's own bulk_create relies on)."""
    if not objs:
        return
    model = type(objs[0])
    columns = _columns(model, skip_pk=True)
    sql = _insert_sql(model, columns)
    if returning:
        sql += f' RETURNING "{model._meta.pk.column}"'
    with _cursor() as cursor:
        cursor.execute(sql, _arrays(columns, objs))
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


def _insert_sql(model: type[models.Model], columns: list[_Column]) -> str:
    names = ", ".join(f'"{column}"' for column, _cast, _value in columns)
    return f'INSERT INTO "{model._meta.db_table}" ({names}) SELECT * FROM {_unnest(columns)}'  # noqa: S608


def _unnest(columns: list[_Column]) -> str:
    return "unnest(" + ", ".join(f"%b::{cast}[]" for _column, cast, _value in columns) + ")"


def _arrays(columns: list[_Column], objs: Sequence[models.Model]) -> list[list]:
    return [[value(obj) for obj in objs] for _column, _cast, value in columns]


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
