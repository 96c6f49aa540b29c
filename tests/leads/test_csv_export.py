"""GET /leads/export.csv: streamed, tenant-scoped, filtered and formula-safe."""

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leads.lifecycle.csv_export import (
    CRM,
    DANGEROUS_FIRST,
    HEADER,
    csv_lines,
    export_rows,
    raw_cell,
    safe_cell,
)
from leads.models import Lead
from tests.factories import make_activity, make_campaign, make_lead, make_listing

EXPORT = reverse("leads-export")


def read_back(body: str) -> list[list[str]]:
    """The export as a spreadsheet would split it into cells."""
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:], newline="")))


def export(client, **params) -> tuple[StreamingHttpResponse, list[list[str]]]:
    response = client.get(EXPORT, params)
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode("utf-8")
    return response, read_back(body)


@pytest.fixture
def owner_client(owner):
    client = Client()
    client.force_login(owner)
    return client


# --- The pure sanitiser ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1 555", "'+1 555"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("\nx", "'\nx"),
        ("Ada", "Ada"),
        ("", ""),
        (None, ""),
        (True, "yes"),
        (False, "no"),
        (42, "42"),
        (datetime(2026, 3, 1, 12, 0, tzinfo=UTC), "2026-03-01T12:00:00+00:00"),
    ],
)
def test_safe_cell(value, cell):
    assert safe_cell(value) == cell


@given(st.lists(st.lists(st.text(), min_size=len(HEADER), max_size=len(HEADER)), max_size=5))
def test_no_exported_cell_starts_a_formula_and_rows_keep_their_width(rows):
    # Given rows of arbitrary text
    # When they are written as CSV and read back
    parsed = read_back("".join(csv_lines(rows)))

    # Then the header comes first, no cell starts with a dangerous character, widths hold
    assert parsed[0] == list(HEADER)
    assert len(parsed) == len(rows) + 1
    for row, original in zip(parsed[1:], rows, strict=True):
        assert len(row) == len(HEADER)
        assert not any(cell[:1] in DANGEROUS_FIRST for cell in row if cell)
        # Nothing is lost but the quote that disarms a cell
        assert [
            c[1:] if o[:1] in DANGEROUS_FIRST else c for c, o in zip(row, original, strict=True)
        ] == original


_any_cell = st.one_of(
    st.text(),
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.uuids(),
    st.datetimes(timezones=st.just(UTC)),
)


@given(st.lists(st.lists(_any_cell, min_size=3, max_size=6), max_size=4))
def test_rows_of_any_value_are_written_as_the_cell_functions_write_them(rows):
    # Given rows of mixed values (text, None, flags, numbers of either sign, UUIDs, times)
    # When they are exported in either flavour
    # Then each cell reads back as safe_cell (Excel) or raw_cell (CRM) writes it
    excel = read_back("".join(csv_lines(rows)))[1:]
    crm = list(csv.reader(io.StringIO("".join(csv_lines(rows, flavour=CRM)), newline="")))[1:]
    assert excel == [[safe_cell(value) for value in row] for row in rows]
    assert crm == [[raw_cell(value) for value in row] for row in rows]


def _jit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="JIT is PostgreSQL's")
def test_the_export_query_runs_without_jit_and_the_session_gets_it_back(publisher):
    # Given three leads and the session's JIT setting
    for n in range(3):
        make_lead(publisher=publisher, email=f"jit{n}@contoso.example")
    before = _jit()
    rows = Lead.objects.filter(publisher=publisher).values_list("email")

    # When the export's rows are read, and when a reader stops half-way
    stream = export_rows(rows, chunk_size=2)
    first = next(stream)
    during = _jit()
    rest = list(stream)
    after = _jit()
    stopped = export_rows(rows, chunk_size=1)
    next(stopped)
    stopped.close()

    # Then the statement ran with JIT off, every row came, and the setting is restored
    assert during == "off"
    assert len([first, *rest]) == 3
    assert after == before
    assert _jit() == before


_db_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=_db_text, last=_db_text, company=_db_text, title=_db_text, phone=_db_text)
def test_the_export_of_hostile_lead_fields_is_formula_safe(
    publisher, owner_client, first, last, company, title, phone
):
    # Given a lead whose fields are arbitrary text
    Lead.objects.filter(publisher=publisher).delete()
    make_lead(
        publisher=publisher,
        first_name=first,
        last_name=last,
        company=company,
        title=title,
        phone=phone,
    )

    # When the owner exports
    _response, rows = export(owner_client)

    # Then every cell is safe and every row is as wide as the header
    assert len(rows) == 2
    assert all(len(row) == len(HEADER) for row in rows)
    assert not any(cell[:1] in DANGEROUS_FIRST for row in rows for cell in row if cell)


# --- The view --------------------------------------------------------------------------------


