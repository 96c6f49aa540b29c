"""Every lead field is attacker-controlled.

A lead, its activity, its Co-Sell twin, its campaign, listing, CRM targets and
deliveries all carry an XSS polyglot in every string field (shortened where a column is
short). Each portal page that shows them, and the admin pages of Lead, Delivery and
CrmTarget, must render the payload as text: no dialog, no CSP violation, no console
error, no element or handler injected into the DOM, and `{{7*7}}` left as it is.
"""

from urllib.parse import urlencode

import pytest
from django.core.validators import validate_email
from django.utils import timezone
from playwright.sync_api import expect

from crm.models import CrmTarget, Delivery
from leads.lifecycle import services as lifecycle_services
from leads.models import Lead, LeadOrigin, Referral
from tests import factories
from tests.browser.conftest import WatchedPage

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
# alert(1) runs if an attribute or an element is injected, alert(2) if a script is;
# {{7*7}} shows whether a client-side template engine evaluates text.
PAYLOAD = '"><img src=x onerror=alert(1)><script>alert(2)</script>{{7*7}}\'";!--'
SHORT = "\"><script>alert(2)</script>{{7*7}}'"  # phone: 50 characters at most
CODE = "<script>alert(2)</script>"  # action code: 40 characters at most
# A valid address (a quoted local part may hold <, >, ' and braces): EmailValidator agrees.
EMAIL = '"<script>alert(2)</script>{{7*7}}\'"@xss.example'
SCRIPT_TEXT = "<script>alert(2)</script>"
ESCAPED = "&lt;script&gt;alert(2)&lt;/script&gt;"
SEARCH = urlencode({"q": PAYLOAD})  # a search for the payload, echoed in the search box

# What a page may not contain once rendered: the payload's img, a script that would run
# and alerts (json_script data may quote the payload: it must still parse as JSON), an
# element with an inline event handler.
INJECTED = """() => ({
  images: document.querySelectorAll('img[src="x"]').length,
  scripts: [...document.scripts].filter((s) => {
    if (s.type === 'application/json') {
      try { JSON.parse(s.textContent); return false; } catch (e) { return true; }
    }
    return s.textContent.includes('alert(');
  }).length,
  handlers: [...document.querySelectorAll('*')]
    .filter((e) => [...e.attributes].some((a) => a.name.toLowerCase().startsWith('on')))
    .map((e) => e.outerHTML.slice(0, 120)),
})"""


def _world():
    """A publisher whose every lead-facing string is the payload."""
    publisher = factories.make_publisher(name="Contoso", co_sell_enrolled=True)
    owner = factories.make_membership(publisher=publisher).user
    listing = factories.make_listing(
        publisher=publisher, name=PAYLOAD, offer_id=f"contoso.{CODE}", lead_management_enabled=True
    )
    campaign = factories.make_campaign(
        publisher=publisher, name=PAYLOAD, code="xss-campaign", listings=[listing]
    )
    target = factories.make_target(
        publisher=publisher,
        name=PAYLOAD,
        config={
            "httpsEndpointUrl": "https://crm.example/leads",
            "signingSecret": "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0",
            "contactEmail": "ops@crm.example",
        },
    )
    paused = factories.make_target(
        publisher=publisher, name=f"Paused {PAYLOAD}", is_active=False, paused_reason=PAYLOAD
    )
    fields = {
        "first_name": PAYLOAD,
        "last_name": PAYLOAD,
        "phone": SHORT,
        "company": PAYLOAD,
        "title": PAYLOAD,
        "country": "ES",
        "score": 40,
        "score_breakdown": [{"rule": PAYLOAD, "points": 40}],
        "first_campaign": campaign,
        "latest_campaign": campaign,
    }
    lead = factories.make_lead(publisher=publisher, email=EMAIL, **fields)
    cosell = factories.make_lead(
        publisher=publisher, email=EMAIL, origin=LeadOrigin.CO_SELL, status_reason=PAYLOAD, **fields
    )
    for person in (lead, cosell):
        factories.make_activity(
            lead=person,
            listing=listing,
            campaign=campaign if person is lead else None,
            action_code=CODE,
            lead_source=PAYLOAD,
            description=PAYLOAD,
            external_id=f"{person.origin}-{PAYLOAD}",
            raw_payload={"Description": PAYLOAD},
        )
    # A Co-Sell referral as the Referrals API sync keeps it, the payload in its free text.
    Referral.objects.create(
        publisher=publisher,
        lead=cosell,
        partner_center_id="ref-xss",
        name=PAYLOAD,
        customer_name=PAYLOAD,
        customer_need=PAYLOAD,
        seller_name=PAYLOAD,
        status_reason=PAYLOAD,
        currency="USD",
        sync_state="synced",
    )
    # A move by hand with the payload as its reason; it queues the lead's deliveries.
    lifecycle_services.lead_transition(lead=lead, to_status="qualified", by=owner, reason=PAYLOAD)
    lead.refresh_from_db()
    assert lead.status_reason == PAYLOAD
    assert lead.deliveries.count() == 2  # the active and the paused target cover it
    Delivery.objects.filter(lead=lead).update(
        status=Delivery.Status.FAILED,
        attempts=3,
        last_status_code=400,
        last_error=PAYLOAD,
        response_excerpt=PAYLOAD,
        next_attempt_at=timezone.now(),
    )
    return owner, lead, cosell, listing, campaign, target, paused


