"""The inbound admin for Azure Table sources: no connection string shown, and the
reader's actions (read now, pause, resume)."""

import pytest
from django.urls import reverse

from inbound.models import InboundItem, InboundSource
from tests.factories import make_publisher
from tests.inbound.table_support import table_source

pytestmark = pytest.mark.django_db

SENTINEL = "U0VOVElORUwtYWNjb3VudC1rZXktbmV2ZXItc2hvd24="
CONNECTION = f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={SENTINEL}"


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def source(db):
    return table_source(make_publisher(), CONNECTION, "MarketplaceLeads")


@pytest.fixture
def rejected(source):
    return InboundItem.objects.create(
        source=source,
        publisher=source.publisher,
        received_at=source.created_at,
        body='{"ProductId": "contoso.later"}',
        dedupe_key="p|r",
        status=InboundItem.Status.REJECTED,
        reason_code="unknown_offer",
        reason="None of your listings has the offer id 'contoso.later' (ProductId).",
    )


def test_every_page_opens_and_none_shows_the_connection_string(staff_client, source, rejected):
    pages = {
        "sources": reverse("admin:inbound_inboundsource_changelist"),
        "source": reverse("admin:inbound_inboundsource_change", args=[source.pk]),
        "items": reverse("admin:inbound_inbounditem_changelist"),
        "rejects": reverse("admin:inbound_inbounditem_changelist") + "?status__exact=rejected",
        "item": reverse("admin:inbound_inbounditem_change", args=[rejected.pk]),
    }

    responses = {name: staff_client.get(url) for name, url in pages.items()}

    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(pages, 200)
    assert [name for name, r in responses.items() if SENTINEL in r.text] == []
    assert "unknown_offer" in responses["rejects"].text
    assert "MarketplaceLeads" in responses["source"].text


@pytest.mark.parametrize(("action", "paused"), [("pause", True), ("resume", False)])
def test_pause_and_resume_actions(staff_client, source, action, paused):
    InboundSource.objects.filter(pk=source.pk).update(paused=not paused)

    staff_client.post(
        reverse("admin:inbound_inboundsource_changelist"),
        {"action": action, "_selected_action": [source.pk]},
    )

    source.refresh_from_db()
    assert source.paused is paused


def test_read_now_queues_a_read_of_each_table_source(
    staff_client, source, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        staff_client.post(
            reverse("admin:inbound_inboundsource_changelist"),
            {"action": "read_now", "_selected_action": [source.pk]},
        )

    assert len(queued) == 1
