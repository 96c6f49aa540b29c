"""The owner's Partner Center connection page, the settings section, and the admin:
secrets are write-only and encrypted, fields are checked, and only owners manage it."""

import pytest
from django.contrib.auth.models import Permission
from django.db import connection as db
from django.urls import reverse

from crm.models import ReferralConnection
from tests import factories
from tests.crm.receivers import partner_center_receiver as pc
from tests.crm.referrals_support import connect

pytestmark = pytest.mark.sqlite

PAGE = reverse("crm-referral-connection")


@pytest.fixture
def enrolled_owner(client, publisher, owner):
    publisher.co_sell_enrolled = True
    publisher.save()
    client.force_login(owner)
    return client


@pytest.fixture
def listing(publisher):
    return factories.make_listing(publisher=publisher, name="Contoso Analytics")


def form(listing, **overrides):
    return {
        "listing": listing.pk,
        "tenant_id": pc.TENANT,
        "client_id": pc.CLIENT_ID,
        "client_secret": pc.CLIENT_SECRET,
        "username": pc.USERNAME,
        "password": pc.PASSWORD,
    } | overrides


def stored_secrets_text(row) -> str:
    with db.cursor() as cursor:
        cursor.execute("SELECT secrets FROM crm_referralconnection WHERE id = %s", [row.pk])
        return cursor.fetchone()[0]


def test_an_owner_connects_and_the_secrets_are_never_shown_again(
    enrolled_owner, listing, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = enrolled_owner.post(PAGE, form(listing))

    assert response.status_code == 302
    row = ReferralConnection.objects.get()
    assert (row.tenant_id, row.client_id, row.username, row.listing) == (
        pc.TENANT,
        pc.CLIENT_ID,
        pc.USERNAME,
        listing,
    )
    assert row.secrets == {"client_secret": pc.CLIENT_SECRET, "password": pc.PASSWORD}
    raw = stored_secrets_text(row)
    assert pc.CLIENT_SECRET not in raw and pc.PASSWORD not in raw
    assert len(callbacks) == 1  # the first sync
    page = enrolled_owner.get(PAGE).content.decode()
    settings_page = enrolled_owner.get(reverse("settings")).content.decode()
    for text in (page, settings_page):
        assert pc.CLIENT_SECRET not in text and pc.PASSWORD not in text
    assert "Leave empty to keep the stored one." in page
    assert "Manage the connection" in settings_page


def test_empty_secrets_keep_the_stored_ones(enrolled_owner, listing):
    enrolled_owner.post(PAGE, form(listing))

    response = enrolled_owner.post(
        PAGE, form(listing, client_secret="", password="", username="b@contoso.example")
    )

    assert response.status_code == 302
    row = ReferralConnection.objects.get()
    assert row.username == "b@contoso.example"
    assert row.secrets == {"client_secret": pc.CLIENT_SECRET, "password": pc.PASSWORD}


def test_bad_fields_are_shown_next_to_the_field(enrolled_owner, listing):
    response = enrolled_owner.post(
        PAGE,
        form(
            listing, client_id="not-a-guid", tenant_id="bad tenant!", client_secret="", username="x"
        ),
    )

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors["client_id"][0].startswith("Enter the application id, a GUID")
    assert errors["tenant_id"] == ["Enter the tenant's GUID or its domain name."]
    assert errors["client_secret"] == ["This field is required."]
    assert errors["username"] == ["Enter a valid email address."]
    assert not ReferralConnection.objects.exists()


def test_another_publishers_listing_is_refused(enrolled_owner):
    foreign = factories.make_listing(publisher=factories.make_publisher())

    response = enrolled_owner.post(PAGE, form(foreign))

    assert response.status_code == 400
    assert "Select a valid choice" in str(response.context["form"].errors["listing"])


def test_a_publisher_not_co_sell_enrolled_is_told_why(client, owner, listing):
    client.force_login(owner)

    response = client.post(PAGE, form(listing))

    assert response.status_code == 400
    assert response.context["form"].non_field_errors() == [
        "Your publisher is not Co-Sell enrolled: Partner Center shares no referral yet."
    ]


def test_members_cannot_manage_the_connection(client, publisher, listing):
    member = factories.make_membership(publisher=publisher, role="member").user
    client.force_login(member)

    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, form(listing)).status_code == 403
    assert client.post(reverse("crm-referral-connection-sync")).status_code == 403
    assert not ReferralConnection.objects.exists()
    assert "Only the publisher's owners manage the Partner Center connection." in (
        client.get(reverse("settings")).content.decode()
    )


def test_pause_resume_and_sync_now(enrolled_owner, listing, django_capture_on_commit_callbacks):
    enrolled_owner.post(PAGE, form(listing))

    enrolled_owner.post(reverse("crm-referral-connection-pause"))
    assert ReferralConnection.objects.get().is_active is False
    assert "Resume" in enrolled_owner.get(PAGE).content.decode()
    enrolled_owner.post(reverse("crm-referral-connection-resume"))
    assert ReferralConnection.objects.get().is_active is True
    with django_capture_on_commit_callbacks() as callbacks:
        response = enrolled_owner.post(reverse("crm-referral-connection-sync"))
    assert response.status_code == 302 and len(callbacks) == 1


def test_the_admin_shows_connections_without_secrets(client, staff_user, publisher, listing):
    row = connect(publisher, listing)
    client.force_login(staff_user)

    pages = [
        client.get(reverse("admin:crm_referralconnection_changelist")),
        client.get(reverse("admin:crm_referralconnection_change", args=[row.pk])),
        client.get(reverse("admin:leads_referral_changelist")),
    ]

    for page in pages:
        assert page.status_code == 200
        text = page.content.decode()
        assert pc.CLIENT_SECRET not in text and pc.PASSWORD not in text
    response = client.post(
        reverse("admin:crm_referralconnection_changelist"),
        {"action": "pause", "_selected_action": [row.pk]},
    )
    assert response.status_code == 302
    assert ReferralConnection.objects.get().is_active is False


def test_view_only_staff_see_connections_but_cannot_pause_resume_or_sync(
    client, publisher, listing
):
    # given a staff member who may only view the connections
    row = connect(publisher, listing)
    viewer = factories.make_user(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_referralconnection"))
    client.force_login(viewer)
    changelist = reverse("admin:crm_referralconnection_changelist")

    # when the list is opened and the pause action is posted anyway
    page = client.get(changelist)
    response = client.post(changelist, {"action": "pause", "_selected_action": [row.pk]})

    # then the list shows no sync action, and the connection is untouched
    assert page.status_code == 200
    form = page.context["action_form"]  # None: no action at all is offered
    offered = {value for value, _label in form.fields["action"].choices} if form else set()
    assert offered.isdisjoint({"pause", "resume", "sync_now"})
    assert response.status_code in (200, 302)
    assert ReferralConnection.objects.get().is_active is True
