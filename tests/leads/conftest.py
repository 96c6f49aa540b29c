import json

import pytest
from django.test import Client

from leads.catalog import services as catalog_services
from leads.catalog.storefronts import Storefront
from leads.intake import api_keys
from leads.models import ApiKey
from leads.scoring import services as scoring_services
from tests.factories import make_listing, make_publisher
from tests.leads.publisher_api_support import PublisherApi

# Partner Center's own samples (reference/partner-center-leads.md §2 and §1.4), verbatim
# but for the missing comma of the FAQ sample.
HTTPS_DOC_SAMPLE = {
    "UserDetails": {
        "FirstName": "Some",
        "LastName": "One",
        "Email": "someone@contoso.com",
        "Phone": "16175555555",
        "Country": "USA",
        "Company": "Contoso",
        "Title": "Esquire",
    },
    "LeadSource": "AzureMarketplace",
    "ActionCode": "INS",
    "OfferTitle": "Test Microsoft",
    "Description": "Test run through Power Automate",
}
FAQ_TEST_LEAD = {
    "userDetails": {
        "FirstName": "MSFT_TEST_636573304831318844",
        "LastName": "MSFT_TEST_636573304831318844",
        "Email": "MSFT_TEST_636573304831318844@test.com",
        "Phone": "1234567890",
        "Country": "US",
        "Company": "MSFT_TEST_636573304831318844",
        "Title": "MSFT_TEST_636573304831318844",
    },
    "LeadSource": "AzureMarketplace",
    "ActionCode": "INS",
    "OfferTitle": "Contoso Test",
    "Description": "MSFT_TEST_636573304831318844",
}


def offer_published(*, publisher, offer_id, name, storefront="azure-marketplace"):
    """A published offer listing of this publisher, with lead management on."""
    listing = make_listing(
        publisher=publisher,
        storefront=storefront,
        listing_type="offer",
        offer_id=offer_id,
        name=name,
        lead_management_enabled=True,
    )
    return catalog_services.listing_publish(listing=listing)


def lead_payload(email="ada@contoso.example", offer_id=None, **fields) -> dict:
    """A valid lead in Partner Center's shape, for the marketplace listing `offer_id`."""
    payload = {
        "UserDetails": {
            "FirstName": "Ada",
            "LastName": "Lovelace",
            "Email": email,
            "Phone": "+44 20 7946 0000",
            "Country": "GB",
            "Company": "Analytical Engines Ltd",
            "Title": "CTO",
        },
        "LeadSource": "AzureMarketplace-INS|Contoso CRM",
        "ActionCode": "INS",
        "OfferTitle": "Contoso CRM",
        "Description": "Wants a demo",
    }
    if offer_id:
        payload["OfferId"] = offer_id
    payload.update(fields)
    return payload


class Storefronts:
    """A marketplace as intake sees it: a publisher with published listings and keys."""

    def __init__(self):
        self.publisher = make_publisher(name="Contoso", publisher_id="contoso")
        scoring_services.scoring_rules_seed_defaults(publisher=self.publisher)
        self.azure = self._published("contoso.contoso-crm", "Contoso CRM", "azure-marketplace")
        self.azure_other = self._published(
            "contoso.analytics", "Contoso Analytics", "azure-marketplace"
        )
        self.https_sample = self._published(
            "contoso.test-microsoft", "Test Microsoft", "azure-marketplace"
        )
        self.faq_sample = self._published(
            "contoso.contoso-test", "Contoso Test", "azure-marketplace"
        )
        self.appsource = make_listing(
            publisher=self.publisher,
            storefront=Storefront.APPSOURCE,
            offer_id="contoso.contoso-crm",
            name="Contoso CRM",
            lead_management_enabled=True,
            status="published",
            published_at="2026-01-01T00:00:00Z",
        )
        _, self.azure_key = api_keys.api_key_create(
            kind=ApiKey.Kind.STOREFRONT, name="azure", storefront=Storefront.AZURE_MARKETPLACE
        )
        _, self.appsource_key = api_keys.api_key_create(
            kind=ApiKey.Kind.STOREFRONT, name="appsource", storefront=Storefront.APPSOURCE
        )
        self.client = Client()

    def _published(self, offer_id, name, storefront):
        return offer_published(
            publisher=self.publisher, offer_id=offer_id, name=name, storefront=storefront
        )

    def post(self, payload, *, key=None, path="/api/v1/leads", **headers):
        body = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
        return self.client.post(
            path,
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key or self.azure_key}",
            **headers,
        )


@pytest.fixture
def market(db):
    return Storefronts()


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def api(publisher):
    return PublisherApi(publisher)


@pytest.fixture
def client_of(db):
    def login(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return login


@pytest.fixture
def owner_client(owner, client_of):
    return client_of(owner)
