"""`import_leads` and the portal import page with Partner Center's leads export
(leads.intake.partner_center_export): its own columns, the 5,000-row cap, reconciliation."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.models import Delivery
from leads.intake import csv_import, partner_center_export
from leads.models import Lead, LeadActivity
from tests.factories import make_membership, make_target
from tests.leads.conftest import lead_payload
from tests.leads.test_import import run_import

pytestmark = pytest.mark.django_db

EXPORT = Path(__file__).parent / "fixtures" / "partner_center_leads_export.csv"
HEADER = EXPORT.read_text(encoding="utf-8-sig").splitlines()[0]


@pytest.fixture
def received(market):
    """Ada's Get-it-now lead, received two minutes before the export says it was made."""
    response = market.post(lead_payload(CreatedTime="2026-11-20T10:00:00Z"))
    assert response.status_code == 201
    return Lead.objects.get(email_normalized="ada@contoso.example")


def test_the_export_is_read_by_its_columns_and_reconciled(market, received):
    lines, error = run_import(EXPORT, market.publisher)

    assert lines == [
        "Read as Partner Center's leads export (docs/import.md).",
        "row 1 (line 2): received",
        "row 2 (line 3): created (missing)",
        "row 3 (line 4): created (missing)",
        "row 4 (line 5): consolidated (missing)",
        "row 5 (line 6): error: email: Field required",
        "row 6 (line 7): error: created time: Use ISO 8601 or MM/DD/YYYY hh:mm:ss AM/PM (UTC), "
        "as Partner Center writes it.",
        f"row 7 (line 8): error: offer title: Publisher {market.publisher.slug} has no listing "
        "with the offer Someone Else's Offer.",
        "7 rows: 2 created, 1 consolidated, 0 duplicate, 1 received, 3 failed.",
        "Reconciled with Lead Portal: 3 missing (now imported), 1 already here.",
    ]
    assert error == "3 rows failed; the others were imported."
    # Ada keeps her one activity: the export's row was the lead already received
    assert received.activities.count() == 1
    imported = {
        (a.lead.email, a.listing.name, a.storefront, a.action_code, a.lead_source)
        for a in LeadActivity.objects.exclude(lead=received).select_related("lead", "listing")
    }
    assert imported == {
        ("grace@fabrikam.example", "Contoso CRM", "appsource", "PLT", "AppSource-PLT|Contoso CRM"),
        (
            "jose@northwind.example",
            "Contoso Analytics",
            "azure-marketplace",
            "INS",
            "AzureMarketplace-INS|Contoso Analytics",
        ),
        (
            "grace@fabrikam.example",
            "Contoso Analytics",
            "azure-marketplace",
            "StartTestDrive",
            "AzurePortal-StartTestDrive|Contoso Analytics",
        ),
    }


def test_the_exports_own_judgements_are_kept_verbatim(market, received):
    run_import(EXPORT, market.publisher)

    activity = LeadActivity.objects.get(lead__email="jose@northwind.example")
    assert activity.occurred_at.isoformat() == "2026-11-22T08:30:00+00:00"
    assert activity.external_id.startswith("pc-export:")
    assert activity.raw_payload["PartnerCenterExport"] == {
        "Lead type": "Offer",
        "Lead quality": "Low",
        "Email validity": "Unknown",
        "Phone validity": "Unknown",
        "Status": "New",
        "Lead ID": "b7c1f0de-3a51-4c36-9f0e-1d2f6a1e0003",
    }
    lead = activity.lead
    assert (lead.first_name, lead.last_name, lead.company, lead.country) == (
        "José",
        "Núñez",
        "Northwind Traders",
        "ES",
    )


def test_importing_the_export_again_changes_nothing(market, received):
    run_import(EXPORT, market.publisher)
    before = LeadActivity.objects.count()

    lines, _error = run_import(EXPORT, market.publisher)

    assert LeadActivity.objects.count() == before
    assert lines[-2] == "7 rows: 0 created, 0 consolidated, 3 duplicate, 1 received, 3 failed."
    assert lines[-1] == "Reconciled with Lead Portal: 0 missing (now imported), 4 already here."


