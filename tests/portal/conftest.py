"""The tenancy matrix's world, seeded once per test module; a Redis of a test's own."""

import pytest
from django.db import transaction

from leads.intake import api_keys
from leads.reporting import rollup
from tests import factories
from tests.portal.process_support import own_redis  # noqa: F401  (fixture)
from tests.portal.tenancy_world import A_MARK, B_MARK, World, side_seed


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Seeded once for the module in a transaction that is rolled back at its end; each
    test runs in a savepoint inside it."""
    with django_db_blocker.unblock(), transaction.atomic():
        a, b = side_seed(A_MARK), side_seed(B_MARK)
        rollup.rollup_backfill(days=90, publisher_ids=[a.publisher.pk, b.publisher.pk])
        _api, b_api_token = api_keys.publisher_token_create(publisher=b.publisher, name="api")
        staff = factories.make_user(username="matrix-staff", is_staff=True, is_superuser=True)
        yield World(a, b, staff, b_api_token)
        transaction.set_rollback(True)
