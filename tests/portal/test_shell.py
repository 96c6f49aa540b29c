"""The portal shell: sign-in, the dashboard, the publisher switcher, headers."""

import re

import pytest
from django.urls import reverse

from leads.catalog.storefronts import Storefront
from portal.tenancy import middleware as tenancy
from tests import factories

PASSWORD = "correct horse battery staple"


def _login(client, user):
    response = client.post(
        reverse("login"), {"username": user.get_username(), "password": PASSWORD}
    )
    assert response.status_code == 302
    return response


# --- Sign-in and sign-out ------------------------------------------------------------------


def test_login_page_renders(client, db):
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b'name="password"' in response.content
    assert b'<label for="id_username"' in response.content


def test_login_then_home_shows_publisher_and_listings(client, publisher, owner):
    factories.make_listing(publisher=publisher, name="Contoso CRM for Teams")
    factories.make_listing(
        publisher=publisher,
        storefront=Storefront.AZURE_MARKETPLACE,
        listing_type="technology",
        name="Contoso Data Box",
        lead_management_enabled=True,
    )

    response = _login(client, owner)
    assert response.url == reverse("home")
    home = client.get(reverse("home"))

    assert home.status_code == 200
    content = home.content.decode()
    assert publisher.name in content
    assert "Contoso CRM for Teams" in content
    assert "Contoso Data Box" in content
    assert "Azure Marketplace" in content
    assert "Draft" in content
    # The dashboard's listings card is a summary that links to the listings page.
    assert content.count("Lead management not enabled") == 1
    assert 'href="/listings/"' in content
    assert "Promote your business with Microsoft" in content


def test_home_links_to_the_co_sell_program(client, owner, settings):
    settings.CO_SELL_PROGRAM_URL = "https://co-sell.example/program"
    client.force_login(owner)

    response = client.get(reverse("home"))

    assert b'href="https://co-sell.example/program"' in response.content


def test_logout_by_post_ends_the_session(client, owner):
    client.force_login(owner)

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert response.url == reverse("login")
    assert client.get(reverse("home")).status_code == 302


def test_logout_by_get_is_refused(client, owner):
    client.force_login(owner)

    response = client.get("/accounts/logout/")

    assert response.status_code == 405
    assert client.get(reverse("home")).status_code == 200


def test_anonymous_home_redirects_to_login(client, db):
    response = client.get("/")

    assert response.status_code == 302
    assert response.url == "/accounts/login/?next=/"


def test_staff_without_membership_sees_no_publisher_page(client, staff_user):
    client.force_login(staff_user)

    response = client.get(reverse("home"))

    assert response.status_code == 200
    assert b"You are not a member of any publisher yet" in response.content
    assert b'href="/admin/"' in response.content


def test_user_without_membership_gets_no_admin_link(client, db):
    user = factories.make_user()
    client.force_login(user)

    response = client.get(reverse("home"))

    assert b"You are not a member of any publisher yet" in response.content
    assert b'href="/admin/"' not in response.content


# --- Tenancy -------------------------------------------------------------------------------


def test_home_never_shows_another_publishers_listings(client, publisher, owner, other_publisher):
    factories.make_listing(publisher=publisher, name="Alpha Analytics")
    factories.make_listing(publisher=other_publisher, name="Bravo Secret Listing")
    client.force_login(owner)

    response = client.get(reverse("home"))

    assert b"Alpha Analytics" in response.content
    assert b"Bravo Secret Listing" not in response.content
    assert b"Other Publisher" not in response.content


def test_switcher_shown_only_with_several_memberships(client, publisher, owner, other_publisher):
    client.force_login(owner)
    assert b'action="/publisher/switch/"' not in client.get(reverse("home")).content

    factories.make_membership(user=owner, publisher=other_publisher)

    assert b'action="/publisher/switch/"' in client.get(reverse("home")).content


