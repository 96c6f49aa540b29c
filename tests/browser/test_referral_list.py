"""The Co-Sell referral list and a referral's page in a real browser, in English and
Spanish: the Partner Center status filter, the close-date sort both ways (referrals
without a close date last), the navigation's highlight and no "Unknown action". Every
page is checked for console errors and CSP violations (tests/browser/conftest.py).

The screenshots are the ones docs/portal.md shows: with DOCS_SCREENSHOTS=1 they are
written to docs/img/ (commit them), else beside the other screenshots.
"""

import os
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from leads.intake.referrals import CO_SELL_ACTION
from leads.models import Lead, Referral
from tests import factories
from tests.browser.conftest import ARTIFACTS, log_in

pytestmark = pytest.mark.django_db(transaction=True)

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
SHOTS = DOCS_IMG if os.environ.get("DOCS_SCREENSHOTS") else ARTIFACTS
TIMEOUT_MS = 15_000

WORDS = {
    "en-US": {
        "nav": "Co-Sell referrals",
        "active": "Active",
        "activity": "Co-Sell referral from Partner Center",
    },
    "es-ES": {
        "nav": "Referencias de Co-Sell",
        "active": "Activa",
        "activity": "Referencia de Co-Sell desde Partner Center",
    },
}
DEALS = [
    # (customer, status, substatus, close date, deal value)
    ("Fabrikam", "Active", "Accepted", date(2027, 9, 30), Decimal("48000.00")),
    ("Northwind", "Active", "Accepted", None, Decimal("15000.00")),
    ("Contoso", "Active", "Accepted", date(2027, 2, 15), None),
    ("Tailspin", "New", "Pending", date(2027, 1, 10), Decimal("9000.00")),
    ("Woodgrove", "Closed", "Won", date(2026, 11, 1), Decimal("120000.00")),
]


def _seed(publisher) -> Referral:
    listing = factories.make_listing(publisher=publisher, name="Contoso Analytics")
    for number, (customer, status, substatus, close, value) in enumerate(DEALS):
        lead = factories.make_lead(
            publisher=publisher,
            origin=Lead.Origin.CO_SELL,
            status="qualified",
            email=f"buyer{number}@{customer.lower()}.example",
            first_name=customer,
            last_name="Buyer",
            company=customer,
        )
        factories.make_activity(lead=lead, listing=listing, action_code=CO_SELL_ACTION)
        Referral.objects.create(
            publisher=publisher,
            lead=lead,
            partner_center_id=f"ref-{number}",
            name=f"{customer} data platform",
            customer_name=customer,
            customer_need="A data platform for the sales team.",
            status=status,
            substatus=substatus,
            close_date=close,
            deal_value=value,
            currency="USD",
            seller_name="Sam Seller",
            seller_email="sam.seller@microsoft.example",
            sync_state="synced",
        )
    return Referral.objects.get(partner_center_id="ref-0")


def _names(page) -> list[str]:
    return [name.strip() for name in page.locator("tbody th.col-name a").all_inner_texts()]


def _current_nav(page) -> list[str]:
    return page.locator(".main-nav a[aria-current='page']").all_inner_texts()


@pytest.mark.parametrize("locale", ["en-US", "es-ES"])
def test_the_referral_list_filters_sorts_and_opens_a_referral(watched_in, locale):
    words = WORDS[locale]
    language = locale[:2]
    membership = factories.make_membership()
    membership.publisher.co_sell_enrolled = True
    membership.publisher.save()
    fabrikam = _seed(membership.publisher)
    watched = watched_in(locale)
    watched.page.set_viewport_size({"width": 1366, "height": 900})
    log_in(watched, membership.user.username, "correct horse battery staple")
    page = watched.page
    page.set_default_timeout(TIMEOUT_MS)

    # Filtered on the Partner Center status Active: three referrals
    page.goto("/referrals/")
    assert _current_nav(page) == [words["nav"]]
    page.locator("select[name='referral_status']").select_option("Active")
    page.wait_for_url("**referral_status=Active**")
    expect(page.locator("tbody tr")).to_have_count(3)
    expect(page.locator("tbody td.col-pc_status").first).to_have_text(words["active"])

    # Sorted by close date: soonest first, the one without a date last; then the other way
    page.locator("th.col-close_date a.sort-link").click()
    page.wait_for_url("**sort=close_date**")
    expect(page.locator("th.col-close_date")).to_have_attribute("aria-sort", "ascending")
    assert _names(page) == ["Contoso Buyer", "Fabrikam Buyer", "Northwind Buyer"]
    page.locator("th.col-close_date a.sort-link").click()
    page.wait_for_url("**sort=-close_date**")
    expect(page.locator("th.col-close_date")).to_have_attribute("aria-sort", "descending")
    assert _names(page) == ["Fabrikam Buyer", "Contoso Buyer", "Northwind Buyer"]

    # By deal value, largest first, the one without a value last
    page.locator("th.col-deal_value a.sort-link").click()
    page.wait_for_url("**sort=-deal_value**")
    assert _names(page) == ["Fabrikam Buyer", "Northwind Buyer", "Contoso Buyer"]
    page.locator("select[name='referral_status']").select_option("")
    page.wait_for_url(lambda url: "referral_status=Active" not in url)
    expect(page.locator("tbody tr")).to_have_count(5)
    # The filter kept the sort the header chose
    assert "sort=-deal_value" in page.url
    assert _names(page) == [
        "Woodgrove Buyer",
        "Fabrikam Buyer",
        "Northwind Buyer",
        "Tailspin Buyer",
        "Contoso Buyer",
    ]
    watched.assert_clean()
    page.screenshot(path=str(SHOTS / f"referral-list-{language}.png"), full_page=True)

    # The referral's page and its lead's page: Co-Sell is the current section
    page.locator("td.col-referral a", has_text="Fabrikam data platform").click()
    page.wait_for_url(f"**/referrals/{fabrikam.pk}/")
    assert _current_nav(page) == [words["nav"]]
    expect(page.locator("body")).not_to_contain_text("Unknown action")
    page.locator(f"a[href='/leads/{fabrikam.lead.uuid}/']").first.click()
    page.wait_for_url(f"**/leads/{fabrikam.lead.uuid}/")
    assert _current_nav(page) == [words["nav"]]
    expect(page.locator("body")).to_contain_text(words["activity"])
    expect(page.locator("body")).not_to_contain_text("Unknown action")
    expect(page.locator("body")).not_to_contain_text("Acción desconocida")
    watched.assert_clean()