def _log_in(watched: WatchedPage, path: str, username: str) -> None:
    page = watched.page
    page.goto(path)
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form:has(#id_password) [type=submit]").click()
    page.wait_for_load_state()
    expect(page.locator("#id_password")).to_have_count(0)


def _assert_inert(
    watched: WatchedPage, name: str, path: str, *, shown: bool = True, tolerate=()
) -> None:
    """Open `path`: it must be clean, and every payload on it plain text."""
    page = watched.page
    response = page.goto(path)
    assert response is not None and response.status == 200, f"{path}: {response.status}"
    page.wait_for_load_state()
    watched.screenshot(f"xss-{name}")
    watched.assert_clean(tolerate=tolerate)
    injected = page.evaluate(INJECTED)
    assert injected == {"images": 0, "scripts": 0, "handlers": []}, f"{path}: {injected}"
    if shown:
        text = page.evaluate("document.body.textContent")
        assert SCRIPT_TEXT in text, f"{path}: the payload is not shown as text"
        assert "{{7*7}}" in text, f"{path}: {{{{7*7}}}} is not shown as it is"
        assert ESCAPED in page.content(), f"{path}: no escaped payload in the DOM"


def test_a_payload_in_every_lead_field_is_rendered_as_text(watched_in, settings):
    validate_email(EMAIL)
    owner, lead, cosell, listing, campaign, target, paused = _world()
    referral = Referral.objects.get(lead=cosell)
    staff = factories.make_user(username="staff", is_staff=True, is_superuser=True)

    publisher_view = watched_in("en-US")
    publisher_view.page.set_default_timeout(15_000)
    _log_in(publisher_view, "/accounts/login/", owner.username)
    portal_pages = [
        ("dashboard", "/", False),  # the charts read the daily rollup, which has no row yet
        ("leads", "/leads/", True),
        ("leads-search", f"/leads/?{SEARCH}", True),  # the query echoed in the box
        ("lead-detail", f"/leads/{lead.uuid}/", True),
        ("referrals", "/referrals/", True),
        ("referral-detail", f"/leads/{cosell.uuid}/", True),
        ("referral-page", f"/referrals/{referral.pk}/", True),
        ("listings", "/listings/", True),
        ("listing-detail", f"/listings/{listing.pk}/", True),
        ("campaigns", "/campaigns/", True),
        ("campaign-detail", f"/campaigns/{campaign.pk}/", True),
        ("crm-targets", "/crm/targets/", True),
        ("crm-target-detail", f"/crm/targets/{target.pk}/", True),
        ("crm-target-paused", f"/crm/targets/{paused.pk}/", True),
        ("crm-deliveries", "/crm/deliveries/", True),
        ("crm-deliveries-of-lead", f"/crm/deliveries/?lead={lead.uuid}", True),
    ]
    for name, path, shown in portal_pages:
        _assert_inert(publisher_view, f"portal-{name}", path, shown=shown)
        if name == "leads-search":
            expect(publisher_view.page.locator("#id_q")).to_have_value(PAYLOAD)
            expect(publisher_view.page.locator("table.lead-table tbody tr")).to_have_count(1)

    staff_view = watched_in("en-US")
    staff_view.page.set_default_timeout(15_000)
    _log_in(staff_view, "/admin/login/?next=/admin/", staff.username)
    delivery = Delivery.objects.filter(lead=lead, target=target).get()
    activity = lead.activities.get()
    admin_pages = [
        ("lead-list", "/admin/leads/lead/", True),
        ("lead-search", f"/admin/leads/lead/?{SEARCH}", True),
        ("lead-change", f"/admin/leads/lead/{lead.pk}/change/", True),
        ("lead-activity-change", f"/admin/leads/leadactivity/{activity.pk}/change/", True),
        ("delivery-list", "/admin/crm/delivery/", True),
        ("delivery-change", f"/admin/crm/delivery/{delivery.pk}/change/", True),
        ("crmtarget-list", "/admin/crm/crmtarget/", True),
        ("crmtarget-change", f"/admin/crm/crmtarget/{target.pk}/change/", True),
        ("referral-list", "/admin/leads/referral/", True),
        ("referral-change", f"/admin/leads/referral/{referral.pk}/change/", True),
    ]
    for name, path, shown in admin_pages:
        _assert_inert(staff_view, f"admin-{name}", path, shown=shown)
        if name == "lead-search":
            expect(staff_view.page.locator("#searchbar")).to_have_value(PAYLOAD)

    # Nothing was written through the pages: the payload is stored as it came.
    assert Lead.objects.filter(first_name=PAYLOAD).count() == 2
    assert CrmTarget.objects.get(pk=target.pk).name == PAYLOAD
