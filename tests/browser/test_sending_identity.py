"""The sending identity page in a real browser: an owner sets a From address, publishes
the records on a loopback DNS server (never real DNS), presses "Check DNS" and sees each
record right. With DOCS_SCREENSHOTS=1 the page's screenshot is written to docs/img/
(docs/portal.md shows it), else beside the other screenshots."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from leads.models import SendingIdentity
from leads.sending import services
from tests import factories
from tests.browser.conftest import ARTIFACTS, log_in
from tests.leads.dns_support import loopback_dns, publish_identity  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
SHOTS = DOCS_IMG if os.environ.get("DOCS_SCREENSHOTS") else ARTIFACTS
TIMEOUT_MS = 15_000


def test_an_owner_sets_and_verifies_the_sending_identity(watched, loopback_dns):  # noqa: F811
    membership = factories.make_membership(role="owner")
    publisher = membership.publisher
    publisher.name = "Contoso"
    publisher.save(update_fields=["name"])
    page = watched.page
    log_in(watched, membership.user.username, "correct horse battery staple")

    # From the settings page to the identity page
    page.goto("/settings/")
    page.get_by_role("link", name="Your sending identity").click()
    expect(page.get_by_role("heading", name="Sending identity", exact=True)).to_be_visible()

    # A bad address is refused next to the field
    page.get_by_role("textbox", name="From address").fill("news@localhost")
    page.get_by_role("button", name="Save the From address").click()
    expect(page.locator("#identity form")).to_contain_text("Use an address at a public domain")

    # A good one gives the three records to publish
    page.get_by_role("textbox", name="From address").fill("news@contoso.example")
    page.get_by_role("button", name="Save the From address").click()
    expect(page.locator("#record-spf")).to_contain_text("include:_spf.portal.test")
    expect(page.locator("#identity-status")).to_have_text("Not verified")
    identity = SendingIdentity.objects.get(publisher=publisher)
    expect(page.locator("#record-dkim")).to_contain_text(identity.dkim_public_key[:40])

    # The publisher publishes them; "Check DNS" verifies each one
    publish_identity(loopback_dns, identity, services.identity_records(identity))
    page.get_by_role("button", name="Check DNS").click()
    expect(page.locator("#identity-status")).to_have_text("Verified", timeout=TIMEOUT_MS)
    for key in ("spf", "dkim", "dmarc"):
        expect(page.locator(f"#record-{key}")).to_contain_text("Right")
    expect(page.locator("#rate-complaint")).to_have_text("0.00 %")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "sending-identity.png"), full_page=True)
