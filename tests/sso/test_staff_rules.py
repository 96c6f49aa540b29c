"""Staff and local passwords (LOCAL_PASSWORDS_FOR_STAFF), and TOTP two-factor for staff
on a local password (OTP_REQUIRED_FOR_STAFF), with codes computed by django_otp.oath."""

import re

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, SESSION_KEY
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.auth_config import OIDC_BACKEND
from tests.factories import make_membership, make_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


@pytest.fixture
def staff():
    return make_user(username="sam", is_staff=True, is_superuser=True)


def code(device: TOTPDevice, steps_ahead: int = 0) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, steps_ahead):06d}"


# --- Local passwords for staff ------------------------------------------------------------


def test_the_login_page_has_no_sso_button_when_not_configured():
    text = Client().get("/accounts/login/").content.decode()

    assert "/oidc/authenticate/" not in text
    assert 'name="password"' in text


def test_the_login_pages_show_the_button_when_configured(settings):
    settings.OIDC_ISSUER, settings.OIDC_CLIENT_ID = "http://127.0.0.1:9", "lead-portal"
    settings.OIDC_PROVIDER_NAME = "Microsoft"

    portal = Client().get("/accounts/login/?next=/settings/").content.decode()
    admin = Client().get("/admin/login/?next=/admin/").content.decode()

    assert "/oidc/authenticate/?next=/settings/" in portal
    assert "Sign in with Microsoft" in portal
    assert "/oidc/authenticate/?next=/admin/" in admin


def test_publishers_sign_in_with_passwords_when_sso_is_not_configured():
    user = make_user(username="owner")
    make_membership(user=user)
    client = Client()

    response = client.post("/accounts/login/", {"username": "owner", "password": PASSWORD})

    assert response.status_code == 302
    assert int(client.session[SESSION_KEY]) == user.pk


@pytest.mark.parametrize("url", ["/admin/login/", "/accounts/login/"])
def test_staff_passwords_are_refused_when_switched_off(settings, staff, url):
    settings.LOCAL_PASSWORDS_FOR_STAFF = False
    client = Client()

    response = client.post(url, {"username": "sam", "password": PASSWORD, "next": "/admin/"})

    assert response.status_code == 200
    assert "Staff accounts sign in with single sign-on" in response.content.decode()
    assert SESSION_KEY not in client.session


def test_a_wrong_staff_password_gets_the_usual_error_only(settings, staff):
    settings.LOCAL_PASSWORDS_FOR_STAFF = False

    response = Client().post("/admin/login/", {"username": "sam", "password": "wrong"})

    assert "single sign-on" not in response.content.decode()


def test_publishers_keep_passwords_when_staff_lose_theirs(settings):
    settings.LOCAL_PASSWORDS_FOR_STAFF = False
    make_membership(user=make_user(username="owner"))
    client = Client()

    response = client.post("/accounts/login/", {"username": "owner", "password": PASSWORD})

    assert response.status_code == 302


def test_a_staff_password_session_ends_when_passwords_are_switched_off(settings, staff):
    client = Client()
    client.force_login(staff, backend="django.contrib.auth.backends.ModelBackend")
    settings.LOCAL_PASSWORDS_FOR_STAFF = False

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert SESSION_KEY not in client.session


def test_a_staff_sso_session_is_kept_when_passwords_are_switched_off(settings, staff):
    settings.LOCAL_PASSWORDS_FOR_STAFF = False
    settings.OTP_REQUIRED_FOR_STAFF = True
    client = Client()
    client.force_login(staff, backend=OIDC_BACKEND)

    assert client.session[BACKEND_SESSION_KEY] == OIDC_BACKEND
    assert client.get("/admin/").status_code == 200


# --- TOTP two-factor --------------------------------------------------------------------


def test_admin_needs_no_code_unless_required(staff):
    client = Client()
    client.force_login(staff)

    assert client.get("/admin/").status_code == 200


