"""Sign-in and password-reset throttling (portal.throttling, django-axes).

Every test runs the real stack: axes' database handler on PostgreSQL, the counters in
Redis, the login and admin views through the test client, one REMOTE_ADDR per client.
"""

import re
from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal import throttling
from tests.factories import make_user

PASSWORD = "correct horse battery staple"
ATTACKER = "203.0.113.7"
VICTIM_HOME = "198.51.100.20"

pytestmark = pytest.mark.django_db


@pytest.fixture
def limits(settings):
    """Small limits, so the tests stay short; the defaults are checked on their own."""
    settings.AXES_FAILURE_LIMIT = 3
    settings.LOGIN_IP_FAILURE_LIMIT = 7
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    return settings


def _client(address: str, **extra) -> Client:
    return Client(REMOTE_ADDR=address, **extra)


def _sign_in(client: Client, username: str, password: str, path: str = "/accounts/login/"):
    return client.post(path, {"username": username, "password": password})


def _fail(client: Client, username: str, times: int, path: str = "/accounts/login/") -> list:
    return [_sign_in(client, username, "wrong password", path).status_code for _ in range(times)]


def test_the_defaults_are_five_per_user_and_address_fifty_per_address_fifteen_minutes(
    settings,
):
    configured = (
        settings.AXES_FAILURE_LIMIT,
        settings.LOGIN_IP_FAILURE_LIMIT,
        settings.AXES_COOLOFF_TIME,
        settings.AXES_LOCKOUT_PARAMETERS,
        settings.AXES_HANDLER,
    )

    assert configured == (
        5,
        50,
        timedelta(minutes=15),
        [["username", "ip_address"], "ip_address"],
        "portal.throttling.TieredAxesHandler",
    )


def test_after_the_limit_even_the_right_password_is_refused_with_the_lockout_page(limits):
    # given an owner and an attacker who guesses three times from one address
    owner = make_user(username="owner@contoso.example")
    attacker = _client(ATTACKER)

    # when the attacker then tries the right password
    failures = _fail(attacker, owner.username, 3)
    answer = _sign_in(attacker, owner.username, PASSWORD)

    # then the third failure locks the pair, and the right password gets the lockout page
    assert failures == [200, 200, 429]
    assert answer.status_code == 429
    assert answer["Retry-After"] == "900"
    assert "registration/locked_out.html" in [t.name for t in answer.templates]
    assert "is locked for 15 minutes" in answer.text
    assert SESSION_KEY not in attacker.session


def test_another_address_can_still_sign_in_as_the_locked_user(limits):
    # given an owner locked out from the attacker's address
    owner = make_user(username="owner@contoso.example")
    _fail(_client(ATTACKER), owner.username, 3)

    # when the owner signs in from home
    home = _client(VICTIM_HOME)
    answer = _sign_in(home, owner.username, PASSWORD)

    # then it works: a lock is per (user, address), never per user alone
    assert answer.status_code == 302
    assert answer.url == reverse("home")
    assert int(home.session[SESSION_KEY]) == owner.pk


def test_another_user_from_the_same_address_is_not_locked_below_the_address_limit(limits):
    # given a colleague behind the same address as a user who locked himself out
    locked = make_user(username="locked@contoso.example")
    colleague = make_user(username="colleague@contoso.example")
    office = _client(ATTACKER)
    _fail(office, locked.username, 3)

    # when the colleague signs in from there
    answer = _sign_in(office, colleague.username, PASSWORD)

    # then the colleague is in (4 failures from the address, its limit is 7)
    assert answer.status_code == 302
    assert int(office.session[SESSION_KEY]) == colleague.pk


def test_the_address_limit_locks_every_user_from_that_address(limits):
    # given an attacker who sprays two guesses each at many usernames (never 3 per pair)
    target = make_user(username="target@contoso.example")
    attacker = _client(ATTACKER)
    spray = [_fail(attacker, f"user{n}@contoso.example", 2) for n in range(3)]
    last = _fail(attacker, "user3@contoso.example", 1)

    # when the attacker then tries the right password of a user never guessed at
    answer = _sign_in(attacker, target.username, PASSWORD)
    from_elsewhere = _sign_in(_client(VICTIM_HOME), target.username, PASSWORD)

    # then the seventh failure from the address locked it for every username
    assert spray == [[200, 200], [200, 200], [200, 200]]
    assert last == [429]
    assert answer.status_code == 429
    assert "is locked for 15 minutes" in answer.text
    assert from_elsewhere.status_code == 302


