"""Single sign-on and staff two-factor in a browser: Chromium signs in at a real OpenID
Provider (oidc-provider on loopback) and comes back to the portal's live server; the
portal's own pages (the button, the two-factor pages) stay clean under the CSP."""

from urllib.parse import urlsplit

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.tenancy.services import member_invite
from tests import factories
from tests.sso.provider import ACCOUNTS, CLIENT_ID, CLIENT_SECRET, DOMAIN, running_provider

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def provider_for_live_server(live_server):
    with running_provider(portal_url=live_server.url) as provider:
        yield provider


def _loopback_only(route):
    # The provider's development pages link a web font: the tests reach loopback only.
    if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
        route.continue_()
    else:
        route.abort()


def test_an_invited_user_signs_in_with_the_provider(
    browser, live_server, settings, provider_for_live_server
):
    settings.OIDC_ISSUER = provider_for_live_server.issuer
    settings.OIDC_CLIENT_ID, settings.OIDC_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
    settings.OIDC_ALLOWED_DOMAINS = [DOMAIN]
    settings.OIDC_PROVIDER_NAME = "Contoso"
    publisher = factories.make_publisher(name="Sso Apps")
    owner = factories.make_membership(publisher=publisher).user
    member_invite(
        publisher=publisher, email=ACCOUNTS["invited"]["email"], role="member", invited_by=owner
    )
    context = browser.new_context(base_url=live_server.url)
    context.route("**/*", _loopback_only)
    page = context.new_page()
    try:
        page.goto("/accounts/login/?next=/settings/")
        page.get_by_role("link", name="Sign in with Contoso").click()
        page.locator("input[name='login']").fill("invited")
        page.locator("input[name='password']").fill("any")
        page.locator("button[type='submit']").click()
        page.locator("button[type='submit']").first.click()  # the consent page
        page.wait_for_url(f"{live_server.url}/settings/")

        assert "Sso Apps" in page.content()
    finally:
        context.close()


def test_the_sign_in_page_shows_the_button_cleanly(watched, settings):
    settings.OIDC_ISSUER, settings.OIDC_CLIENT_ID = "http://127.0.0.1:9", "lead-portal"
    page = watched.page

    page.goto("/accounts/login/")

    assert page.get_by_role("link", name="Sign in with your organisation").is_visible()
    assert page.locator("input[name='password']").is_visible()
    watched.assert_clean()


def test_staff_enrol_two_factor_in_the_browser(watched, settings):
    settings.OTP_REQUIRED_FOR_STAFF = True
    factories.make_user(username="sam", is_staff=True, is_superuser=True)
    page = watched.page
    page.goto("/admin/login/?next=/admin/")
    page.locator("input[name='username']").fill("sam")
    page.locator("input[name='password']").fill(PASSWORD)
    page.locator("input[name='password']").press("Enter")
    page.wait_for_url(lambda url: "/accounts/2fa/?next=" in url)

    qr = page.locator("img.otp-qr")
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")
    device = TOTPDevice.objects.get(user__username="sam")
    code = totp(device.bin_key, device.step, device.t0, device.digits)
    page.locator("input[name='token']").fill(f"{code:06d}")
    page.locator("input[name='token']").press("Enter")
    page.wait_for_url(lambda url: urlsplit(url).path == "/admin/")

    assert page.locator("#site-name").is_visible()
    watched.assert_clean()
