"""manage.py create_inbound_url: staff make a listing's inbound URL; the last line is it."""

import pytest
from django.core.management import CommandError, call_command

from inbound import sources
from inbound.models import InboundSource
from tests.factories import make_listing, make_publisher

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def run(capsys, *args) -> str:
    call_command("create_inbound_url", *args)
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_it_prints_a_working_url_on_its_last_line(capsys):
    listing = make_listing(offer_id="contoso.crm", status="draft")

    url = run(capsys, "--offer", "CONTOSO.crm")

    assert url.startswith("https://portal.test/api/v1/inbound/partner-center/")
    token = url.rstrip("/").rsplit("/", 1)[1]
    match = sources.webhook_source_for_token(token=token)
    assert match.source.listing == listing


def test_again_it_rotates_and_the_first_url_keeps_working(capsys):
    make_listing(offer_id="contoso.crm")
    first = run(capsys, "--offer", "contoso.crm").rstrip("/").rsplit("/", 1)[1]

    run(capsys, "--offer", "contoso.crm")

    assert InboundSource.objects.count() == 1
    assert sources.webhook_source_for_token(token=first).via_previous


def test_an_unknown_offer_fails_clearly():
    with pytest.raises(CommandError, match=r"No listing has the offer id 'nope\.none'"):
        call_command("create_inbound_url", "--offer", "nope.none")
    assert not InboundSource.objects.exists()


def test_an_offer_on_both_storefronts_needs_the_storefront(capsys):
    publisher = make_publisher()
    make_listing(publisher=publisher, offer_id="contoso.crm", storefront="appsource")
    azure = make_listing(
        publisher=publisher, offer_id="contoso.crm", storefront="azure-marketplace"
    )

    with pytest.raises(CommandError, match=r"several storefronts.*--storefront"):
        call_command("create_inbound_url", "--offer", "contoso.crm")

    run(capsys, "--offer", "contoso.crm", "--storefront", "azure-marketplace")
    assert InboundSource.objects.get().listing == azure
