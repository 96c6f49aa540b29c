"""`import_leads FILE.csv --publisher SLUG [--atomic]` and its service (leads.intake.csv_import)."""

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from crm.models import Delivery
from leads.intake import csv_import
from leads.models import Lead, LeadActivity
from tests.factories import make_listing, make_publisher


def write_csv(tmp_path, text: str, encoding: str = "utf-8", name: str = "leads.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def run_import(path, publisher, *, atomic: bool = False) -> tuple[list[str], str | None]:
    """The command's stdout lines, and its CommandError message (None when it exits 0)."""
    stdout, stderr = StringIO(), StringIO()
    args = ["import_leads", str(path), "--publisher", publisher.slug]
    try:
        call_command(*args, *(["--atomic"] if atomic else []), stdout=stdout, stderr=stderr)
    except CommandError as exc:
        return stdout.getvalue().splitlines(), str(exc)
    return stdout.getvalue().splitlines(), None


MIXED = (
    "First Name,Last Name,Email,Country,Offer Id,Storefront\n"
    "Ada,Lovelace,ada@contoso.example,GB,contoso.analytics,\n"
    "Bob,Bad,not-an-email,GB,contoso.analytics,\n"
    "Cy,Ng,cy@contoso.example,Narnia,contoso.analytics,\n"
    "Dee,Lee,dee@contoso.example,US,contoso.contoso-crm,AppSource\n"
    "Eve,Nil,eve@contoso.example,US,,\n"
)
MIXED_REPORT = [
    "row 1 (line 2): created",
    "row 2 (line 3): error: email: Enter a valid email address.",
    "row 3 (line 4): error: country: Unknown country: use an ISO 3166 alpha-2 or alpha-3 "
    "code, or the English name.",
    "row 4 (line 5): created",
    "row 5 (line 6): error: offer id: Name the offer: fill in the offer id or offer title.",
    "5 rows: 2 created, 0 consolidated, 0 duplicate, 3 failed.",
]


def test_a_mixed_file_reports_every_row_and_keeps_the_good_ones(market, tmp_path):
    path = write_csv(tmp_path, MIXED)

    lines, error = run_import(path, market.publisher)

    assert lines == MIXED_REPORT
    assert error == "3 rows failed; the others were imported."
    assert set(Lead.objects.values_list("email", "country")) == {
        ("ada@contoso.example", "GB"),
        ("dee@contoso.example", "US"),
    }
    assert set(LeadActivity.objects.values_list("lead__email", "storefront", "listing")) == {
        ("ada@contoso.example", "azure-marketplace", market.azure_other.pk),
        ("dee@contoso.example", "appsource", market.appsource.pk),
    }


def test_atomic_writes_nothing_when_a_row_fails_and_still_reports_every_row(market, tmp_path):
    path = write_csv(tmp_path, MIXED)

    lines, error = run_import(path, market.publisher, atomic=True)

    assert lines == [*MIXED_REPORT, "Rolled back (--atomic): nothing was imported."]
    assert error == "3 rows failed; nothing was imported."
    assert Lead.objects.count() == 0
    assert LeadActivity.objects.count() == 0
    assert Delivery.objects.count() == 0


def test_atomic_with_only_good_rows_imports_them(market, tmp_path):
    path = write_csv(tmp_path, "email,offer id\nada@contoso.example,contoso.analytics\n")

    lines, error = run_import(path, market.publisher, atomic=True)

    assert (lines, error) == (
        ["row 1 (line 2): created", "1 row: 1 created, 0 consolidated, 0 duplicate, 0 failed."],
        None,
    )
    assert Lead.objects.get().email == "ada@contoso.example"


def test_a_repeated_email_consolidates_and_a_repeated_lead_id_is_a_duplicate(market, tmp_path):
    path = write_csv(
        tmp_path,
        "email,first name,lead id,offer id\n"
        "ada@contoso.example,Ada,L-1,contoso.analytics\n"
        "ADA@Contoso.example,Ada,L-2,contoso.analytics\n"
        "bob@contoso.example,Bob,L-1,contoso.analytics\n",
    )

    lines, error = run_import(path, market.publisher)

    assert lines == [
        "row 1 (line 2): created",
        "row 2 (line 3): consolidated",
        "row 3 (line 4): duplicate",
        "3 rows: 1 created, 1 consolidated, 1 duplicate, 0 failed.",
    ]
    assert error is None
    lead = Lead.objects.get()
    assert sorted(lead.activities.values_list("external_id", flat=True)) == ["L-1", "L-2"]


def test_importing_the_same_rows_again_reports_duplicates_and_writes_nothing(market, tmp_path):
    path = write_csv(tmp_path, "email,offer id\nada@contoso.example,contoso.analytics\n")
    run_import(path, market.publisher)

    lines, error = run_import(path, market.publisher)

    assert lines == [
        "row 1 (line 2): duplicate",
        "1 row: 0 created, 0 consolidated, 1 duplicate, 0 failed.",
    ]
    assert error is None
    assert LeadActivity.objects.count() == 1


def test_a_consolidated_person_across_storefronts_is_created_on_its_first_row(market, tmp_path):
    # Batches are grouped by storefront, so row 4 (AppSource) is ingested before row 2.
    path = write_csv(
        tmp_path,
        "email,offer id,storefront\n"
        "bob@contoso.example,contoso.contoso-crm,appsource\n"
        "ada@contoso.example,contoso.analytics,\n"
        "ada@contoso.example,contoso.contoso-crm,Azure Marketplace\n"
        "ada@contoso.example,contoso.contoso-crm,AppSource\n",
    )

    lines, _error = run_import(path, market.publisher)

    assert lines[:4] == [
        "row 1 (line 2): created",
        "row 2 (line 3): created",
        "row 3 (line 4): consolidated",
        "row 4 (line 5): consolidated",
    ]
    assert Lead.objects.get(email="ada@contoso.example").activities.count() == 3


def test_a_semicolon_delimited_cp1252_file_keeps_its_accents(market, tmp_path):
    path = write_csv(
        tmp_path,
        "first_name;last_name;email;offer_id;company\r\n"
        "José;Müller;jose@contoso.example;contoso.analytics;Müller, Söhne & Cie\r\n",
        encoding="cp1252",
    )

    lines, error = run_import(path, market.publisher)

    assert (lines[0], error) == ("row 1 (line 2): created", None)
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name, lead.company) == (
        "José",
        "Müller",
        "Müller, Söhne & Cie",
    )


