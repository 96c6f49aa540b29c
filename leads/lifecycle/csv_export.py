"""CSV export of leads, formula-safe (OWASP "CSV injection"; reference S-targets).

Every lead field is attacker-controlled, and a spreadsheet evaluates a cell that starts
with `=`, `+`, `-` or `@` (and, in some, TAB, CR or LF) as a formula. `safe_cell` puts a
single quote in front of such a cell, and every field is quoted, so that a cell can
neither be a formula nor spill into the next column or row.

Two flavours (a "+1 …" phone number gets no apostrophe where none is needed):
- `excel`, the default, is formula-safe as above. A phone number that starts with `+`
  keeps its apostrophe there: Excel reads a leading `+` as a formula, so the apostrophe is
  what keeps "+1 555 0100" text. Numbers without a leading sign are left alone.
- `crm` is raw, for a CRM's importer, which never evaluates a cell: no apostrophe and no
  BOM. The page warns that it is not safe to open in a spreadsheet.

Headers are stable English names and values are codes (status `qualified`, ISO 8601
times in UTC), because the file is read by tools as often as by people.
"""

import codecs
import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import batched
from uuid import UUID

from django.db import connection

DANGEROUS_FIRST = frozenset("=+-@\t\r\n")

HEADER = (
    "Lead ID",
    "Created",
    "First name",
    "Last name",
    "Email",
    "Phone",
    "Country",
    "Company",
    "Title",
    "Status",
    "Score",
    "Origin",
    "Storefronts",
    "Latest listing",
    "First campaign",
    "Latest campaign",
    "Marketing consent",
    "Test",
)


# The columns of each exported row, in HEADER's order: the lead's own, its campaigns' names
# and the annotations of `leads_for_export` (rows come as tuples, never as models).
EXPORT_COLUMNS = (
    "uuid",
    "created_at",
    "first_name",
    "last_name",
    "email",
    "phone",
    "country",
    "company",
    "title",
    "status",
    "score",
    "origin",
    "export_storefronts",
    "export_listing",
    "first_campaign__name",
    "latest_campaign__name",
    "marketing_consent",
    "is_test",
)
# Rows written per chunk of the stream: one write per chunk, not one per line.
CHUNK_ROWS = 1000

EXCEL, CRM = "excel", "crm"
FLAVOURS = (EXCEL, CRM)


def raw_cell(value) -> str:
    """A value as CSV text, as it is (for a CRM's importer)."""
    if value.__class__ is str:
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def safe_cell(value) -> str:
    """A value as CSV text that no spreadsheet reads as a formula."""
    text = value if value.__class__ is str else raw_cell(value)
    if text and text[0] in DANGEROUS_FIRST:
        return "'" + text
    return text


# Values the csv module writes as `raw_cell` would (None as "", a number or UUID by str()):
# they are handed to it as they are, which saves a call per cell on the export's hot path.
WRITTEN_AS_IS = frozenset({str, int, type(None), UUID})


def _raw_row(row: tuple) -> list:
    return [value if value.__class__ in WRITTEN_AS_IS else raw_cell(value) for value in row]


def _safe_row(row: tuple) -> list:
    # Inline for the common cells (text that starts harmlessly, a UUID, None): the same
    # result as safe_cell, which takes everything else (a negative number, a flag, a time).
    return [
        value
        if (value.__class__ is str and not (value and value[0] in DANGEROUS_FIRST))
        or value is None
        or value.__class__ is UUID
        or (value.__class__ is int and value >= 0)
        else safe_cell(value)
        for value in row
    ]


def export_rows(rows, *, chunk_size: int) -> Iterator[tuple]:
    """The rows of an export queryset through a server-side cursor, `chunk_size` a fetch, so
    memory stays flat in the row count. On PostgreSQL the statement is planned with JIT
    off: its cost estimate over a hundred thousand leads (a latest-listing probe a row)
    made PostgreSQL compile it first, which took longer than the export's own work
    (docs/benchmarks.md, Portal)."""
    if connection.vendor != "postgresql":
        yield from rows.iterator(chunk_size=chunk_size)
        return
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
    try:
        yield from rows.iterator(chunk_size=chunk_size)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET jit")


def _taken(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate(0)
    return text


def csv_lines(rows: Iterable[tuple], *, flavour: str = EXCEL) -> Iterator[str]:
    """The header, then the rows as quoted CSV lines, lazily, CHUNK_ROWS lines a chunk:
    formula-safe for Excel, raw for a CRM."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    row_cells = _raw_row if flavour == CRM else _safe_row
    # The BOM tells Excel the file is UTF-8, so accented names survive a double-click.
    bom = "" if flavour == CRM else codecs.BOM_UTF8.decode()
    writer.writerow(HEADER)
    yield bom + _taken(buffer)
    for chunk in batched(rows, CHUNK_ROWS):
        writer.writerows(map(row_cells, chunk))
        yield _taken(buffer)
