"""The listing page's Inbound panel in a real browser: an owner creates the Partner Center
URL, sees it once with its copy button and instructions, and watches the panel turn
"Connected" when Partner Center's test lead arrives (htmx polls the status).

The panel's screenshots are the ones docs/partner-center.md shows: with
DOCS_SCREENSHOTS=1 they are written to docs/img/ (commit them), else beside the other
screenshots, so that an ordinary run leaves the tree alone.
"""

import os
from pathlib import Path

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from inbound.models import InboundItem
from leads.catalog.storefronts import Storefront
from tests import factories
from tests.browser.conftest import ARTIFACTS, log_in
from tests.inbound.conftest import FAQ_TEST_LEAD_TEXT

pytestmark = pytest.mark.django_db(transaction=True)

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
SHOTS = DOCS_IMG if os.environ.get("DOCS_SCREENSHOTS") else ARTIFACTS
TIMEOUT_MS = 15_000


def panel_shot(page, name: str) -> None:
    """The panel alone, for the publisher guide."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#inbound").screenshot(path=str(SHOTS / f"{name}.png"))


def test_an_owner_connects_a_listing_to_partner_center(watched, live_server):
    membership = factories.make_membership()
    listing = factories.make_listing(
        publisher=membership.publisher,
        storefront=Storefront.AZURE_MARKETPLACE,
        offer_id="contoso.contoso-crm",
        name="Contoso CRM",
        lead_management_enabled=True,
        status="published",
        published_at=timezone.now(),
    )
    page = watched.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(watched, membership.user.username, "correct horse battery staple")

    # The panel loads into the listing page, with no URL yet.
    page.goto(f"/listings/{listing.pk}/")
    expect(page.locator("#inbound")).to_contain_text("No inbound URL", timeout=TIMEOUT_MS)
    panel_shot(page, "inbound-none")

    # Creating it shows the URL once, its copy button and the steps in Partner Center.
    page.get_by_role("button", name="Create inbound URL").click()
    url_box = page.locator("#inbound-url-value")
    expect(url_box).to_contain_text("/api/v1/inbound/partner-center/", timeout=TIMEOUT_MS)
    url = url_box.inner_text().strip()
    copy = page.locator("button[data-copy]")
    expect(copy).to_have_text("Copy URL")
    expect(copy).to_be_visible()
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == url
    expect(page.locator("#inbound")).to_contain_text("Choose HTTPS endpoint")
    expect(page.locator("#inbound-status")).to_contain_text("Not connected yet")
    panel_shot(page, "inbound-created")
    watched.screenshot("inbound-created")

    # Partner Center validates the destination: its test lead, through the live server.
    path = url.split("/api/v1/", 1)[1]
    answer = httpx.post(
        f"{live_server.url}/api/v1/{path}",
        content=FAQ_TEST_LEAD_TEXT,
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 200
    assert InboundItem.objects.get().is_test

    # The status part polls and turns "Connected" without a reload.
    expect(page.locator("#inbound-status")).to_contain_text("Connected", timeout=TIMEOUT_MS)
    panel_shot(page, "inbound-connected")

    # A body that is no lead becomes a reject the owner sees, with a retry button.
    httpx.post(f"{live_server.url}/api/v1/{path}", content="[1]")
    from inbound import services

    services.inbound_item_process(item_id=InboundItem.objects.get(is_test=False).pk)
    page.reload()
    expect(page.locator("#inbound")).to_contain_text("not a JSON object", timeout=TIMEOUT_MS)
    expect(page.get_by_role("button", name="Retry")).to_be_visible()
    assert url not in page.content()  # shown once
    panel_shot(page, "inbound-rejects")
    watched.assert_clean()