@pytest.mark.parametrize(
    ("encoding", "delimiter"), [("utf-16", "\t"), ("utf-8-sig", ","), ("utf-8", "|")]
)
def test_unicode_files_with_or_without_a_bom_are_read(market, tmp_path, encoding, delimiter):
    text = delimiter.join(["Email", "First Name", "Offer Id"]) + "\n"
    text += delimiter.join(["zoe@contoso.example", "Zoë Ñúñez", "contoso.analytics"]) + "\n"
    path = write_csv(tmp_path, text, encoding=encoding)

    lines, error = run_import(path, market.publisher)

    assert (lines[0], error) == ("row 1 (line 2): created", None)
    assert Lead.objects.get().first_name == "Zoë Ñúñez"


def test_header_synonyms_map_to_the_payload_fields(market, tmp_path):
    path = write_csv(
        tmp_path,
        "FirstName,Surname,E-mail,Job title,Company Name,Phone Number,Country/Region,Offer,"
        "Marketing Consent,Created On,Lead-ID,Action,Notes,Favourite Colour\n"
        "Ada,Lovelace,ada@contoso.example,CTO,Analytical Engines,+44 20 7946 0000,Spain,"
        "Contoso Analytics,sí,2026-01-05 10:00,ext-1,INS,Wants a demo,Green\n",
    )

    lines, error = run_import(path, market.publisher)

    assert lines == [
        "Ignored columns: Favourite Colour",
        "row 1 (line 2): created",
        "1 row: 1 created, 0 consolidated, 0 duplicate, 0 failed.",
    ]
    assert error is None
    lead = Lead.objects.get()
    assert (
        lead.first_name,
        lead.last_name,
        lead.email,
        lead.title,
        lead.company,
        lead.phone,
        lead.country,
        lead.marketing_consent,
    ) == ("Ada", "Lovelace", "ada@contoso.example", "CTO", "Analytical Engines",
          "+44 20 7946 0000", "ES", True)  # fmt: skip
    activity = lead.activities.get()
    assert (
        activity.listing_id,
        activity.external_id,
        activity.action_code,
        activity.description,
        activity.occurred_at,
    ) == (
        market.azure_other.pk,
        "ext-1",
        "INS",
        "Wants a demo",
        datetime(2026, 1, 5, 10, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("headers", "fields"),
    [
        (["First Name", "Email"], ["first name", "email"]),
        (["first_name", "E-mail"], ["first name", "email"]),
        (["FirstName", "Email address"], ["first name", "email"]),
        (["EMAIL", "Job title", "Offer"], ["email", "title", "offer id"]),
        (["email", "Product Id", "lead-source"], ["email", "offer id", "lead source"]),
        (
            [" Email ", "MARKETING_CONSENT", "Created On"],
            ["email", "marketing consent", "created time"],
        ),
    ],
)
def test_header_map_is_tolerant_of_case_spaces_underscores_and_hyphens(headers, fields):
    assert csv_import.header_map(headers) == (dict(enumerate(fields)), [])


def test_two_columns_for_one_field_are_refused():
    with pytest.raises(csv_import.ImportRefused) as refused:
        csv_import.header_map(["Email", "E-mail"])

    assert str(refused.value) == "The columns 'Email' and 'E-mail' both mean email; keep one."


def test_a_file_without_an_email_column_is_refused_before_any_row(market, tmp_path):
    path = write_csv(tmp_path, "First Name,Offer Id\nAda,contoso.analytics\n")

    lines, error = run_import(path, market.publisher)

    assert lines == []
    assert error == (
        "The file has no email column (a header such as Email, E-mail or Email address); "
        "nothing was imported."
    )
    assert Lead.objects.count() == 0


def test_another_publishers_offer_is_an_error_row(market, tmp_path):
    make_listing(
        publisher=make_publisher(slug="fabrikam"),
        storefront="azure-marketplace",
        offer_id="fabrikam.crm",
        name="Fabrikam CRM",
    )
    path = write_csv(
        tmp_path,
        "email,offer id\nada@contoso.example,fabrikam.crm\nbob@contoso.example,Fabrikam CRM\n",
    )

    lines, error = run_import(path, market.publisher)

    slug = market.publisher.slug
    assert lines[:2] == [
        f"row 1 (line 2): error: offer id: offer fabrikam.crm does not belong to publisher {slug}",
        f"row 2 (line 3): error: offer id: offer Fabrikam CRM does not belong to publisher {slug}",
    ]
    assert error == "2 rows failed; the others were imported."
    assert Lead.objects.count() == 0


def test_an_offer_on_both_storefronts_needs_a_storefront_or_a_lead_source(market, tmp_path):
    path = write_csv(
        tmp_path,
        "email,offer id,lead source\n"
        "ada@contoso.example,contoso.contoso-crm,\n"
        "bob@contoso.example,contoso.contoso-crm,AppSource-INS\n",
    )

    lines, _error = run_import(path, market.publisher)

    assert lines[:2] == [
        "row 1 (line 2): error: offer id: contoso.contoso-crm is listed on AppSource and Azure "
        "Marketplace; add a storefront column.",
        "row 2 (line 3): created",
    ]
    assert LeadActivity.objects.get().listing_id == market.appsource.pk


def test_bad_cells_report_their_field(market, tmp_path):
    path = write_csv(
        tmp_path,
        "email,offer id,storefront,marketing consent,created time\n"
        "ada@contoso.example,contoso.analytics,Google Play,,\n"
        "bob@contoso.example,contoso.analytics,,maybe,\n"
        "cy@contoso.example,contoso.analytics,,,05/01/2026\n"
        "dee@contoso.example,contoso.nope,,,\n",
    )

    lines, _error = run_import(path, market.publisher)

    assert lines[:4] == [
        "row 1 (line 2): error: storefront: Unknown storefront 'Google Play': use appsource or "
        "azure-marketplace.",
        "row 2 (line 3): error: marketing consent: Use yes or no (or true/false, 1/0, sí).",
        "row 3 (line 4): error: created time: Input should be a valid datetime or date, invalid "
        "character in year",
        f"row 4 (line 5): error: offer id: Publisher {market.publisher.slug} has no listing "
        "with the offer contoso.nope.",
    ]


def test_row_numbers_skip_blank_lines_and_follow_multiline_cells(market, tmp_path):
    path = write_csv(
        tmp_path,
        'email,offer id,description\n\nada@contoso.example,contoso.analytics,"two\nlines"\n'
        "bob@contoso.example,contoso.analytics,x\n",
    )

    lines, _error = run_import(path, market.publisher)

    assert lines[:2] == ["row 1 (line 3): created", "row 2 (line 5): created"]
    assert LeadActivity.objects.get(lead__email="ada@contoso.example").description == "two\nlines"


def test_formulas_are_kept_as_text(market, tmp_path):
    path = write_csv(
        tmp_path, "email,company,offer id\nada@contoso.example,=1+1,contoso.analytics\n"
    )

    run_import(path, market.publisher)

    assert Lead.objects.get().company == "=1+1"


def test_a_file_over_20_mb_is_refused_unread(market, tmp_path):
    path = tmp_path / "big.csv"
    with path.open("wb") as big:
        big.truncate(21 * 1024 * 1024)  # sparse: no need to write 21 MB

    lines, error = run_import(path, market.publisher)

    assert (lines, error) == (
        [],
        "The file is 21.0 MB; the limit is 20 MB. Split it and import each part.",
    )


def test_a_file_over_the_row_cap_is_refused_before_any_row(market, tmp_path, monkeypatch):
    monkeypatch.setattr(csv_import, "MAX_ROWS", 2)
    rows = "".join(f"p{n}@contoso.example,contoso.analytics\n" for n in range(3))
    path = write_csv(tmp_path, "email,offer id\n" + rows)

    lines, error = run_import(path, market.publisher)

    assert (lines, error) == (
        [],
        "The file has more than 100,000 rows. Split it and import each part.",
    )
    assert Lead.objects.count() == 0


def test_an_unknown_publisher_and_a_missing_file_are_clear_errors(market, tmp_path):
    path = write_csv(tmp_path, "email\n")

    with pytest.raises(CommandError, match=r"^No publisher has the slug 'nope'\.$"):
        call_command("import_leads", str(path), "--publisher", "nope")
    with pytest.raises(CommandError, match=r"^No such file: .*missing\.csv$"):
        call_command(
            "import_leads", str(tmp_path / "missing.csv"), "--publisher", market.publisher.slug
        )
    assert not Lead.objects.exists()


def test_the_service_returns_a_structured_report(market):
    content = "email,offer id\nada@contoso.example,contoso.analytics\nbad,contoso.analytics\n"

    report = csv_import.leads_import(publisher=market.publisher, content=content.encode())

    lead = Lead.objects.get()
    assert report.rows == [
        csv_import.RowResult(
            row=1, line=2, status="created", lead_id=str(lead.uuid), score=lead.score
        ),
        csv_import.RowResult(
            row=2,
            line=3,
            errors=[csv_import.RowError("email", "Enter a valid email address.")],
        ),
    ]
    assert (report.failed, report.rolled_back, report.ignored_columns) == (1, False, [])


@pytest.mark.parametrize(
    ("sample", "delimiter"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("a;b;c\n1;2,5;3\n", ";"),
        ("a\tb\n1\t2\n", "\t"),
        ("a|b\n1|2\n", "|"),
        ("email\nada@contoso.example\n", ","),
    ],
)
def test_the_delimiter_is_detected(sample, delimiter):
    assert csv_import.csv_delimiter(sample) == delimiter
