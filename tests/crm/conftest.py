"""Fixtures shared by the package's test modules."""

import pytest
from django.utils import timezone

from crm.connectors import http_client
from tests import factories
from tests.crm.admin_support import SENTINEL
from tests.crm.receivers import ca_bundle_path


@pytest.fixture
def verified_target(publisher):
    return factories.make_target(
        publisher=publisher,
        config={"httpsEndpointUrl": "https://crm.example/leads", "signingSecret": SENTINEL},
        verified_at=timezone.now(),
    )


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def trusted_loopback(monkeypatch, settings):
    """Trust the receivers' test CA, keep timeouts short, close pooled clients after."""
    monkeypatch.setenv("CRM_EXTRA_CA_BUNDLE", ca_bundle_path())
    settings.CRM_TOTAL_TIMEOUT = 2.0
    yield
    http_client.clients_close()
