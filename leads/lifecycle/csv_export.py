"""CSV export of leads, formula-safe (OWASP "CSV injection"; reference S-targets).

Every lead field is attacker-controlled, and a spreadsheet evaluates a cell that starts
with `=`, `+`, `-` or `@` (and, in some, TAB, CR or LF) as a formula. `safe_cell` puts a
single quote in front of such a cell, and every field is quoted, so that a cell can
neither be a formula nor spill into the next column or row.

Two flavours (issue 15: every "+1 …" phone number got a leading apostrophe):
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
from collections.abc import Iterable, Iterator
from datetime import datetime

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


EXCEL, CRM = "excel", "crm"
FLAVOURS = (EXCEL, CRM)


def raw_cell(value) -> str:
    """A value as CSV text, as it is (for a CRM's importer)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def safe_cell(value) -> str:
    """A value as CSV text that no spreadsheet reads as a formula."""
    text = raw_cell(value)
    if text and text[0] in DANGEROUS_FIRST:
        return "'" + text
    return text


def lead_row(lead) -> list:
    """The export's columns of one lead (annotated by `leads_for_export`)."""
    return [
        lead.uuid,
        lead.created_at,
        lead.first_name,
        lead.last_name,
        lead.email,
        lead.phone,
        lead.country,
        lead.company,
        lead.title,
        lead.status,
        lead.score,
        lead.origin,
        getattr(lead, "export_storefronts", None),
        getattr(lead, "export_listing", None),
        lead.first_campaign.name if lead.first_campaign else None,
        lead.latest_campaign.name if lead.latest_campaign else None,
        lead.marketing_consent,
        lead.is_test,
    ]


class _Line:
    """A file-like sink that hands back what csv.writer writes, one line at a time."""

    def write(self, text: str) -> str:
        return text


def csv_lines(rows: Iterable[list], *, flavour: str = EXCEL) -> Iterator[str]:
    """The header and one quoted CSV line per row, lazily: formula-safe for Excel, raw
    for a CRM."""
    writer = csv.writer(_Line(), quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    cell = raw_cell if flavour == CRM else safe_cell
    # The BOM tells Excel the file is UTF-8, so accented names survive a double-click.
    bom = "" if flavour == CRM else codecs.BOM_UTF8.decode()
    yield bom + writer.writerow(HEADER)
    for row in rows:
        yield writer.writerow([cell(value) for value in row])


def export_lines(leads: Iterable, *, flavour: str = EXCEL) -> Iterator[str]:
    """The export of these leads as CSV lines."""
    return csv_lines((lead_row(lead) for lead in leads), flavour=flavour)
