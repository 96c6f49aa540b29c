"""The Reports page: exact figures per listing and per source for a period, the median
time to the first touch, the CSV download, period validation, a constant query count and
no figure of another publisher."""

import csv
import io
import json
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.catalog.storefronts import Storefront
from leads.reporting import report as report_selectors
from tests import factories
from tests.leads.report_support import make_report_lead

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

REPORTS = reverse("reports")
EXPORT = reverse("reports-export")


@pytest.fixture
def world(publisher, owner):
    crm = factories.make_listing(publisher=publisher, name="Contoso CRM")
    box = factories.make_listing(
        publisher=publisher, storefront=Storefront.AZURE_MARKETPLACE, name="Contoso Box"
    )
    make = make_report_lead
    # Contoso CRM, AppSource INS: 4 leads, 3 qualified, 2 accepted, 1 won; touched 2 h and 6 h.
    make(
        publisher=publisher,
        listing=crm,
        created=1,
        status="won",
        qualified=True,
        touched_after_hours=2,
        touched_by=owner,
    )
    make(
        publisher=publisher,
        listing=crm,
        created=2,
        status="lost",
        qualified=True,
        touched_after_hours=6,
        touched_by=owner,
    )
    make(publisher=publisher, listing=crm, created=3, status="qualified", qualified=True)
    make(publisher=publisher, listing=crm, created=4)
    # Contoso Box, Azure Create: 2 leads, 1 qualified, then disqualified; touched 10 h.
    make(
        publisher=publisher,
        listing=box,
        created=5,
        action="Create",
        status="disqualified",
        qualified=True,
        touched_after_hours=10,
        touched_by=owner,
    )
    make(publisher=publisher, listing=box, created=6, action="Create")
    # Outside the 30 days, a test lead and a Co-Sell referral: none counted.
    make(publisher=publisher, listing=crm, created=40, status="won", qualified=True)
    make(publisher=publisher, listing=crm, created=1, is_test=True, qualified=True)
    make(publisher=publisher, listing=crm, created=1, origin="co-sell", qualified=True)
    return {"crm": crm, "box": box}


def _figures(row) -> tuple:
    return (row.leads, row.qualified, row.accepted, row.won, row.median_seconds)


def test_the_report_per_listing_counts_each_stage_and_the_median_first_touch(world, publisher):
    today = timezone.localdate()

    report = report_selectors.report_for_publisher(
        publisher=publisher, since=today - timedelta(days=29), until=today, by="listing"
    )

    rows = {row.label: _figures(row) for row in report.rows}
    assert rows == {
        "Contoso CRM": (4, 3, 2, 1, 4 * 3600.0),
        "Contoso Box": (2, 1, 0, 0, 10 * 3600.0),
    }
    assert _figures(report.total) == (6, 4, 2, 1, 6 * 3600.0)
    crm = report.rows[0]
    assert (crm.qualified_rate, crm.accepted_rate, crm.won_rate) == (75.0, 66.7, 50.0)
    box = report.rows[1]
    assert (box.accepted_rate, box.won_rate, box.median_hours) == (0.0, None, 10.0)


def test_the_report_per_source_groups_by_storefront_and_action(world, publisher):
    today = timezone.localdate()

    report = report_selectors.report_for_publisher(
        publisher=publisher, since=today - timedelta(days=29), until=today, by="source"
    )

    assert {row.key: _figures(row)[:4] for row in report.rows} == {
        "appsource|INS": (4, 3, 2, 1),
        "azure-marketplace|Create": (2, 1, 0, 0),
    }
    assert report.rows[0].label == "AppSource · Install / get it now"


def test_a_period_counts_only_the_leads_created_in_it(world, publisher):
    today = timezone.localdate()

    report = report_selectors.report_for_publisher(
        publisher=publisher,
        since=today - timedelta(days=3),
        until=today - timedelta(days=2),
        by="listing",
    )

    assert [(row.label, _figures(row)) for row in report.rows] == [
        ("Contoso CRM", (2, 2, 1, 0, 6 * 3600.0))
    ]


