"""The publisher's day, end to end in a real browser.

An owner signs in, creates an HTTPS CRM target pointing at a strict Standard Webhooks
receiver on the loopback (TLS with the test CA), verifies it with a test lead, publishes
an AppSource listing through the gate, receives a lead from the intake API, sees it
qualified, delivered, and exports it as CSV. Once in English, once in Spanish.

Every page is screenshotted (var/test-artifacts/screenshots/e2e-<lang>-NN-<page>.png)
and must be clean: no dialog, no console error, no CSP violation. Buttons and fields are
found by their ids, names and URLs, so that the same steps drive both languages; what a
page says is checked against the catalogue (`gettext` in the page's language).
"""

import csv
import io
import warnings

import httpx
import pytest
from django.utils import translation
from playwright.sync_api import expect
from standardwebhooks.webhooks import Webhook

from crm.connectors import http_client
from crm.models import CrmTarget, Delivery
from crm.services import deliveries_drain, send_test_lead
from leads.catalog.storefronts import Storefront
from leads.intake import api_keys
from leads.models import ApiKey, Lead, Listing
from leads.scoring import services as scoring_services
from tests import factories
from tests.browser.conftest import WatchedPage
from tests.crm.receivers import LoopbackServer, ca_bundle_path
from tests.crm.receivers.https_receiver import HttpsReceiver

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
TIMEOUT_MS = 15_000


class LateSecretReceiver(HttpsReceiver):
    """The strict HTTPS receiver, started before its secret is known: the portal generates
    the signing secret only when the target (with this receiver's URL) is saved. Until
    `use_secret`, every request is refused as unsigned."""

    def __init__(self) -> None:
        LoopbackServer.__init__(self, tls=True)
        self.webhook = None
        self.effects = {}

    def use_secret(self, secret: str) -> None:
        self.webhook = Webhook(secret)

    def _refusal(self, method: str, headers: dict, body: bytes):
        if self.webhook is None:
            return 401, "signature: the receiver has no secret yet"
        return super()._refusal(method, headers, body)


@pytest.fixture
def receiver(monkeypatch):
    # The live server runs in a thread of this process: the connectors read this there.
    monkeypatch.setenv("CRM_EXTRA_CA_BUNDLE", ca_bundle_path())
    http_client.clients_close()
    with LateSecretReceiver() as server:
        yield server
    http_client.clients_close()


class Journey:
    """Screenshots and language checks of one run: e2e-<lang>-NN-<name>."""

    def __init__(self, watched: WatchedPage, lang: str) -> None:
        self.watched = watched
        self.page = watched.page
        self.lang = lang
        self.step = 0
        self.untranslated: list[str] = []

    def says(self, msgid: str) -> str:
        """`msgid` as the page's language renders it."""
        with translation.override(self.lang):
            return translation.gettext(msgid)

    def check(self, name: str, msgid: str) -> None:
        """The page is in the run's language, shows `msgid` in it, and is clean."""
        self.page.wait_for_load_state()
        expect(self.page.locator("html")).to_have_attribute("lang", self.lang)
        expected = self.says(msgid)
        if self.lang != "en" and expected == msgid:
            self.untranslated.append(f"{name} ({msgid!r})")
        expect(self.page.locator("body")).to_contain_text(expected)
        self.step += 1
        self.watched.screenshot(f"e2e-{self.lang}-{self.step:02d}-{name}")
        self.watched.assert_clean()


def _intake_payload(*, first: str, last: str, email: str, offer_id: str) -> dict:
    return {
        "UserDetails": {
            "FirstName": first,
            "LastName": last,
            "Email": email,
            "Phone": "+34 910 000 000",
            "Country": "ES",
            "Company": "Analytical Engines SL",
            "Title": "CTO",
        },
        "LeadSource": "AppSource-INS|Contoso Inbox",
        "ActionCode": "INS",
        "OfferId": offer_id,
        "OfferTitle": "Contoso Inbox",
        "Description": "Wants a demo",
    }


PEOPLE = {
    "en": ("Grace", "Hopper", "grace.hopper@analytical.example"),
    "es": ("Ada", "Byron", "ada.byron@analytical.example"),
}