def test_staff_enrol_then_admin_opens(settings, staff):
    settings.OTP_REQUIRED_FOR_STAFF = True
    # django-otp makes the next try wait after a wrong code (test_wrong_codes_are_throttled).
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    client = Client()
    client.post("/admin/login/", {"username": "sam", "password": PASSWORD, "next": "/admin/"})

    to_verify = client.get("/admin/")
    assert to_verify.status_code == 302
    assert to_verify["Location"] == "/accounts/2fa/verify/?next=%2Fadmin%2F"
    to_setup = client.get(to_verify["Location"])
    assert to_setup["Location"].startswith("/accounts/2fa/?next=")
    page = client.get(to_setup["Location"])
    assert page.status_code == 200
    text = page.content.decode()
    assert '<img class="otp-qr" src="/accounts/2fa/qr.svg"' in text
    assert "style=" not in text and "<script>" not in text
    qr = client.get("/accounts/2fa/qr.svg")
    assert qr["Content-Type"] == "image/svg+xml"
    assert b"<svg" in qr.content and b'xmlns="http://www.w3.org/2000/svg"' in qr.content
    device = TOTPDevice.objects.get(user=staff)
    secret = re.search(r'<code class="otp-secret">(\w+)</code>', text).group(1)
    assert secret  # the key for typing in, base32
    assert client.get("/admin/").status_code == 302  # still not verified

    wrong = client.post("/accounts/2fa/", {"token": "000000", "next": "/admin/"})
    assert wrong.status_code == 422
    assert "That code is wrong" in wrong.content.decode()
    right = client.post("/accounts/2fa/", {"token": code(device), "next": "/admin/"})

    assert right.status_code == 302 and right["Location"] == "/admin/"
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/admin/").status_code == 200


def test_an_enrolled_staff_member_gives_a_code_once_per_sign_in(settings, staff):
    settings.OTP_REQUIRED_FOR_STAFF = True
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client = Client()
    client.post("/admin/login/", {"username": "sam", "password": PASSWORD})

    assert client.get("/admin/publisher/").status_code == 302
    letters = client.post("/accounts/2fa/verify/", {"token": "abcdef"})
    assert letters.status_code == 422
    assert "six digits" in letters.content.decode()
    response = client.post(
        "/accounts/2fa/verify/", {"token": code(device, 1), "next": "/admin/portal/publisher/"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/admin/portal/publisher/"
    assert client.get("/admin/portal/publisher/").status_code == 200


def test_a_used_code_is_not_accepted_twice(settings, staff):
    settings.OTP_REQUIRED_FOR_STAFF = True
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    token = code(device)
    first = Client()
    first.force_login(staff)
    assert first.post("/accounts/2fa/verify/", {"token": token}).status_code == 302

    second = Client()
    second.force_login(staff)
    assert second.post("/accounts/2fa/verify/", {"token": token}).status_code == 422


def test_an_unsafe_next_goes_to_admin(settings, staff):
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client = Client()
    client.force_login(staff)

    response = client.post(
        "/accounts/2fa/verify/", {"token": code(device), "next": "https://evil.example/"}
    )

    assert response["Location"] == "/admin/"


@pytest.mark.parametrize("url", ["/accounts/2fa/", "/accounts/2fa/qr.svg", "/accounts/2fa/verify/"])
def test_publisher_users_get_404_on_the_two_factor_pages(url):
    user = make_user()
    make_membership(user=user)
    client = Client()
    client.force_login(user)

    assert client.get(url).status_code == 404


def test_wrong_codes_are_throttled(settings, staff):
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client = Client()
    client.force_login(staff)

    assert client.post("/accounts/2fa/verify/", {"token": "000000"}).status_code == 422
    response = client.post("/accounts/2fa/verify/", {"token": code(device)})

    assert response.status_code == 422  # right, but too soon after a wrong one
    assert "Too many wrong codes" in response.content.decode()
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