def test_export_streams_the_columns_of_each_lead(publisher, owner_client):
    # Given a lead with an activity on a listing, in a campaign
    listing = make_listing(
        publisher=publisher,
        name="Contoso CRM",
        storefront="azure-marketplace",
        listing_type="offer",
    )
    campaign = make_campaign(
        publisher=publisher, name="Spring", storefront="azure-marketplace", listings=[listing]
    )
    lead = make_lead(
        publisher=publisher,
        email="ada@contoso.example",
        first_name="=cmd|' /C calc'!A0",
        phone="+44 20",
        country="GB",
        title="CTO",
        score=55,
        marketing_consent=True,
        first_campaign=campaign,
        latest_campaign=campaign,
    )
    make_activity(lead=lead, listing=listing, campaign=campaign)

    # When the owner exports
    response, rows = export(owner_client)

    # Then the response streams an attachment, and the row holds every column, disarmed
    assert isinstance(response, StreamingHttpResponse)
    assert response.streaming is True
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(
        f'attachment; filename="leads-{publisher.slug}-'
    )
    assert rows[0] == list(HEADER)
    assert rows[1] == [
        str(lead.uuid),
        lead.created_at.isoformat(),
        "'=cmd|' /C calc'!A0",
        "Lovelace",
        "ada@contoso.example",
        "'+44 20",
        "GB",
        "Contoso",
        "CTO",
        "new",
        "55",
        "marketplace",
        "azure-marketplace",
        "Contoso CRM",
        "Spring",
        "Spring",
        "yes",
        "no",
    ]


def test_export_never_contains_another_publishers_leads(publisher, other_publisher, owner_client):
    # Given a lead of each publisher
    make_lead(publisher=publisher, email="mine@x.example")
    make_lead(publisher=other_publisher, email="theirs@x.example")

    # When the owner exports
    _response, rows = export(owner_client)

    # Then only their own lead is in it
    assert [row[4] for row in rows[1:]] == ["mine@x.example"]


def test_export_applies_the_list_filters_and_origin(publisher, owner_client):
    # Given a new, a qualified and a Co-Sell lead
    make_lead(publisher=publisher, email="new@x.example")
    make_lead(publisher=publisher, email="q@x.example", status="qualified", score=70)
    make_lead(publisher=publisher, email="ref@x.example", origin="co-sell", status="qualified")

    # When exporting with the list's filters, and the referrals
    _r, by_status = export(owner_client, status="qualified")
    _r, by_score = export(owner_client, score_min=60, sort="score")
    _r, by_search = export(owner_client, q="new@x.example")
    _r, referrals = export(owner_client, origin="co-sell")

    # Then each export holds exactly the matching leads of its origin
    assert [row[4] for row in by_status[1:]] == ["q@x.example"]
    assert [row[4] for row in by_score[1:]] == ["q@x.example"]
    assert [row[4] for row in by_search[1:]] == ["new@x.example"]
    assert [row[4] for row in referrals[1:]] == ["ref@x.example"]


def test_export_of_an_empty_filter_is_just_the_header(publisher, owner_client):
    # When nothing matches
    _response, rows = export(owner_client, status="won")

    # Then the file is the header alone
    assert rows == [list(HEADER)]


def test_the_crm_flavour_is_raw_and_the_excel_one_protects_only_formula_starts(
    publisher, owner_client
):
    """Not every phone gets an apostrophe. Only a cell that starts with = + - @ TAB CR
    or LF gets one, in the Excel file only; the CRM file is raw and has no BOM."""
    make_lead(publisher=publisher, email="a@contoso.example", phone="+1 555 0100")
    make_lead(publisher=publisher, email="b@contoso.example", phone="(555) 0101")
    make_lead(publisher=publisher, email="c@contoso.example", phone="=1+1")

    _response, excel = export(owner_client)
    crm = owner_client.get(EXPORT, {"for": "crm"})
    body = b"".join(crm.streaming_content).decode("utf-8")

    phone = HEADER.index("Phone")
    assert sorted(row[phone] for row in excel[1:]) == ["'+1 555 0100", "'=1+1", "(555) 0101"]
    assert not body.startswith("\ufeff")
    crm_rows = list(csv.reader(io.StringIO(body, newline="")))
    assert sorted(row[phone] for row in crm_rows[1:]) == ["(555) 0101", "+1 555 0100", "=1+1"]
    assert crm["Content-Disposition"].endswith('-for-crm.csv"')


def test_the_list_offers_both_flavours_and_says_which_is_which(publisher, owner_client):
    make_lead(publisher=publisher)

    for language, crm_label in (("en", "For importing into a CRM"), ("es", "Para importar")):
        page = owner_client.get(reverse("leads"), HTTP_ACCEPT_LANGUAGE=language).text

        (crm_href,) = re.findall(r'href="([^"]*)" data-export="crm"', page)
        (excel_href,) = re.findall(r'href="([^"]*)" data-export="excel"', page)
        assert crm_href.startswith(EXPORT) and "for=crm" in crm_href
        assert excel_href.startswith(EXPORT) and "for=" not in excel_href
        assert crm_label in page
