"""The leads admin: storefront keys and publisher tokens."""

import pytest
from django.urls import reverse

from leads.intake import api_keys
from leads.models import ApiKey
from tests.leads.admin_support import messages_of, run_action

pytestmark = pytest.mark.django_db


# --- Credentials --------------------------------------------------------------------------


def test_revoke_action_revokes_a_storefront_key_once(staff_client):
    # Given a live key and a revoked one
    live, _key = api_keys.api_key_create(kind="storefront", name="A", storefront="appsource")
    revoked, _key = api_keys.api_key_create(kind="storefront", name="B", storefront="appsource")
    api_keys.api_key_revoke(api_key=revoked)
    revoked_at = ApiKey.objects.get(pk=revoked.pk).revoked_at

    # When staff revoke both
    response = run_action(
        staff_client, reverse("admin:leads_apikey_changelist"), "revoke", [live.pk, revoked.pk]
    )

    # Then the live one is revoked and the other keeps its time
    assert messages_of(response) == ["1 key revoked."]
    live.refresh_from_db()
    assert live.revoked_at is not None
    assert ApiKey.objects.get(pk=revoked.pk).revoked_at == revoked_at


def test_key_page_never_shows_the_key_or_its_hash(staff_client):
    api_key, key = api_keys.api_key_create(kind="storefront", name="A", storefront="appsource")

    response = staff_client.get(reverse("admin:leads_apikey_change", args=[api_key.pk]))

    assert response.status_code == 200
    assert (key in response.text, api_key.key_hash in response.text) == (False, False)


def test_staff_create_a_storefront_key_shown_once(client, staff_user):
    from leads.intake import api_keys
    from leads.models import ApiKey

    client.force_login(staff_user)

    response = client.post(
        "/admin/leads/apikey/add/", {"kind": "storefront", "storefront": "appsource", "name": "AS"}
    )

    api_key = ApiKey.objects.get()
    secret = response.context["secret"]
    assert response.status_code == 200
    assert secret in response.content.decode()
    assert api_key.key_hash == api_keys.key_hash(secret) != secret
    assert api_keys.api_key_authenticate(key=secret, kind="storefront") == api_key
    # Never again: the change page shows the prefix only.
    assert secret not in client.get(f"/admin/leads/apikey/{api_key.pk}/change/").content.decode()


def test_a_key_of_the_wrong_shape_is_refused_with_a_reason(client, staff_user):
    from leads.models import ApiKey

    client.force_login(staff_user)

    response = client.post(
        "/admin/leads/apikey/add/", {"kind": "storefront", "storefront": "", "name": "x"}
    )

    assert response.status_code == 200
    assert "A storefront key names its storefront" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_staff_create_a_publisher_token_shown_once(client, staff_user, publisher):
    from leads.intake import api_keys
    from leads.models import PublisherApiToken

    client.force_login(staff_user)

    response = client.post(
        "/admin/leads/publisherapitoken/add/", {"publisher": publisher.pk, "name": "CRM sync"}
    )

    token = PublisherApiToken.objects.get()
    assert (token.publisher, token.created_by) == (publisher, staff_user)
    assert api_keys.publisher_token_authenticate(token=response.context["secret"]) == token
