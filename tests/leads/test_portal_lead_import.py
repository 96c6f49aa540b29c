"""The portal's CSV lead import."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from leads.intake import csv_import
from leads.models import Lead
from portal.models import Membership
from tests.factories import make_membership

# --- Import ----------------------------------------------------------------------------------

CSV = (
    "Email,First name,Last name,Offer ID,Company\r\n"
    "ada@contoso.example,Ada,Lovelace,contoso.analytics,Engines\r\n"
    "ada@contoso.example,Ada,Lovelace,contoso.analytics,Engines\r\n"
    "not-an-email,Bob,B,contoso.analytics,X\r\n"
)


@pytest.fixture
def market_member(market, client_of):
    member = make_membership(publisher=market.publisher, role=Membership.Role.MEMBER)
    return client_of(member.user)


def test_import_reports_each_row_and_the_totals(market, market_member):
    # When a member uploads a file with a new lead, the same row again and a bad row
    upload = SimpleUploadedFile("leads.csv", CSV.encode(), content_type="text/csv")
    response = market_member.post(reverse("leads-import"), {"file": upload})

    # Then each row is reported, with the totals
    assert response.status_code == 200
    report = response.context["report"]
    assert [row.status for row in report.rows] == ["created", "duplicate", "error"]
    assert [(e.field, e.message) for e in report.rows[2].errors] == [
        ("email", "Enter a valid email address.")
    ]
    assert response.context["totals"] == {
        "created": 1,
        "consolidated": 0,
        "duplicate": 1,
        "error": 1,
    }
    assert Lead.objects.filter(publisher=market.publisher).count() == 1


def test_import_all_or_nothing_rolls_back_on_an_error(market, market_member):
    # When the same file is uploaded all or nothing
    upload = SimpleUploadedFile("leads.csv", CSV.encode(), content_type="text/csv")
    response = market_member.post(reverse("leads-import"), {"file": upload, "atomic": "on"})

    # Then nothing is imported, and the page says so
    assert response.context["report"].rolled_back is True
    assert "no row was imported" in response.content.decode()
    assert Lead.objects.filter(publisher=market.publisher).count() == 0


def test_import_refuses_a_file_over_the_size_cap_before_reading_it(
    market, market_member, monkeypatch
):
    # Given a size cap of 10 bytes, and an import service that must not be reached
    monkeypatch.setattr(csv_import, "MAX_BYTES", 10)
    called = []
    monkeypatch.setattr(csv_import, "leads_import", lambda **kw: called.append(kw))

    # When a bigger file is uploaded
    upload = SimpleUploadedFile("leads.csv", CSV.encode(), content_type="text/csv")
    response = market_member.post(reverse("leads-import"), {"file": upload})

    # Then the form refuses it next to the file field, and the import never ran
    assert response.context["form"].errors["file"] == [
        "The file is 0.0 MB; the limit is 20 MB. Split it and import each part."
    ]
    assert called == []