def test_the_lock_ends_after_the_cool_off(limits):
    # given an owner locked out from an address
    owner = make_user(username="owner@contoso.example")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _fail(_client(ATTACKER), owner.username, 3)

    # when the right password comes 14 and then 16 minutes later
    with time_machine.travel(start + timedelta(minutes=14), tick=False):
        still_locked = _sign_in(_client(ATTACKER), owner.username, PASSWORD)
    with time_machine.travel(start + timedelta(minutes=16), tick=False):
        client = _client(ATTACKER)
        after = _sign_in(client, owner.username, PASSWORD)

    # then it is refused inside the cool-off and accepted after it
    assert still_locked.status_code == 429
    assert after.status_code == 302
    assert int(client.session[SESSION_KEY]) == owner.pk


def test_admin_login_locks_out_too_with_the_admin_lockout_page(limits, staff_user):
    # given a superuser whose admin password is guessed three times
    attacker = _client(ATTACKER)
    path = "/admin/login/?next=/admin/"
    failures = _fail(attacker, staff_user.username, 3, path)

    # when the right password follows
    answer = _sign_in(attacker, staff_user.username, PASSWORD, path)

    # then it is refused with the admin's lockout page
    assert failures == [200, 200, 429]
    assert answer.status_code == 429
    assert answer["Retry-After"] == "900"
    assert "admin/locked_out.html" in [t.name for t in answer.templates]
    assert "is locked for 15 minutes" in answer.text
    assert SESSION_KEY not in attacker.session


def test_the_lockout_page_speaks_spanish(limits):
    # given a user locked out, whose browser asks for Spanish
    owner = make_user(username="owner@contoso.example")
    attacker = _client(ATTACKER, HTTP_ACCEPT_LANGUAGE="es")
    _fail(attacker, owner.username, 3)

    # when the right password is tried, on the portal and on the admin
    portal = _sign_in(attacker, owner.username, PASSWORD)
    admin = _sign_in(attacker, owner.username, PASSWORD, "/admin/login/")

    # then both pages say so in Spanish
    assert portal.status_code == admin.status_code == 429
    for answer in (portal, admin):
        assert "Inicio de sesión bloqueado" in answer.text
        assert "está bloqueado durante 15 minutos" in answer.text
    assert "Restablezca su contraseña" in portal.text


def test_staff_unlock_a_user_in_admin_and_the_user_signs_in_again(limits, staff_user):
    # given an owner locked out, and an unrelated lock of another user
    owner = make_user(username="owner@contoso.example")
    other = make_user(username="other@contoso.example")
    attacker = _client(ATTACKER)
    _fail(attacker, owner.username, 3)
    _fail(_client(VICTIM_HOME), other.username, 3)
    staff = Client()
    staff.force_login(staff_user)

    # when staff run the "Unlock sign-in" action on the owner
    done = staff.post(
        reverse("admin:auth_user_changelist"),
        {"action": "unlock_sign_in", "_selected_action": [owner.pk]},
        follow=True,
    )

    # then the owner signs in from the same address, and the other lock stays
    assert done.status_code == 200
    assert "Sign-in unlocked for 1 user." in done.text
    assert AccessAttempt.objects.filter(username=owner.username).count() == 0
    answer = _sign_in(attacker, owner.username, PASSWORD)
    assert answer.status_code == 302
    assert _sign_in(_client(VICTIM_HOME), other.username, PASSWORD).status_code == 429


def test_a_completed_password_reset_ends_the_lock(limits, mailoutbox):
    # given an owner locked out from an address
    owner = make_user(username="owner", email="owner@contoso.example")
    attacker = _client(ATTACKER)
    _fail(attacker, owner.username, 3)

    # when the owner follows the emailed reset link and sets a new password
    client = _client(ATTACKER)
    client.post(reverse("password_reset"), {"email": owner.email})
    link = re.search(r"https://[^/\s]+(/accounts/password-reset/\S+/\S+/)", mailoutbox[0].body)
    form = client.get(link.group(1))
    new_password = "a brand new passphrase 2026"
    saved = client.post(form.url, {"new_password1": new_password, "new_password2": new_password})

    # then the new password works from that same address at once
    assert saved.status_code == 302
    assert AccessAttempt.objects.filter(username=owner.username).count() == 0
    answer = _sign_in(client, owner.username, new_password)
    assert answer.status_code == 302
    assert int(client.session[SESSION_KEY]) == owner.pk