@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_publisher_verifies_a_target_publishes_and_receives_a_delivered_lead(
    lang, watched_in, live_server, receiver
):
    # Given an owner whose threshold qualifies every lead, and an AppSource storefront key
    membership = factories.make_membership(
        publisher=factories.make_publisher(name="Contoso", qualification_threshold=0)
    )
    publisher, user = membership.publisher, membership.user
    scoring_services.scoring_rules_seed_defaults(publisher=publisher)
    _, storefront_key = api_keys.api_key_create(
        kind=ApiKey.Kind.STOREFRONT, name="appsource", storefront=Storefront.APPSOURCE
    )
    journey = Journey(watched_in("es-ES" if lang == "es" else "en-US"), lang)
    page = journey.page
    page.set_default_timeout(TIMEOUT_MS)

    # 1. The owner signs in
    page.goto("/accounts/login/")
    journey.check("login", "Sign in")
    page.locator("#id_username").fill(user.username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form[action='/accounts/login/'] button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/")
    journey.check("dashboard", "Qualified leads")

    # 2. …creates an HTTPS target pointing at the loopback receiver
    page.locator("header a[href='/crm/targets/']").click()
    journey.check("targets", "CRM targets")
    page.locator("a[href='/crm/targets/new/']").first.click()
    journey.check("target-kinds", "Add a CRM target")
    page.locator("a[href='/crm/targets/new/?kind=https']").click()
    journey.check("target-form", "Create target")
    page.locator("#id_name").fill("Contoso webhook")
    page.locator("#id_config_httpsEndpointUrl").fill(receiver.url("/leads"))
    # A new target has no extra fields, so the box starts empty. (It used to show "{}",
    # the model's default dict, which the form then refused: "Line 1: write key = value".)
    expect(page.locator("#id_extra_fields")).to_have_value("")
    page.locator("form.card button[type=submit]").click()
    page.wait_for_url("**/crm/targets/*/")
    target = CrmTarget.objects.get(publisher=publisher)
    assert target.kind == CrmTarget.Kind.HTTPS and target.verified_at is None
    # The signing secret is shown this once: the receiver's owner copies it into its settings.
    secret = page.locator(".secret-once code").inner_text().strip()
    assert secret.startswith("whsec_") and secret == target.config["signingSecret"]
    receiver.use_secret(secret)
    journey.check("target-created", "Your signing secret")

    # 3. …sends a test lead and sees the target verified
    page.locator(f"form[action='/crm/targets/{target.pk}/test/'] button[type=submit]").click()
    # The page polls while a worker sends it (here the test process runs the worker's task).
    expect(page.locator("#test-result .badge-pending")).to_be_visible()
    sent = Delivery.objects.get(target=target, event=Delivery.Event.TEST)
    send_test_lead.apply(args=[sent.pk])
    expect(page.locator("#test-result .badge-delivered")).to_be_visible()
    expect(page.locator("#verified-badge.badge-verified")).to_be_visible()
    assert receiver.rejections() == []
    (test_lead,) = receiver.effects.values()
    assert test_lead["UserDetails"]["FirstName"].startswith("MSFT_TEST_")
    target.refresh_from_db()
    assert target.verified_at is not None
    journey.check("target-verified", "Delivered")

    # 4. …creates an AppSource listing, enables lead management and publishes it
    page.locator("header a[href='/listings/']").click()
    journey.check("listings", "Listings")
    page.locator("a[href='/listings/new/']").click()
    journey.check("listing-form", "Add a listing")
    page.locator(f"input[name=storefront][value='{Storefront.APPSOURCE}']").check()
    page.locator("#id_listing_type").select_option("app")
    page.locator("#id_name").fill("Contoso Inbox")
    page.locator("#id_offer_id").fill("contoso.contoso-inbox")
    page.locator("form.card button[type=submit]").click()
    page.wait_for_url("**/listings/*/")
    listing = Listing.objects.get(publisher=publisher)
    journey.check("listing-draft", "Before you can publish this listing:")
    page.locator("button[name=action][value=lead_management_on]").click()
    expect(page.locator("#lead-management .badge-on")).to_be_visible()
    # The target is verified: only lead management stood in the way
    expect(page.locator("#publish-blockers")).to_have_count(0)
    journey.check("listing-ready", "Everything is ready: you can publish this listing.")
    page.locator("button[name=action][value=publish]").click()
    expect(page.locator(".badge-published")).to_be_visible()
    listing.refresh_from_db()
    assert listing.status == Listing.Status.PUBLISHED
    journey.check("listing-published", "This listing is published: its leads reach you.")

    # 5. A lead comes in through the intake API and is listed as qualified
    first, last, email = PEOPLE[lang]
    answer = httpx.post(
        f"{live_server.url}/api/v1/leads",
        json=_intake_payload(first=first, last=last, email=email, offer_id=listing.offer_id),
        headers={"Authorization": f"Bearer {storefront_key}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    lead = Lead.objects.get(publisher=publisher, email=email)
    assert lead.status == Lead.Status.QUALIFIED
    page.locator("header a[href='/leads/']").click()
    row = page.locator("table.lead-table tbody tr", has_text=email)
    expect(row.locator(".badge-status-qualified")).to_have_text(journey.says("Qualified"))
    journey.check("leads", "Marketplace leads")

    # 6. …opens it, sees its delivery pending, then delivered
    row.locator(f"a[href='/leads/{lead.uuid}/']").click()
    page.wait_for_url(f"**/leads/{lead.uuid}/")
    delivery_row = page.locator(".delivery-table tbody tr", has_text="Contoso webhook")
    expect(delivery_row.locator(".badge-delivery-pending")).to_be_visible()
    journey.check("lead-pending", "Deliveries")
    report = deliveries_drain(target_id=target.pk)
    assert (report.delivered, report.failed) == (1, 0)
    delivered = [body for body in receiver.effects.values() if body is not test_lead]
    assert [body["UserDetails"]["Email"] for body in delivered] == [email]
    assert receiver.rejections() == []
    page.reload()
    expect(delivery_row.locator(".badge-delivery-delivered")).to_have_text(
        journey.says("Delivered")
    )
    assert lead.deliveries.get().status == Delivery.Status.DELIVERED
    journey.check("lead-delivered", "Deliveries")

    # …and exports the list as CSV
    page.locator(".back-link a").click()
    page.wait_for_url("**/leads/")
    journey.check("leads-again", "Export CSV")
    page.locator(".export-menu summary").click()  # for Excel, or for a CRM's import
    with page.expect_download() as download_info:
        page.locator("a[data-export='excel']").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    with open(download.path(), encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(io.StringIO(handle.read())))
    (exported,) = rows
    assert (exported["Email"], exported["First name"], exported["Last name"]) == (
        email,
        first,
        last,
    )
    assert exported["Lead ID"] == str(lead.uuid)

    if journey.untranslated:
        warnings.warn(
            "Pages still in English under Accept-Language es (missing from locale/es): "
            + "; ".join(journey.untranslated),
            stacklevel=1,
        )
