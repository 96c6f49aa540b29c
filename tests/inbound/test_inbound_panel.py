"""The listing page's Inbound panel: state, the URL shown once, counts, rejects; roles
and tenancy."""

import pytest
from django.urls import reverse

from inbound import sources
from inbound.models import InboundItem, InboundSource
from portal.models import Membership
from tests.factories import make_membership
from tests.inbound.conftest import FAQ_TEST_LEAD_TEXT, Hook
from tests.leads.conftest import HTTPS_DOC_SAMPLE

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def hook(client):
    # The webhook posts with a client of its own: the portal's client signs in.
    from django.test import Client

    return Hook(Client())


def sign_in(client, hook, role=Membership.Role.OWNER):
    client.force_login(make_membership(publisher=hook.publisher, role=role).user)
    return client


def action_urls(hook, item) -> list[str]:
    """Every owner action of the panel, on this item where one is needed."""
    listing = hook.listing.pk
    return [
        reverse("listing-inbound-create", args=[listing]),
        reverse("listing-inbound-rotate", args=[listing]),
        reverse("listing-inbound-revoke", args=[listing]),
        reverse("listing-inbound-retry", args=[listing, item.pk]),
    ]


def panel_url(hook, **query) -> str:
    url = reverse("listing-inbound", args=[hook.listing.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_the_listing_page_loads_the_panel_and_links_to_it(client, hook):
    sign_in(client, hook)

    page = client.get(reverse("listing-detail", args=[hook.listing.pk])).content.decode()

    assert f'hx-get="{panel_url(hook)}"' in page
    assert f'href="{panel_url(hook)}"' in page


def test_creating_a_url_shows_it_once_with_the_instructions(client, hook):
    InboundSource.objects.all().delete()
    sign_in(client, hook)

    response = client.post(reverse("listing-inbound-create", args=[hook.listing.pk]))

    assert response.status_code == 302
    assert response["Location"].endswith(f"/listings/{hook.listing.pk}/#inbound")
    first = client.get(panel_url(hook), **HTMX).content.decode()
    source = InboundSource.objects.get()
    assert "https://portal.test/api/v1/inbound/partner-center/" in first
    assert "Choose HTTPS endpoint as the lead destination." in first
    assert "data-copy=" in first
    url = first.split('<code id="inbound-url-value">')[1].split("</code>")[0]
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert sources.webhook_source_for_token(token=token).source == source
    assert token not in source.token_hash
    # Shown once: the next view has the state, not the URL.
    again = client.get(panel_url(hook), **HTMX).content.decode()
    assert token not in again
    assert "Not connected yet" in again


def test_the_status_polls_until_the_test_lead_connects_the_url(client, hook):
    sign_in(client, hook)
    waiting = client.get(panel_url(hook, part="status"), **HTMX).content.decode()
    assert 'hx-trigger="every 3s"' in waiting
    assert "Not connected yet" in waiting

    hook.post(FAQ_TEST_LEAD_TEXT)

    connected = client.get(panel_url(hook, part="status"), **HTMX).content.decode()
    assert "Connected " in connected
    assert "hx-trigger" not in connected
    assert connected.lstrip().startswith('<div id="inbound-status"')


def test_the_panel_counts_the_last_day_and_week_and_lists_rejects(client, hook):
    sign_in(client, hook)
    hook.post(HTTPS_DOC_SAMPLE)
    hook.post("[1]")
    hook.post(FAQ_TEST_LEAD_TEXT)  # a test lead is not counted
    hook.process_all()

    page = client.get(panel_url(hook), **HTMX).content.decode()

    assert "<dt>Leads, last 24 hours</dt><dd>2</dd>" in page
    assert "<dt>Leads, last 7 days</dt><dd>2</dd>" in page
    assert "The body is not a JSON object." in page
    assert page.count('action="/listings/') >= 3  # rotate, revoke, one retry


def test_rejects_paginate_with_a_bounded_number_of_queries(
    client, hook, django_assert_max_num_queries
):
    sign_in(client, hook)
    for n in range(45):
        hook.post(f"[{n}]")
    hook.process_all()

    with django_assert_max_num_queries(12):
        first = client.get(panel_url(hook), **HTMX).content.decode()
    third = client.get(panel_url(hook, page=3), **HTMX).content.decode()

    assert first.count("The body is not a JSON object.") == 20
    assert third.count("The body is not a JSON object.") == 5
    assert "?page=2" in first


def test_an_owner_retries_a_reject(client, hook, django_capture_on_commit_callbacks):
    sign_in(client, hook)
    hook.post(HTTPS_DOC_SAMPLE)
    item = InboundItem.objects.get()
    InboundItem.objects.update(status="rejected", reason_code="rate_limited")

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("listing-inbound-retry", args=[hook.listing.pk, item.pk]))

    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.status, item.reason_code) == ("pending", "")


def test_an_owner_rotates_and_revokes(client, hook):
    sign_in(client, hook)

    client.post(reverse("listing-inbound-rotate", args=[hook.listing.pk]))
    rotated = client.get(panel_url(hook), **HTMX).content.decode()
    assert "Previous URL works until" in rotated
    assert hook.post(HTTPS_DOC_SAMPLE).status_code == 200  # the old token, in grace

    client.post(reverse("listing-inbound-revoke", args=[hook.listing.pk]))
    revoked = client.get(panel_url(hook), **HTMX).content.decode()
    assert "Revoked" in revoked
    assert "Create inbound URL" in revoked
    assert hook.post({"x": 1}).status_code == 404


def test_a_member_reads_the_panel_but_cannot_act(client, hook):
    sign_in(client, hook, role=Membership.Role.MEMBER)
    hook.post("[1]")
    hook.process_all()
    item = InboundItem.objects.get()

    page = client.get(panel_url(hook), **HTMX).content.decode()

    assert "The body is not a JSON object." in page
    assert "Rotate URL" not in page and "Retry" not in page
    for url in action_urls(hook, item):
        assert client.post(url).status_code == 403
    assert InboundSource.objects.get().revoked_at is None


@pytest.mark.parametrize("role", [Membership.Role.OWNER, Membership.Role.MEMBER])
def test_another_publisher_gets_404_everywhere(client, hook, role, other_publisher):
    client.force_login(make_membership(publisher=other_publisher, role=role).user)
    hook.post("[1]")
    hook.process_all()
    item = InboundItem.objects.get()

    assert client.get(panel_url(hook)).status_code == 404
    for url in action_urls(hook, item):
        assert client.post(url).status_code == 404
    source = InboundSource.objects.get()
    assert source.revoked_at is None and source.previous_token_hash == ""
    assert InboundItem.objects.get().status == "rejected"


def test_without_javascript_the_panel_is_a_page(client, hook):
    sign_in(client, hook)

    page = client.get(panel_url(hook)).content.decode()

    assert "<html" in page
    assert "Inbound from Partner Center" in page
