"""Fixtures of the Referrals API tests: a Co-Sell enrolled publisher, its connection, and
the loopback Partner Center (tests/crm/receivers/partner_center_receiver.py)."""

from dataclasses import dataclass

import pytest
from django.utils import timezone

from crm.connectors import http_client
from crm.connectors.token_cache import default_cache
from crm.referrals import services as connection_services
from portal.models import Membership
from tests import factories
from tests.crm.receivers import ca_bundle_path
from tests.crm.receivers import partner_center_receiver as pc


@dataclass
class CoSell:
    publisher: object
    owner: object
    member: object
    listing: object
    target: object
    connection: object
    receiver: pc.PartnerCenterReceiver


@pytest.fixture
def partner_center(monkeypatch, settings):
    monkeypatch.setenv("CRM_EXTRA_CA_BUNDLE", ca_bundle_path())
    settings.CRM_TOTAL_TIMEOUT = 5.0
    settings.PARTNER_CENTER_MAX_WAIT_SECONDS = 2.0
    default_cache.clear()
    with pc.PartnerCenterReceiver() as receiver:
        settings.PARTNER_CENTER_TOKEN_URL = receiver.token_url()
        settings.PARTNER_CENTER_API_URL = receiver.api_url()
        yield receiver
    default_cache.clear()
    http_client.clients_close()


def connect(publisher, listing, **overrides):
    fields = {
        "publisher": publisher,
        "listing": listing,
        "tenant_id": pc.TENANT,
        "client_id": pc.CLIENT_ID,
        "username": pc.USERNAME,
        "client_secret": pc.CLIENT_SECRET,
        "password": pc.PASSWORD,
    }
    return connection_services.referral_connection_save(**(fields | overrides))


@pytest.fixture
def co_sell(db, partner_center) -> CoSell:
    publisher = factories.make_publisher(name="Contoso", co_sell_enrolled=True)
    owner = factories.make_membership(publisher=publisher).user
    member = factories.make_membership(publisher=publisher, role=Membership.Role.MEMBER).user
    listing = factories.make_listing(publisher=publisher, name="Contoso Analytics")
    target = factories.make_target(publisher=publisher, verified_at=timezone.now())
    connection = connect(publisher, listing)
    return CoSell(publisher, owner, member, listing, target, connection, partner_center)