def test_the_page_shows_the_table_and_the_chart_in_a_constant_number_of_queries(
    world, publisher, owner, client_of, django_assert_max_num_queries
):
    client = client_of(owner)
    for n in range(5):  # more listings and leads: the same number of queries
        listing = factories.make_listing(publisher=publisher, name=f"Extra {n}")
        make_report_lead(publisher=publisher, listing=listing, created=n + 1)

    with django_assert_max_num_queries(7):
        response = client.get(REPORTS, {"period": "30", "by": "listing"})

    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-row="total"' in body
    assert 'data-chart="report"' in body
    chart = json.loads(body.split('id="chart-report" type="application/json">')[1].split("<")[0])
    assert chart["labels"][:2] == ["Contoso CRM", "Contoso Box"]
    assert [d["data"][0] for d in chart["datasets"]] == [4, 3, 2, 1]
    assert "4 h 0 min" in body  # Contoso CRM's median


def test_the_csv_is_the_same_table_and_formula_safe(world, publisher, owner, client_of):
    listing = factories.make_listing(publisher=publisher, name="=HYPERLINK(evil)")
    make_report_lead(publisher=publisher, listing=listing, created=1)

    response = client_of(owner).get(EXPORT, {"period": "30", "by": "listing"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:5] == ["Listing", "Leads", "Qualified", "Accepted", "Won"]
    assert rows[1] == ["Contoso CRM", "4", "3", "2", "1", "75.0", "66.7", "50.0", "4.0"]
    assert ["'=HYPERLINK(evil)", "1", "0", "0", "0", "0.0", "", "", ""] in rows
    assert rows[-1][:5] == ["All", "7", "4", "2", "1"]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"period": "custom", "date_from": "2026-03-01"}, "date_to", "Enter the last day"),
        (
            {"period": "custom", "date_from": "2026-03-05", "date_to": "2026-03-01"},
            "date_to",
            "cannot be before",
        ),
        (
            {"period": "custom", "date_from": "2024-01-01", "date_to": "2025-12-31"},
            "date_to",
            "at most 366 days",
        ),
        (
            {"period": "custom", "date_from": "2099-01-01", "date_to": "2099-01-02"},
            "date_from",
            "after today",
        ),
        (
            {"period": "custom", "date_from": "not a date", "date_to": "2026-01-01"},
            "date_from",
            "Enter a valid date",
        ),
        ({"period": "forever"}, "period", "Select a valid choice"),
    ],
)
def test_a_bad_period_is_a_form_error_and_a_400(owner, client_of, query, field, message):
    client = client_of(owner)

    page = client.get(REPORTS, query)
    download = client.get(EXPORT, query)

    assert page.status_code == 400
    assert message in " ".join(page.context["form"].errors[field])
    assert f'id="id_{field}_error"' in page.content.decode()
    assert 'data-row="total"' not in page.content.decode()
    assert download.status_code == 400
    assert message in download.content.decode()


def test_dates_alone_choose_the_custom_period(world, owner, client_of):
    today = timezone.localdate()
    since = today - timedelta(days=3)

    response = client_of(owner).get(
        REPORTS, {"date_from": since.isoformat(), "date_to": (today - timedelta(days=2))}
    )

    assert response.status_code == 200
    report = response.context["report"]
    assert (report.since, report.total.leads) == (since, 2)


def test_last_month_is_the_whole_calendar_month():
    from leads.reporting.forms import preset_bounds

    assert preset_bounds("last-month", date(2026, 3, 15)) == (date(2026, 2, 1), date(2026, 2, 28))
    assert preset_bounds("this-month", date(2026, 3, 15)) == (date(2026, 3, 1), date(2026, 3, 15))
    assert preset_bounds("7", date(2026, 3, 15)) == (date(2026, 3, 9), date(2026, 3, 15))


def test_another_publisher_sees_none_of_the_figures(world, other_publisher, client_of):
    other_owner = factories.make_membership(publisher=other_publisher).user
    client = client_of(other_owner)

    page = client.get(REPORTS, {"period": "90"})
    download = client.get(EXPORT, {"period": "90"})

    assert page.status_code == 200
    assert page.context["report"].rows == []
    assert page.context["report"].total.leads == 0
    assert "Contoso" not in page.content.decode()
    assert "Contoso" not in download.content.decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))[1:] == [
        ["All", "0", "0", "0", "0", "", "", "", ""]
    ]


def test_the_navigation_links_to_the_reports(owner, client_of):
    response = client_of(owner).get(REPORTS)

    assert response.status_code == 200
    assert f'<a href="{REPORTS}" aria-current="page">Reports</a>' in response.content.decode()


def test_the_page_opens_on_the_last_30_days_and_shows_it_selected(owner, client_of):
    response = client_of(owner).get(REPORTS)

    assert response.status_code == 200
    report = response.context["report"]
    assert (report.until - report.since).days == 29
    assert '<option value="30" selected>' in response.content.decode()
