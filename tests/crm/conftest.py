"""Fixtures shared by the package's test modules."""

import pytest
from django.utils import timezone

from tests import factories
from tests.crm.admin_support import SENTINEL


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