def test_staff_see_and_clear_attempts_in_axes_admin(limits, staff_user):
    # given a locked pair
    owner = make_user(username="owner@contoso.example")
    _fail(_client(ATTACKER), owner.username, 3)
    staff = Client()
    staff.force_login(staff_user)
    attempt = AccessAttempt.objects.get()

    # when staff open the attempts and delete the row
    listed = staff.get(reverse("admin:axes_accessattempt_changelist"))
    staff.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )

    # then the lock is listed, then gone, and the right password works
    assert listed.status_code == 200
    assert ATTACKER in listed.text
    assert "Locked Out" in listed.text
    assert AccessAttempt.objects.count() == 0
    assert _sign_in(_client(ATTACKER), owner.username, PASSWORD).status_code == 302


def test_failure_records_hold_no_password(limits):
    # given failed sign-ins with a recognisable wrong password
    owner = make_user(username="owner@contoso.example")
    secret = "Sentinel-Password-4242"
    attacker = _client(ATTACKER)
    for _ in range(3):
        _sign_in(attacker, owner.username, secret)
    _sign_in(attacker, owner.username, PASSWORD)

    # when every stored column of the attempt and failure records is read
    stored = [
        str(value)
        for model in (AccessAttempt, AccessFailureLog)
        for row in model.objects.values()
        for value in row.values()
    ]

    # then neither password appears anywhere
    assert AccessFailureLog.objects.count() == 3
    assert [s for s in stored if secret in s or PASSWORD in s] == []
    assert AccessAttempt.objects.get().failures_since_start == 3


def test_the_log_lines_name_no_user_and_no_password(limits, caplog):
    # given failed sign-ins up to a lock
    owner = make_user(username="owner@contoso.example")
    secret = "Sentinel-Password-4242"

    # when they are logged
    with caplog.at_level("INFO"):
        for _ in range(3):
            _sign_in(_client(ATTACKER), owner.username, secret)

    # then no line holds the username, the password or the address
    text = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert "auth.login.locked_out" in text
    assert (owner.username in text, secret in text, ATTACKER in text) == (False, False, False)


def test_client_login_and_force_login_still_work_for_tests(limits):
    # given a user
    owner = make_user(username="owner@contoso.example")

    # when a test signs in with force_login, or posts the form
    forced = Client()
    forced.force_login(owner)
    posted = _sign_in(Client(), owner.username, PASSWORD)

    # then both are signed in
    assert forced.get(reverse("home")).status_code == 200
    assert posted.status_code == 302


# --- The client's address ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        # No trusted proxy: a forwarded header is the client's own words, never trusted.
        (0, "203.0.113.7", "198.51.100.1", "203.0.113.7"),
        # One proxy: the entry it appended, however many the client made up before it.
        (1, "10.0.0.2", "1.1.1.1, 2.2.2.2, 203.0.113.7", "203.0.113.7"),
        (2, "10.0.0.2", "1.1.1.1, 203.0.113.7, 10.0.0.9", "203.0.113.7"),
        # Proxies that write the port (Azure) and IPv4-mapped IPv6 forms.
        (1, "10.0.0.2", "203.0.113.7:50312", "203.0.113.7"),
        (1, "10.0.0.2", "[2001:db8::1]:443", "2001:db8::1"),
        (0, "::ffff:203.0.113.7", "", "203.0.113.7"),
        # Not through the proxy, or garbage in the header: REMOTE_ADDR.
        (1, "203.0.113.7", "", "203.0.113.7"),
        (2, "203.0.113.7", "198.51.100.1", "203.0.113.7"),
        (1, "203.0.113.7", "not-an-address", "203.0.113.7"),
    ],
)
def test_client_ip_trusts_forwarded_for_only_as_far_as_our_proxies(
    rf, settings, proxies, remote, forwarded, expected
):
    # given a number of trusted proxies and a request as it arrives
    settings.TRUSTED_PROXY_COUNT = proxies
    request = rf.get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)

    # when the client's address is read
    address = throttling.client_ip(request)

    # then it is the one the outermost trusted proxy saw
    assert address == expected


def test_ipv6_clients_are_throttled_per_slash_64(rf):
    # given two addresses in one /64 and one outside it
    inside = [rf.get("/", REMOTE_ADDR=f"2001:db8:1:2::{n}") for n in ("1", "ffff")]
    outside = rf.get("/", REMOTE_ADDR="2001:db8:1:3::1")

    # when their throttling keys are taken
    keys = {throttling.throttle_address(r) for r in inside}

    # then the /64 shares one key
    assert keys == {"2001:db8:1:2::"}
    assert throttling.throttle_address(outside) == "2001:db8:1:3::"


