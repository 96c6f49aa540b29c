"""Password reset by email, end to end."""

import re

import pytest
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another long passphrase 2026"


def _reset_path(body: str) -> str:
    match = re.search(r"https://portal\.test(/accounts/password-reset/[^/\s]+/[^/\s]+/)", body)
    assert match, body
    return match.group(1)


def test_login_page_links_to_password_reset(client):
    content = client.get(reverse("login")).content.decode()

    assert '<a href="/accounts/password-reset/">Forgot your password?</a>' in content


def test_password_reset_by_email_end_to_end(client, mailoutbox):
    user = factories.make_user(email="ada@contoso.example")

    form = client.get("/accounts/password-reset/")
    sent = client.post("/accounts/password-reset/", {"email": "ada@contoso.example"})

    assert form.status_code == 200
    assert '<label for="id_email"' in form.content.decode()
    assert sent.status_code == 302
    assert sent.url == "/accounts/password-reset/done/"
    assert "Check your email" in client.get(sent.url).content.decode()
    assert len(mailoutbox) == 1
    email = mailoutbox[0]
    assert email.to == ["ada@contoso.example"]
    assert email.subject == "Reset your Lead Portal password"
    assert f"Your username is {user.username}." in email.body
    assert email.alternatives == []
    link = _reset_path(email.body)
    opened = client.get(link)
    assert opened.status_code == 302
    assert opened.url.endswith("/set-password/")
    page = client.get(opened.url)
    assert page.context["validlink"] is True
    assert '<label for="id_new_password1"' in page.content.decode()
    saved = client.post(opened.url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert saved.status_code == 302
    assert saved.url == "/accounts/password-reset/complete/"
    assert "Password saved" in client.get(saved.url).content.decode()
    signed_in = client.post(reverse("login"), {"username": user.username, "password": NEW_PASSWORD})
    assert signed_in.status_code == 302
    assert signed_in.url == reverse("home")
    # A used link is dead.
    client.logout()
    again = client.get(link, follow=True)
    assert again.context["validlink"] is False
    assert "This link does not work any more" in again.content.decode()


def test_mismatched_passwords_show_the_error_next_to_the_field(client, mailoutbox):
    factories.make_user(email="ada@contoso.example")
    client.post("/accounts/password-reset/", {"email": "ada@contoso.example"})
    set_password = client.get(_reset_path(mailoutbox[0].body)).url

    response = client.post(
        set_password, {"new_password1": NEW_PASSWORD, "new_password2": "something else 123"}
    )

    assert response.status_code == 200
    content = response.content.decode()
    assert "The two password fields didn’t match." in content
    assert 'aria-invalid="true"' in content


def test_unknown_email_sends_nothing_and_reveals_nothing(client, mailoutbox):
    response = client.post("/accounts/password-reset/", {"email": "nobody@contoso.example"})

    assert response.status_code == 302
    assert response.url == "/accounts/password-reset/done/"
    assert mailoutbox == []


def test_reset_link_uses_the_portal_base_url_not_the_host_header(client, mailoutbox, settings):
    settings.ALLOWED_HOSTS = ["testserver", "evil.example"]
    factories.make_user(email="ada@contoso.example")

    client.post(
        "/accounts/password-reset/", {"email": "ada@contoso.example"}, HTTP_HOST="evil.example"
    )

    assert "evil.example" not in mailoutbox[0].body
    assert "https://portal.test/accounts/password-reset/" in mailoutbox[0].body


def test_password_reset_pages_in_spanish(client):
    response = client.get("/accounts/password-reset/", headers={"accept-language": "es"})

    assert response.status_code == 200
    assert '<html lang="es">' in response.content.decode()
