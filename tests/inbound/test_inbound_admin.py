"""Admin of inbound sources and items: no token anywhere, the body shown, a retry action."""

import pytest
from django.urls import reverse

from inbound.models import InboundItem
from tests.inbound.conftest import Hook
from tests.leads.admin_support import run_action
from tests.leads.conftest import HTTPS_DOC_SAMPLE

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def hook():
    from django.test import Client

    return Hook(Client())


def test_the_source_list_and_page_show_the_state_but_no_token(staff, hook):
    hook.post(HTTPS_DOC_SAMPLE)
    source = hook.source
    source.refresh_from_db()

    listing = staff.get(reverse("admin:inbound_inboundsource_changelist")).content.decode()
    page = staff.get(
        reverse("admin:inbound_inboundsource_change", args=[source.pk])
    ).content.decode()

    assert "Contoso CRM" in listing and "active" in listing
    for text in (listing, page):
        assert hook.token not in text
        assert source.token_hash not in text
    assert "token_hash" not in page


def test_the_item_page_shows_the_body_pretty_printed(staff, hook):
    hook.post(HTTPS_DOC_SAMPLE)
    item = InboundItem.objects.get()

    changelist = staff.get(reverse("admin:inbound_inbounditem_changelist"))
    page = staff.get(reverse("admin:inbound_inbounditem_change", args=[item.pk]))

    assert changelist.status_code == 200
    assert "&quot;Email&quot;: &quot;someone@contoso.com&quot;" in page.content.decode()
    assert hook.token not in page.content.decode()


def test_a_broken_body_is_shown_as_text_and_cut(staff, hook):
    hook.post("{" + "x" * 40_000)

    page = staff.get(
        reverse("admin:inbound_inbounditem_change", args=[InboundItem.objects.get().pk])
    ).content.decode()

    assert "Truncated: only the first 16 KiB are shown." in page


def test_the_retry_action_reopens_rejects(staff, hook, django_capture_on_commit_callbacks):
    hook.post("[1]")
    hook.process_all()
    item = InboundItem.objects.get()
    assert item.status == "rejected"

    with django_capture_on_commit_callbacks(execute=False):
        response = run_action(
            staff, reverse("admin:inbound_inbounditem_changelist"), "retry", [item.pk]
        )

    assert "1 item queued again." in response.content.decode()
    item.refresh_from_db()
    assert item.status == "pending"


@pytest.mark.parametrize("query", ["abc", "rate_limited", "12"])
def test_the_item_search_takes_any_text(staff, hook, query):
    response = staff.get(reverse("admin:inbound_inbounditem_changelist"), {"q": query})

    assert response.status_code == 200
