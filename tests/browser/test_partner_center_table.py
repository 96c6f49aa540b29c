"""A publisher connects a Partner Center Azure Table in a real browser, in English and
Spanish; the screenshots illustrate docs/partner-center.md ("Azure Table")."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inbound.models import InboundItem, InboundSource
from tests import factories
from tests.browser.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CONNECTION = (
    f"DefaultEndpointsProtocol=https;AccountName=contosoleads;AccountKey={KEY};"
    "EndpointSuffix=core.windows.net"
)


def test_an_owner_adds_a_table_and_reads_its_state(watched_in):
    # Given an owner, signed in
    membership = factories.make_membership()
    watched = watched_in("en-US")
    log_in(watched, membership.user.username, "correct horse battery staple")
    page = watched.page

    # When they add a table from Settings, first with a string that is not one
    page.goto("/settings/")
    page.get_by_role("link", name="Your Azure Table sources").click()
    page.get_by_role("link", name="Add a table").click()
    page.get_by_label("Storage account connection string").fill("AccountName=contoso")
    page.get_by_role("button", name="Add the table").click()

    # Then the error is next to the field, and nothing was added
    assert "This is not a storage account connection string" in page.content()
    assert not InboundSource.objects.exists()
    watched.screenshot("partner-center-table-add-error")

    # When they paste the real one and an import date
    page.get_by_label("Storage account connection string").fill(CONNECTION)
    page.get_by_label("Import from").fill("2026-11-01")
    page.get_by_role("button", name="Add the table").click()

    # Then the table's page shows its reading, and never the key
    source = InboundSource.objects.get()
    assert page.url.endswith(f"/inbound/tables/{source.pk}/")
    assert "The table is added" in page.content()
    assert KEY not in page.content()
    watched.assert_clean()

    # When the table has been read, with one reject, and the owner looks again
    InboundSource.objects.filter(pk=source.pk).update(
        last_read_at=timezone.now() - timedelta(seconds=40),
        watermark=timezone.now() - timedelta(minutes=3),
        connected_at=timezone.now() - timedelta(minutes=3),
    )
    InboundItem.objects.create(
        source=source,
        publisher=source.publisher,
        received_at=timezone.now(),
        body="{}",
        dedupe_key="2026-12-05|1",
        status=InboundItem.Status.REJECTED,
        reason_code="unknown_offer",
        reason="None of your listings has the offer id 'contoso.analytics' (ProductId). "
        "Add the listing, then retry this item.",
    )
    page.reload()

    # Then it is connected, with its reject and a retry button
    assert "Connected" in page.content()
    assert page.get_by_role("button", name="Retry every reject").is_visible()
    watched.screenshot("partner-center-table-detail")
    watched.assert_clean()

    # And in Spanish too
    spanish = watched_in("es-ES")
    spanish.page.goto(f"/accounts/login/?next=/inbound/tables/{source.pk}/")
    spanish.page.locator("input[name=username]").fill(membership.user.username)
    spanish.page.locator("input[name=password]").fill("correct horse battery staple")
    spanish.page.locator("form button[type=submit]").last.click()
    spanish.page.wait_for_load_state()
    assert "Reintentar todos los rechazos" in spanish.page.content()
    spanish.screenshot("partner-center-table-detail-es")
    spanish.assert_clean()