def test_headers_match_whatever_their_case_and_spacing(market):
    text = (
        "customer_contact_email_address,CUSTOMER CONTACT FIRST NAME,offer-name,"
        "lead.source,CallToAction,leadcreationdatetime\n"
        "kim@contoso.example,Kim,Contoso Analytics,azure marketplace,CONTACT ME,"
        "12/01/2026 14:05\n"
    )
    report = csv_import.leads_import(publisher=market.publisher, content=text.encode())

    assert report.partner_center is True
    assert [row.status for row in report.rows] == ["created"]
    activity = LeadActivity.objects.get()
    assert (activity.action_code, activity.occurred_at.isoformat()) == (
        "PLT",
        "2026-12-01T14:05:00+00:00",
    )


def test_a_plain_csv_is_not_taken_for_an_export():
    headers = ["Email", "First Name", "Lead Source", "Created"]

    columns, _ignored = csv_import.header_map(headers)

    assert columns == {0: "email", 1: "first name", 2: "lead source", 3: "created time"}
    assert partner_center_export.recognizes([h.lower() for h in headers]) is False


def test_more_than_5000_rows_are_refused_with_nothing_written(market, tmp_path):
    row = "x{n}@contoso.example,Kim,Contoso Analytics,Azure Marketplace,Contact me,\n"
    path = tmp_path / "big.csv"
    path.write_text(
        "Customer Contact Email Address,Customer Contact First Name,Offer name,Lead source,"
        "Call to action,LeadCreationDateTime\n" + "".join(row.format(n=n) for n in range(5001))
    )

    lines, error = run_import(path, market.publisher)

    assert lines == []
    assert error.startswith("The file has more than 5,000 rows, more than a Partner Center")
    assert not Lead.objects.exists()


def test_without_a_lead_id_the_row_is_keyed_by_person_offer_and_time(market):
    text = (
        "Customer Contact Email Address,Offer name,Lead source,Call to action,"
        "LeadCreationDateTime\n"
        "kim@contoso.example,Contoso Analytics,Azure Marketplace,Contact me,12/01/2026 14:05\n"
    )
    csv_import.leads_import(publisher=market.publisher, content=text.encode())

    again = csv_import.leads_import(publisher=market.publisher, content=text.encode())

    assert [row.status for row in again.rows] == ["duplicate"]
    assert LeadActivity.objects.count() == 1


def test_the_portal_page_reports_what_was_missing(market, received, client_of):
    member = make_membership(publisher=market.publisher, role="member")
    client = client_of(member.user)
    upload = SimpleUploadedFile("leads.csv", EXPORT.read_bytes(), content_type="text/csv")

    response = client.post(reverse("leads-import"), {"file": upload})

    assert response.status_code == 200
    assert response.context["totals"] == {
        "created": 2,
        "consolidated": 1,
        "duplicate": 0,
        "received": 1,
        "error": 3,
    }
    html = response.content.decode()
    assert (
        "Reconciled with Lead Portal: 3 leads were missing (now imported), 1 were already here."
        in html
    )
    assert html.count("Was missing") == 3
    assert html.count(">Already received<") == 2  # the total's label and row 1's badge


def test_an_exported_lead_fans_out_to_the_publishers_targets_and_the_field_sellers(market):
    # Given a publisher whose every lead qualifies, with two CRM targets, and the field sellers
    market.publisher.qualification_threshold = 0
    market.publisher.save()
    first = make_target(publisher=market.publisher, name="Dynamics")
    second = make_target(publisher=market.publisher, name="Webhook")
    field_sellers = make_target(publisher=None, name="Microsoft field sellers")

    # When the leads export is imported
    run_import(EXPORT, market.publisher)

    # Then every imported lead is owed to all three, qualified (Grace's second activity of the
    # file, consolidated into her lead, is an update to all three as well)
    leads = set(LeadActivity.objects.values_list("lead", flat=True))
    assert len(leads) == 3
    targets = (first, second, field_sellers)
    owed = set(Delivery.objects.values_list("lead", "target", "event"))
    qualified = {(lead, target.pk, "lead.qualified") for lead in leads for target in targets}
    assert qualified <= owed
    assert {event for _, _, event in owed - qualified} <= {"lead.updated"}
