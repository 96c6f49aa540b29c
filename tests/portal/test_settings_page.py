"""The settings page: contact details, API tokens and members, owner-only writes."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from leads.intake import api_keys
from leads.models import PublisherApiToken
from portal.models import Membership
from tests import factories

pytestmark = pytest.mark.django_db

API_LEADS = "/api/v1/publisher/leads"
NEW_PASSWORD = "a fresh and long passphrase 42"


@pytest.fixture
def member(publisher):
    return factories.make_membership(publisher=publisher, role=Membership.Role.MEMBER).user


@pytest.fixture
def other_owner(other_publisher):
    return factories.make_membership(publisher=other_publisher).user


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- Access ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/settings/",
        "/settings/tokens/",
        "/settings/tokens/1/revoke/",
        "/settings/members/",
        "/settings/members/1/role/",
        "/settings/members/1/remove/",
    ],
)
def test_anonymous_goes_to_login(client, path):
    response = client.post(path)

    assert response.status_code == 302
    assert response.url == f"/accounts/login/?next={path}"


def test_member_sees_settings_read_only(client, publisher, member):
    client.force_login(member)

    response = client.get(reverse("settings"))

    assert response.status_code == 200
    content = response.content.decode()
    assert publisher.lead_contact_email in content
    assert "Only the publisher's owners can change these." in content
    assert "Only the publisher's owners manage API tokens." in content
    assert 'action="/settings/tokens/"' not in content
    assert 'action="/settings/members/"' not in content
    assert member.email in content


# --- Contact details ------------------------------------------------------------------------


def test_owner_updates_contact_email_and_postal_address(client, publisher, owner):
    client.force_login(owner)

    response = client.post(
        reverse("settings"),
        {"lead_contact_email": "sales@contoso.example", "postal_address": "1 Main St\nSeattle"},
        follow=True,
    )

    assert response.redirect_chain == [("/settings/#contact", 302)]
    publisher.refresh_from_db()
    assert publisher.lead_contact_email == "sales@contoso.example"
    assert publisher.postal_address == "1 Main St\nSeattle"
    assert _messages(response) == ["The contact details are saved."]


def test_owner_sets_and_clears_the_daily_nurture_cap(client, publisher, owner):
    client.force_login(owner)
    fields = {"lead_contact_email": "sales@contoso.example", "postal_address": "1 Main St"}

    client.post(reverse("settings"), fields | {"nurture_daily_cap": "50"})
    publisher.refresh_from_db()
    assert publisher.nurture_daily_cap == 50

    client.post(reverse("settings"), fields | {"nurture_daily_cap": ""})
    publisher.refresh_from_db()
    assert publisher.nurture_daily_cap is None


def test_a_daily_cap_of_zero_is_refused_next_to_the_field(client, publisher, owner):
    client.force_login(owner)
    response = client.post(
        reverse("settings"),
        {"lead_contact_email": "", "postal_address": "", "nurture_daily_cap": "0"},
    )
    assert response.status_code == 200
    assert re.search(r'name="nurture_daily_cap"[^>]*aria-invalid="true"', response.content.decode())
    publisher.refresh_from_db()
    assert publisher.nurture_daily_cap is None


def test_owner_sets_the_time_zone_and_send_window(client, publisher, owner):
    client.force_login(owner)
    fields = {"lead_contact_email": "", "postal_address": "", "time_zone": "Europe/Madrid"}

    client.post(reverse("settings"), fields | {"send_window_start": "9", "send_window_end": "18"})
    publisher.refresh_from_db()
    assert (publisher.time_zone, publisher.send_window_start, publisher.send_window_end) == (
        "Europe/Madrid",
        9,
        18,
    )


@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone", "Unknown time zone Mars/Olympus."),
        ({"send_window_start": "9"}, "send_window_end", "Give both hours"),
        ({"send_window_start": "9", "send_window_end": "9"}, "send_window_end", "another hour"),
        ({"send_window_start": "9", "send_window_end": "24"}, "send_window_end", "less than"),
    ],
)
def test_a_wrong_send_window_is_refused_next_to_its_field(
    client, publisher, owner, fields, field, error
):
    client.force_login(owner)
    response = client.post(
        reverse("settings"), {"lead_contact_email": "", "postal_address": ""} | fields
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', content)
    assert error in content
    publisher.refresh_from_db()
    assert publisher.send_window_start is None


def test_invalid_contact_email_shows_the_error_next_to_the_field(client, publisher, owner):
    before = publisher.lead_contact_email
    client.force_login(owner)

    response = client.post(
        reverse("settings"), {"lead_contact_email": "not-an-email", "postal_address": ""}
    )

    assert response.status_code == 200
    content = response.content.decode()
    assert 'aria-invalid="true"' in content
    assert "Enter a valid email address." in content
    publisher.refresh_from_db()
    assert publisher.lead_contact_email == before


def test_member_cannot_update_contact_details(client, publisher, member):
    before = (publisher.lead_contact_email, publisher.postal_address)
    client.force_login(member)

    response = client.post(
        reverse("settings"), {"lead_contact_email": "evil@example.com", "postal_address": "x"}
    )

    assert response.status_code == 403
    publisher.refresh_from_db()
    assert (publisher.lead_contact_email, publisher.postal_address) == before


# --- API tokens -----------------------------------------------------------------------------


def _create_token(client, name="Power BI") -> str:
    response = client.post(reverse("settings-token-create"), {"name": name})
    assert response.status_code == 200
    match = re.search(r'id="new-token" type="text" class="token-value" value="([^"]+)"',
                      response.content.decode())  # fmt: skip
    assert match
    return match.group(1)


def test_token_is_shown_once_and_works_with_the_publisher_api(client, publisher, owner):
    client.force_login(owner)

    token = _create_token(client)

    api_token = PublisherApiToken.objects.get(publisher=publisher)
    assert (api_token.name, api_token.created_by, api_token.revoked_at) == ("Power BI", owner, None)
    assert token.startswith(api_token.prefix)
    page = client.get(reverse("settings")).content.decode()
    assert token not in page
    assert f"<code>{api_token.prefix}…</code>" in page
    assert "Never" in page
    answer = Client().get(API_LEADS, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert answer.status_code == 200


def test_revoked_token_is_refused_by_the_api(client, publisher, owner):
    client.force_login(owner)
    token = _create_token(client)
    api_token = PublisherApiToken.objects.get(publisher=publisher)

    response = client.post(reverse("settings-token-revoke", args=[api_token.pk]), follow=True)

    assert response.redirect_chain == [("/settings/#tokens", 302)]
    assert _messages(response) == ["Token “Power BI” revoked."]
    api_token.refresh_from_db()
    assert api_token.revoked_at is not None
    assert Client().get(API_LEADS, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_token_needs_a_name(client, publisher, owner):
    client.force_login(owner)

    response = client.post(reverse("settings-token-create"), {"name": ""})

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not PublisherApiToken.objects.exists()


def test_member_cannot_create_or_revoke_tokens(client, publisher, member):
    api_token, _token = api_keys.publisher_token_create(publisher=publisher, name="CI")
    client.force_login(member)

    created = client.post(reverse("settings-token-create"), {"name": "Mine"})
    revoked = client.post(reverse("settings-token-revoke", args=[api_token.pk]))

    assert (created.status_code, revoked.status_code) == (403, 403)
    assert list(PublisherApiToken.objects.values_list("name", "revoked_at")) == [("CI", None)]


def test_other_publishers_owner_cannot_revoke_a_token(client, publisher, other_owner):
    api_token, token = api_keys.publisher_token_create(publisher=publisher, name="CI")
    client.force_login(other_owner)

    response = client.post(reverse("settings-token-revoke", args=[api_token.pk]))

    assert response.status_code == 404
    api_token.refresh_from_db()
    assert api_token.revoked_at is None
    assert Client().get(API_LEADS, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


# --- Members --------------------------------------------------------------------------------


def _set_password_path(body: str) -> str:
    match = re.search(r"https://portal\.test(/accounts/password-reset/[^/\s]+/[^/\s]+/)", body)
    assert match, body
    return match.group(1)


def test_invite_a_new_user_who_sets_a_password_through_the_link(
    client, publisher, owner, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(owner)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("settings-member-invite"),
            {"email": "New.Person@Fabrikam.example", "role": "member"},
            follow=True,
        )

    assert response.redirect_chain == [("/settings/#members", 302)]
    assert _messages(response) == [
        "new.person@fabrikam.example is invited; we emailed a link to choose a password."
    ]
    user = get_user_model().objects.get(email="new.person@fabrikam.example")
    assert user.has_usable_password() is False
    assert Membership.objects.get(user=user).role == "member"
    assert len(mailoutbox) == 1
    email = mailoutbox[0]
    assert email.to == ["new.person@fabrikam.example"]
    assert email.subject == f"You have been added to {publisher.name} on Lead Portal"
    assert f"added to {publisher.name} on Lead Portal, as member." in email.body
    assert "Your username is new.person@fabrikam.example." in email.body
    path = _set_password_path(email.body)
    anonymous = Client()
    form = anonymous.get(path, follow=True)
    assert form.context["validlink"] is True
    done = anonymous.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert done.status_code == 302
    assert done.url == reverse("password_reset_complete")
    # Through the sign-in form: axes' backend needs the request that Client.login lacks.
    signed_in = anonymous.post(
        reverse("login"), {"username": "new.person@fabrikam.example", "password": NEW_PASSWORD}
    )
    assert signed_in.status_code == 302
    # The link works once.
    assert Client().get(path, follow=True).context["validlink"] is False


def test_invite_an_existing_user_adds_the_membership_and_sends_a_notice(
    client, publisher, owner, mailoutbox, django_capture_on_commit_callbacks
):
    existing = factories.make_user(email="known@contoso.example")
    password_hash = existing.password
    client.force_login(owner)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("settings-member-invite"),
            {"email": "known@contoso.example", "role": "owner"},
            follow=True,
        )

    assert _messages(response) == ["known@contoso.example is added; we emailed them a notice."]
    assert Membership.objects.get(user=existing, publisher=publisher).role == "owner"
    existing.refresh_from_db()
    assert existing.password == password_hash
    assert get_user_model().objects.filter(email__iexact="known@contoso.example").count() == 1
    assert len(mailoutbox) == 1
    assert "/accounts/password-reset/" not in mailoutbox[0].body
    assert "https://portal.test/accounts/login/" in mailoutbox[0].body


def test_inviting_a_member_twice_is_refused(
    client, publisher, owner, member, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(owner)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("settings-member-invite"), {"email": member.email, "role": "owner"}
        )

    assert response.status_code == 200
    assert f"{member.email} is already a member of {publisher.name}." in response.content.decode()
    assert Membership.objects.get(user=member).role == "member"
    assert mailoutbox == []


def test_member_cannot_invite(client, publisher, member, mailoutbox):
    client.force_login(member)

    response = client.post(
        reverse("settings-member-invite"), {"email": "x@example.com", "role": "owner"}
    )

    assert response.status_code == 403
    assert not get_user_model().objects.filter(email="x@example.com").exists()
    assert mailoutbox == []


def test_owner_changes_a_role(client, publisher, owner, member):
    membership = Membership.objects.get(user=member)
    client.force_login(owner)

    response = client.post(
        reverse("settings-member-role", args=[membership.pk]), {"role": "owner"}, follow=True
    )

    assert _messages(response) == [f"The role of {member.email} is saved."]
    membership.refresh_from_db()
    assert membership.role == "owner"


def test_demoting_the_last_owner_is_refused(client, publisher, owner, member):
    membership = Membership.objects.get(user=owner)
    client.force_login(owner)

    response = client.post(
        reverse("settings-member-role", args=[membership.pk]), {"role": "member"}, follow=True
    )

    assert _messages(response) == [
        f"{owner.email} is the last owner. Make someone else an owner first."
    ]
    membership.refresh_from_db()
    assert membership.role == "owner"


def test_an_owner_can_step_down_when_another_owner_remains(client, publisher, owner):
    factories.make_membership(publisher=publisher, role="owner")
    membership = Membership.objects.get(user=owner)
    client.force_login(owner)

    client.post(reverse("settings-member-role", args=[membership.pk]), {"role": "member"})

    membership.refresh_from_db()
    assert membership.role == "member"


def test_removing_the_last_owner_is_refused(client, publisher, owner):
    membership = Membership.objects.get(user=owner)
    client.force_login(owner)

    response = client.post(reverse("settings-member-remove", args=[membership.pk]), follow=True)

    assert _messages(response) == [
        f"{owner.email} is the last owner and cannot be removed. Make someone else an owner first."
    ]
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_owner_removes_a_member(client, publisher, owner, member):
    membership = Membership.objects.get(user=member)
    client.force_login(owner)

    response = client.post(reverse("settings-member-remove", args=[membership.pk]), follow=True)

    assert _messages(response) == [f"{member.email} no longer belongs to this publisher."]
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert get_user_model().objects.filter(pk=member.pk).exists()


def test_member_cannot_change_roles_or_remove(client, publisher, owner, member):
    owner_membership = Membership.objects.get(user=owner)
    client.force_login(member)

    demoted = client.post(
        reverse("settings-member-role", args=[owner_membership.pk]), {"role": "member"}
    )
    removed = client.post(reverse("settings-member-remove", args=[owner_membership.pk]))

    assert (demoted.status_code, removed.status_code) == (403, 403)
    owner_membership.refresh_from_db()
    assert owner_membership.role == "owner"


def test_other_publishers_owner_cannot_touch_members(client, publisher, member, other_owner):
    membership = Membership.objects.get(user=member)
    client.force_login(other_owner)

    removed = client.post(reverse("settings-member-remove", args=[membership.pk]))
    promoted = client.post(reverse("settings-member-role", args=[membership.pk]), {"role": "owner"})

    assert (removed.status_code, promoted.status_code) == (404, 404)
    membership.refresh_from_db()
    assert membership.role == "member"
