"""The Reports page in the browser, in English and Spanish: the period form, the chart,
the table and its CSV link, a bad period's error beside its field, and no console error
or CSP violation anywhere (the watched page fails the test on any).

The screenshots are the ones docs/portal.md shows: with DOCS_SCREENSHOTS=1 they are
written to docs/img/ (commit them), else beside the other screenshots."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from leads.catalog.storefronts import Storefront
from tests import factories
from tests.browser.conftest import ARTIFACTS, log_in
from tests.leads.report_support import make_report_lead

pytestmark = pytest.mark.django_db(transaction=True)

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
SHOTS = DOCS_IMG if os.environ.get("DOCS_SCREENSHOTS") else ARTIFACTS


def _world():
    membership = factories.make_membership()
    publisher, owner = membership.publisher, membership.user
    crm = factories.make_listing(publisher=publisher, name="Contoso CRM")
    box = factories.make_listing(
        publisher=publisher, storefront=Storefront.AZURE_MARKETPLACE, name="Contoso Box"
    )
    fates = [("won", 2), ("lost", 5), ("qualified", None), ("new", None), ("accepted", 26)]
    for n in range(20):
        status, hours = fates[n % len(fates)]
        make_report_lead(
            publisher=publisher, listing=crm if n % 3 else box, created=1 + n % 25,
            action="PLT" if n % 2 else "INS", status=status, qualified=status != "new",
            touched_after_hours=hours, touched_by=owner,
        )  # fmt: skip
    return owner


@pytest.mark.parametrize(("locale", "lang"), [("en-US", "en"), ("es-ES", "es")])
def test_the_reports_page_in_both_languages(watched_in, locale, lang):
    owner = _world()
    watched = watched_in(locale)
    log_in(watched, owner.username, "correct horse battery staple")
    page = watched.page
    page.set_viewport_size({"width": 1366, "height": 900})

    page.goto("/")
    page.locator("nav.main-nav a[href='/reports/']").click()
    page.wait_for_url("**/reports/")
    expect(page.locator("tr[data-row='total'] td[data-figure='leads']")).to_have_text("20")

    page.locator("select[name='period']").select_option("90")
    page.locator("select[name='by']").select_option("source")
    page.locator("form.report-form button[type='submit']").click()
    page.wait_for_url("**by=source**")
    expect(page.locator("table[data-report='source'] tbody tr")).to_have_count(5)
    expect(page.locator("canvas[data-chart='report']")).to_be_visible()
    href = page.locator("a[href^='/reports/export.csv?']").get_attribute("href")
    assert "period=90" in href and "by=source" in href
    page.locator("table.report-table").scroll_into_view_if_needed()
    page.wait_for_timeout(300)  # the chart's first frame
    page.screenshot(path=str(SHOTS / f"reports-{lang}.png"), full_page=True)

    page.locator("select[name='period']").select_option("custom")
    page.locator("input[name='date_from']").fill("2026-03-05")
    page.locator("input[name='date_to']").fill("2026-03-01")
    page.locator("form.report-form button[type='submit']").click()
    page.wait_for_load_state()
    expect(page.locator("#id_date_to_error")).to_be_visible()
    expect(page.locator("table.report-table")).to_have_count(0)
    watched.assert_clean(
        tolerate=("/reports/?period=custom&date_from=2026-03-05&date_to=2026-03-01&by=source",)
    )
