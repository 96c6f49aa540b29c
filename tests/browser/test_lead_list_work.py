"""The lead list in a real browser, in English and Spanish: its total, the page size, the
column chooser, a saved view and an accent-insensitive search, with the bulk bar in view
while the table scrolls. Every page is checked for console errors
and CSP violations (tests/browser/conftest.py).

The screenshots are the ones docs/portal.md shows: with DOCS_SCREENSHOTS=1 they are
written to docs/img/ (commit them), else beside the other screenshots.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from leads.models import SavedView
from tests import factories
from tests.browser.conftest import ARTIFACTS, log_in

pytestmark = pytest.mark.django_db(transaction=True)

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
SHOTS = DOCS_IMG if os.environ.get("DOCS_SCREENSHOTS") else ARTIFACTS
TIMEOUT_MS = 15_000

WORDS = {
    "en-US": {
        "range": "Leads 1–50 of 60",
        "range25": "Leads 1–25 of 60",
        "columns": "Columns",
        "company": "Company",
        "save": "Save this view",
        "searched": "Leads 1–1 of 1",
    },
    "es-ES": {
        "range": "Clientes potenciales 1–50 de 60",
        "range25": "Clientes potenciales 1–25 de 60",
        "columns": "Columnas",
        "company": "Empresa",
        "save": "Guardar esta vista",
        "searched": "Clientes potenciales 1–1 de 1",
    },
}


def _seed(publisher) -> None:
    listing = factories.make_listing(publisher=publisher, name="Contoso Analytics")
    for number in range(59):
        lead = factories.make_lead(
            publisher=publisher,
            email=f"person{number:02}@northwind.example",
            first_name=f"Ada{number:02}",
            company="Northwind Traders",
        )
        factories.make_activity(lead=lead, listing=listing)
    factories.make_lead(
        publisher=publisher,
        email="maria@fabrikam.example",
        first_name="María",
        last_name="López",
        company="Fabrikam",
    )


def _shot(page, locale: str, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"lead-list-{name}-{locale[:2]}.png"))


@pytest.mark.parametrize("locale", ["en-US", "es-ES"])
def test_a_member_counts_sizes_chooses_columns_saves_a_view_and_searches(watched_in, locale):
    words = WORDS[locale]
    membership = factories.make_membership()
    _seed(membership.publisher)
    watched = watched_in(locale)
    page = watched.page
    page.set_viewport_size({"width": 1366, "height": 900})
    log_in(watched, membership.user.username, "correct horse battery staple")

    # The total is on the bar, and each lead is one line.
    page.goto("/leads/")
    range_line = page.locator("[data-range]")
    expect(range_line).to_contain_text(words["range"])
    rows = page.locator(".lead-table tbody tr")
    heights = rows.evaluate_all("rows => rows.map(row => row.getBoundingClientRect().height)")
    assert len(heights) == 50 and max(heights) < 40, heights
    _shot(page, locale, "compact")

    # The bulk bar stays in view while the table scrolls under it.
    page.evaluate("window.scrollTo(0, 1200)")
    assert page.evaluate("window.scrollY") > 600
    bar_top = page.locator("[data-list-bar]").evaluate("bar => bar.getBoundingClientRect().top")
    assert -1 <= bar_top <= 1
    _shot(page, locale, "sticky-bar")
    page.evaluate("window.scrollTo(0, 0)")

    # Rows per page: 25, kept by htmx in the address.
    page.locator("#page-size").select_option("25")
    page.wait_for_url("**size=25**")
    expect(range_line).to_contain_text(words["range25"])
    expect(page.locator(".lead-table tbody tr")).to_have_count(25)

    # The column chooser hides the company and stays open for the next choice.
    page.locator(".column-chooser summary").click()
    company = page.locator(".column-choices input[value='company']")
    company.uncheck()
    page.wait_for_url("**col=**")
    expect(page.locator(".lead-table th.col-company")).to_have_count(0)
    expect(page.locator(".column-chooser")).to_have_attribute("open", "")
    _shot(page, locale, "columns")

    # Saving the view keeps the size and the columns; applying it brings them back.
    page.locator("#save-view-name").fill("Twenty-five, no company")
    page.get_by_role("button", name=words["save"]).click()
    page.wait_for_url("**/leads/?**")
    view = SavedView.objects.get()
    assert (view.filters, view.columns) == (
        {"size": "25"},
        ["email", "status", "score", "listing", "campaign", "created", "last_activity"],
    )
    page.goto("/leads/")
    page.locator("[data-saved-view]").click()
    page.wait_for_url("**size=25**")
    expect(page.locator(".lead-table tbody tr")).to_have_count(25)
    expect(page.locator(".lead-table th.col-company")).to_have_count(0)

    # Search without the accent finds the accented name.
    page.goto("/leads/")
    page.locator("input[name='q']").fill("lopez")
    page.locator("input[name='q']").press("Enter")
    page.wait_for_url("**q=lopez**")
    expect(range_line).to_contain_text(words["searched"])
    expect(page.locator(".lead-table tbody")).to_contain_text("López")
    _shot(page, locale, "search")
    watched.assert_clean()


@pytest.mark.parametrize("locale", ["en-US", "es-ES"])
def test_the_list_fits_a_phone(watched_in, locale):
    membership = factories.make_membership()
    _seed(membership.publisher)
    watched = watched_in(locale)
    page = watched.page
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(watched, membership.user.username, "correct horse battery staple")

    page.goto("/leads/")

    # The page itself never scrolls sideways (the table scrolls in its own box).
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    expect(page.locator("[data-range]")).to_be_visible()
    _shot(page, locale, "phone")
    watched.assert_clean()