def test_switcher_switches_publisher(client, publisher, owner):
    second = factories.make_publisher(name="Zeta Software")
    factories.make_membership(user=owner, publisher=second)
    factories.make_listing(publisher=second, name="Zeta Listing")
    client.force_login(owner)
    assert b"Zeta Listing" not in client.get(reverse("home")).content

    response = client.post(reverse("switch-publisher"), {"publisher": second.pk})

    assert response.status_code == 302
    assert response.url == reverse("home")
    assert client.session[tenancy.SESSION_KEY] == second.pk
    home = client.get(reverse("home"))
    assert b"Zeta Listing" in home.content
    assert home.context["current_publisher"] == second


def test_switching_to_a_publisher_without_membership_is_404(
    client, publisher, owner, other_publisher
):
    factories.make_listing(publisher=other_publisher, name="Bravo Secret Listing")
    client.force_login(owner)

    response = client.post(reverse("switch-publisher"), {"publisher": other_publisher.pk})

    assert response.status_code == 404
    assert tenancy.SESSION_KEY not in client.session
    assert b"Bravo Secret Listing" not in client.get(reverse("home")).content


@pytest.mark.parametrize("value", ["", "abc", "999999999"])
def test_switching_to_a_bad_id_is_404(client, owner, value):
    client.force_login(owner)

    response = client.post(reverse("switch-publisher"), {"publisher": value})

    assert response.status_code == 404
    assert tenancy.SESSION_KEY not in client.session


def test_switcher_refuses_get(client, owner):
    client.force_login(owner)

    assert client.get(reverse("switch-publisher")).status_code == 405


def test_forged_session_publisher_falls_back_to_own(client, publisher, owner, other_publisher):
    factories.make_listing(publisher=other_publisher, name="Bravo Secret Listing")
    client.force_login(owner)
    session = client.session
    session[tenancy.SESSION_KEY] = other_publisher.pk
    session.save()

    response = client.get(reverse("home"))

    assert response.context["current_publisher"] == publisher
    assert b"Bravo Secret Listing" not in response.content


# --- Language and headers ------------------------------------------------------------------


def test_accept_language_es_renders_spanish(client, db):
    response = client.get("/accounts/login/", headers={"accept-language": "es"})

    assert response.status_code == 200
    assert b'<html lang="es">' in response.content


def test_default_language_is_english(client, db):
    response = client.get("/accounts/login/")

    assert b'<html lang="en">' in response.content


def test_language_switcher_sets_the_language(client, db):
    response = client.post("/i18n/setlang/", {"language": "es", "next": "/accounts/login/"})

    assert response.status_code == 302
    assert response.url == "/accounts/login/"
    assert b'<html lang="es">' in client.get("/accounts/login/").content


def test_pages_have_skip_link_and_landmarks(client, owner):
    client.force_login(owner)

    content = client.get(reverse("home")).content.decode()

    assert 'href="#main"' in content
    assert '<main id="main"' in content
    assert "<nav" in content
    assert 'role="banner"' in content
    assert 'role="contentinfo"' in content
    assert "style=" not in content
    # Scripts only from our own static files: no inline script anywhere. Chart data
    # travels in json_script data blocks, which browsers never execute.
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", content, re.S)
    code = [(attrs, body) for attrs, body in scripts if 'type="application/json"' not in attrs]
    assert code
    assert all('src="/static/' in attrs and not body.strip() for attrs, body in code)


def test_security_headers(client, db):
    response = client.get("/accounts/login/")

    csp = response["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert "'self'" in directives["script-src"]
    assert "'unsafe-inline'" not in directives["script-src"]
    assert directives["style-src"] == ["'self'"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_home_renders_in_spanish(client, publisher, owner):
    factories.make_listing(publisher=publisher, name="Shown Listing")
    client.force_login(owner)

    response = client.get(reverse("home"), headers={"accept-language": "es"})

    assert response.status_code == 200
    assert b'<html lang="es">' in response.content
    assert b"Shown Listing" in response.content
