"""Single sign-on against a real OpenID Provider (oidc-provider on loopback): the
authorization-code flow with PKCE, walked as a browser would, and the membership rules."""

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.contrib.auth import SESSION_KEY, get_user_model
from django.test import Client

from portal.sso.models import SsoIdentity
from portal.tenancy.services import member_invite
from tests.factories import make_membership, make_publisher, make_user
from tests.sso.provider import ACCOUNTS, POST_LOGOUT_URI, walk_provider

pytestmark = pytest.mark.django_db
User = get_user_model()


def sign_in(client: Client, browser: httpx.Client, account: str):
    """Start at the portal's button, sign in at the provider, and land on the callback."""
    start = client.get("/oidc/authenticate/", {"next": "/settings/"})
    assert start.status_code == 302
    callback = walk_provider(browser, start["Location"], account)
    parts = urlsplit(callback)
    return client.get(parts.path, parse_qs(parts.query))


@pytest.fixture
def browser():
    with httpx.Client(timeout=10.0) as client:
        yield client


def signed_in_user(client: Client):
    user_id = client.session.get(SESSION_KEY)
    return User.objects.get(pk=user_id) if user_id else None


def test_an_invited_email_signs_in_to_its_membership(sso, browser, django_assert_max_num_queries):
    publisher = make_publisher()
    inviter = make_membership(publisher=publisher).user
    membership, _ = member_invite(
        publisher=publisher, email=ACCOUNTS["invited"]["email"], role="member", invited_by=inviter
    )
    client = Client()
    users_before = User.objects.count()

    with django_assert_max_num_queries(32):
        response = sign_in(client, browser, "invited")

    assert response.status_code == 302
    assert response["Location"] == "/settings/"
    assert signed_in_user(client) == membership.user
    assert User.objects.count() == users_before
    identity = SsoIdentity.objects.get(user=membership.user)
    assert (identity.issuer, identity.subject) == (sso.issuer, "invited")
    assert not User.objects.get(pk=membership.user.pk).is_staff
    assert client.get("/settings/").status_code == 200


def test_the_second_sign_in_matches_by_subject(sso, browser):
    user = make_user(username="ana", email=ACCOUNTS["invited"]["email"])
    make_membership(user=user)
    sign_in(Client(), browser, "invited")
    # The address moves to another account; the provider's subject still names Ana.
    User.objects.filter(pk=user.pk).update(email="ana.old@contoso.test")
    make_membership(user=make_user(email=ACCOUNTS["invited"]["email"]))

    client = Client()
    response = sign_in(client, browser, "invited")

    assert response.status_code == 302
    assert signed_in_user(client) == user


def test_an_unknown_email_gets_the_no_access_page_and_no_user(sso, browser):
    users_before = User.objects.count()
    client = Client()

    response = sign_in(client, browser, "stranger")

    assert response.status_code == 403
    assert "has no access to Lead Portal" in response.content.decode()
    assert User.objects.count() == users_before
    assert not SsoIdentity.objects.exists()
    assert signed_in_user(client) is None


def test_a_user_without_a_membership_gets_no_access(sso, browser):
    make_user(email=ACCOUNTS["stranger"]["email"])
    client = Client()

    response = sign_in(client, browser, "stranger")

    assert response.status_code == 403
    assert "has no access" in response.content.decode()
    assert signed_in_user(client) is None


def test_an_unverified_email_is_refused_even_when_invited(sso, browser):
    make_membership(user=make_user(email=ACCOUNTS["unverified"]["email"]))
    client = Client()

    response = sign_in(client, browser, "unverified")

    assert response.status_code == 403
    assert "did not confirm that this email address is verified" in response.content.decode()
    assert signed_in_user(client) is None
    assert not SsoIdentity.objects.exists()


def test_an_email_outside_the_allowed_domains_is_refused(sso, browser):
    make_membership(user=make_user(email=ACCOUNTS["outsider"]["email"]))
    client = Client()

    response = sign_in(client, browser, "outsider")

    assert response.status_code == 403
    assert "this email domain cannot sign in" in response.content.decode()
    assert signed_in_user(client) is None