def test_a_spoofed_forwarded_for_does_not_dodge_the_address_limit(limits):
    # given no trusted proxy, and an attacker who writes a new X-Forwarded-For each time
    limits.TRUSTED_PROXY_COUNT = 0
    owner = make_user(username="owner@contoso.example")
    codes = [
        Client(REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
        .post("/accounts/login/", {"username": owner.username, "password": "wrong"})
        .status_code
        for n in range(3)
    ]

    # when the right password follows with yet another header
    answer = Client(REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR="192.0.2.99").post(
        "/accounts/login/", {"username": owner.username, "password": PASSWORD}
    )

    # then every attempt counted against the real address
    assert codes == [200, 200, 429]
    assert answer.status_code == 429
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == [ATTACKER]


# --- Password reset ---------------------------------------------------------------------


@pytest.fixture
def reset_limits(settings):
    settings.PASSWORD_RESET_IP_LIMIT = 4
    settings.PASSWORD_RESET_EMAIL_LIMIT = 2
    settings.PASSWORD_RESET_WINDOW_MINUTES = 60
    return settings


def _reset(client: Client, email: str):
    return client.post(reverse("password_reset"), {"email": email})


def test_password_reset_mails_one_address_at_most_the_limit_and_says_nothing(
    reset_limits, mailoutbox
):
    # given a user, and requests for its address from several addresses
    user = make_user(username="owner", email="owner@contoso.example")

    # when the reset is asked three times (limit 2), once in other letter case
    answers = [
        _reset(_client(f"198.51.100.{n}"), email)
        for n, email in enumerate([user.email, "OWNER@contoso.example", user.email], start=1)
    ]

    # then every answer is the same redirect, and only two emails left
    assert [(a.status_code, a.url) for a in answers] == [(302, reverse("password_reset_done"))] * 3
    assert [m.to for m in mailoutbox] == [[user.email], [user.email]]


def test_password_reset_requests_from_one_address_get_429_past_the_limit(reset_limits, mailoutbox):
    # given a user and one address that asks for resets of many mailboxes
    make_user(username="owner", email="owner@contoso.example")
    attacker = _client(ATTACKER)
    answers = [_reset(attacker, f"victim{n}@example.com") for n in range(4)]

    # when it asks once more, for a real account
    refused = _reset(attacker, "owner@contoso.example")
    elsewhere = _reset(_client(VICTIM_HOME), "owner@contoso.example")

    # then the fifth request is refused with a page that says how long to wait,
    # no email goes out for it, and another address is unaffected
    assert [a.status_code for a in answers] == [302] * 4
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 3600
    assert "Too many password reset requests came from your network address" in refused.text
    assert elsewhere.status_code == 302
    assert [m.to for m in mailoutbox] == [["owner@contoso.example"]]


def test_the_password_reset_window_ends(reset_limits, mailoutbox):
    # given an address that used up its reset requests
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        codes = [_reset(_client(ATTACKER), "a@example.com").status_code for _ in range(5)]

    # when it asks again two hours later
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        later = _reset(_client(ATTACKER), "a@example.com")

    # then the new window lets it through
    assert codes == [302, 302, 302, 302, 429]
    assert later.status_code == 302


def test_password_reset_throttle_page_speaks_spanish(reset_limits):
    # given an address over its limit, whose browser asks for Spanish
    client = _client(ATTACKER, HTTP_ACCEPT_LANGUAGE="es")
    for _ in range(4):
        _reset(client, "a@example.com")

    # when it asks again
    refused = _reset(client, "a@example.com")

    # then the page is in Spanish
    assert refused.status_code == 429
    assert "Demasiadas solicitudes de restablecimiento" in refused.text


def test_throttling_counters_keep_no_address_or_email_in_their_keys(reset_limits):
    # given reset requests that were counted in Redis
    from django.core.cache import cache

    _reset(_client(ATTACKER), "owner@contoso.example")

    # when the cache's keys are listed
    keys = [k.decode() for k in cache._cache.get_client().keys("*throttle*")]

    # then there are two counters (address, email), keyed by hashes
    assert len(keys) == 2
    assert [k for k in keys if ATTACKER in k or "contoso" in k] == []
