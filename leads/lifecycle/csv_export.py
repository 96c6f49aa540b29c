"""CSV export of leads, formula-safe (OWASP "CSV injection"; reference S-targets).

Every lead field is attacker-controlled, and a spreadsheet evaluates a cell that starts
with `=`, `+`, `-` or `@` (and, in some, TAB, CR or LF) as a formula. `safe_cell` puts a
single quote in front of such a cell, and every field is quoted, so that a cell can
neither be a formula nor spill into the next column or row.

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


def safe_cell(value) -> str:
    """A value as CSV text that no spreadsheet reads as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, datetime):
        text = value.isoformat()
    else:
        text = str(value)
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


def csv_lines(rows: Iterable[list]) -> Iterator[str]:
    """The header and one quoted, formula-safe CSV line per row, lazily."""
    writer = csv.writer(_Line(), quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    # The BOM tells Excel the file is UTF-8, so accented names survive a double-click.
    yield codecs.BOM_UTF8.decode() + writer.writerow(HEADER)
    for row in rows:
        yield writer.writerow([safe_cell(value) for value in row])


def export_lines(leads: Iterable) -> Iterator[str]:
    """The export of these leads as CSV lines."""
    return csv_lines(lead_row(lead) for lead in leads)