def test_the_staff_group_claim_makes_a_staff_user(sso, browser):
    client = Client()

    response = sign_in(client, browser, "staff")

    assert response.status_code == 302
    user = signed_in_user(client)
    assert user.email == ACCOUNTS["staff"]["email"]
    assert user.is_staff and not user.is_superuser
    assert not user.has_usable_password()
    assert SsoIdentity.objects.get(user=user).staff_by_group
    assert client.get("/admin/").status_code == 200


def test_staff_from_the_group_goes_when_the_group_does(sso, browser, settings):
    client = Client()
    sign_in(client, browser, "staff")
    user = signed_in_user(client)
    settings.OIDC_STAFF_GROUP = "another-group"

    response = sign_in(Client(), browser, "staff")

    user.refresh_from_db()
    assert not user.is_staff
    assert response.status_code == 403  # no membership either: no access at all
    assert not SsoIdentity.objects.get(user=user).staff_by_group


def test_staff_that_an_admin_made_stays_staff_without_the_group(sso, browser):
    user = make_user(email=ACCOUNTS["stranger"]["email"], is_staff=True)
    client = Client()

    response = sign_in(client, browser, "stranger")

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.is_staff
    assert signed_in_user(client) == user


def test_logout_ends_the_session_at_the_provider_too(sso, browser):
    make_membership(user=make_user(email=ACCOUNTS["invited"]["email"]))
    client = Client()
    sign_in(client, browser, "invited")

    response = client.post("/accounts/logout/")

    assert signed_in_user(client) is None
    end_session = httpx.get(f"{sso.issuer}/.well-known/openid-configuration").json()[
        "end_session_endpoint"
    ]
    assert response.status_code == 302
    assert response["Location"].startswith(f"{end_session}?")
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["post_logout_redirect_uri"] == [POST_LOGOUT_URI]
    # The provider asks to confirm; the browser says yes and is sent back to the portal.
    confirm = browser.get(response["Location"])
    assert confirm.status_code == 200
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', confirm.text))
    action = re.search(r'action="([^"]+)"', confirm.text).group(1)
    done = browser.post(httpx.URL(end_session).join(action), data={**form, "logout": "yes"})
    assert done.status_code in (302, 303)
    assert done.headers["location"] == POST_LOGOUT_URI
    # The provider's session is gone: a new sign-in asks for the login again.
    again = client.get("/oidc/authenticate/")
    page = browser.get(again["Location"], follow_redirects=True)
    assert 'name="prompt" value="login"' in page.text


def test_a_password_user_signs_out_locally_only(sso):
    user = make_user()
    make_membership(user=user)
    client = Client()
    client.force_login(user)

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert signed_in_user(client) is None


def test_cancelling_at_the_provider_says_so(sso):
    client = Client()
    start = client.get("/oidc/authenticate/")
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]

    response = client.get("/oidc/callback/", {"error": "access_denied", "state": state})

    assert response.status_code == 403
    assert "cancelled or refused" in response.content.decode()


def test_an_unreachable_provider_is_a_clear_page_not_an_error(settings):
    settings.OIDC_ISSUER = "http://127.0.0.1:9"
    settings.OIDC_CLIENT_ID = "lead-portal"

    response = Client().get("/oidc/authenticate/")

    assert response.status_code == 403
    assert "cannot be reached" in response.content.decode()


def test_a_callback_this_browser_never_started_is_refused(sso):
    client = Client()
    client.get("/oidc/authenticate/")  # a sign-in of its own, with another state

    response = client.get("/oidc/callback/", {"code": "stolen", "state": "forged"})

    assert response.status_code == 403
    assert "could not be verified" in response.content.decode()
    assert signed_in_user(client) is None


def test_the_staff_group_never_takes_over_another_accounts_username(sso, browser):
    other = make_user(username=ACCOUNTS["staff"]["email"], email="someone.else@contoso.test")
    client = Client()

    response = sign_in(client, browser, "staff")

    assert response.status_code == 403
    assert signed_in_user(client) is None
    other.refresh_from_db()
    assert not other.is_staff
