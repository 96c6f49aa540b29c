"""Schemathesis over the generated OpenAPI document: no 5xx, no answer off its schema."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation

from inbound import sources as inbound_sources
from leads.intake import api_keys
from leads.models import ApiKey
from portal.wsgi import application
from tests.factories import make_lead
from tests.leads.conftest import Storefronts

# Every check is on (the CLI's `--checks all`). Schema-valid is not always acceptable
# here: an offer must exist, an email must parse, a country must be real (422); `since`
# may name a moment PostgreSQL cannot hold (400). Those answers count as acceptance.
CONFIG = SchemathesisConfig.from_dict(
    {
        "operations": [
            {
                "include-path-regex": "^/api/v1/(leads|leads/bulk|referrals)$",
                "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "422"]}},
            },
            {
                # Partner Center's webhook stores every JSON body and answers 200 (store
                # first, docs/partner-center.md): schema-invalid data is accepted on purpose.
                "include-path-regex": "^/api/v1/inbound/",
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx"]},
                    "negative_data_rejection": {"enabled": False},
                },
            },
            {
                "include-path": "/api/v1/publisher/leads",
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "422"]}
                },
            },
        ]
    }
)
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application, config=CONFIG)


@pytest.fixture
def in_process_wsgi():
    """Keep the test's connection open across requests, as Django's test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def credentials(db, in_process_wsgi, settings):
    # Checks that send bad credentials on purpose would otherwise reach the per-address
    # limit of failed authentications (leads.intake.api_keys) and turn later examples into 429s.
    settings.API_AUTH_FAILURE_LIMIT = 1_000_000
    market = Storefronts()
    market.publisher.co_sell_enrolled = True
    market.publisher.save()
    make_lead(publisher=market.publisher)
    seller = api_keys.api_key_create(kind=ApiKey.Kind.MICROSOFT_SELLER, name="sellers")[1]
    token = api_keys.publisher_token_create(publisher=market.publisher, name="ci")[1]
    inbound = inbound_sources.inbound_url_create(listing=market.azure)[1]
    return {
        "/leads": market.azure_key,
        "/referrals": seller,
        "/publisher": token,
        "/inbound": inbound,
    }


def test_the_openapi_document_is_served(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    paths = set(response.json()["paths"])
    assert {
        "/api/v1/leads",
        "/api/v1/leads/bulk",
        "/api/v1/referrals",
        "/api/v1/publisher/leads",
        "/api/v1/publisher/leads/{lead_id}",
    } <= paths
    assert client.get("/api/v1/docs").status_code == 200


def test_every_authenticated_operation_documents_its_refusals(client):
    # Given the generated document
    paths = client.get("/api/v1/openapi.json").json()["paths"]

    # Then every operation documents 401 and the 429 of repeated bad credentials, and
    # the writes document intake's 503 (lock conflicts outlasting its own retries)
    documented = {
        (path, method): set(operation["responses"])
        for path, methods in paths.items()
        for method, operation in methods.items()
    }
    assert documented
    # Partner Center's webhook takes no credential but its URL's token (inbound.api).
    webhook = documented.pop(("/api/v1/inbound/partner-center/{token}/", "post"))
    assert webhook == {"200", "400", "404", "413", "429"}
    for (path, method), statuses in documented.items():
        assert {"401", "429"} <= statuses, (path, method)
        if method == "post":
            assert {"413", "503"} <= statuses, (path, method)


@schema.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_keeps_its_contract(case, credentials):
    prefix = next(p for p in credentials if case.path.removeprefix("/api/v1").startswith(p))
    if prefix == "/inbound":
        # The webhook's credential is its URL's token; wrong ones are tested elsewhere.
        case.path_parameters = {"token": credentials[prefix]}
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
        # A negative example whose headers lack the credential on purpose keeps that lack:
        # adding it back would turn the example into valid data that the API rightly takes.
        case.call_and_validate()
        return
    case.call_and_validate(headers={"Authorization": f"Bearer {credentials[prefix]}"})
