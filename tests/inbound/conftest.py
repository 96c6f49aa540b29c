import json

import pytest
from django.utils import timezone

from inbound import services, sources
from leads.catalog.storefronts import Storefront
from leads.models import Listing
from tests.factories import make_listing, make_publisher
from tests.leads.conftest import HTTPS_DOC_SAMPLE

# Microsoft's FAQ test lead exactly as published: lowercase userDetails, and no comma
# after "OfferTitle" (partner-center-leads.md §1.4). It is not JSON.
FAQ_TEST_LEAD_TEXT = (
    '{ "userDetails": { "FirstName": "MSFT_TEST_636573304831318844", '
    '"LastName": "MSFT_TEST_636573304831318844",\n'
    '    "Email": "MSFT_TEST_636573304831318844@test.com", "Phone": "1234567890", '
    '"Country": "US",\n'
    '    "Company": "MSFT_TEST_636573304831318844", "Title": "MSFT_TEST_636573304831318844" },\n'
    '  "LeadSource": "AzureMarketplace", "ActionCode": "INS", "OfferTitle": "Contoso Test"\n'
    '  "Description": "MSFT_TEST_636573304831318844" }'
)
# The Cloud Partner Portal era's sample (§2): no ActionCode, no Description.
FLOW_ERA_SAMPLE = {
    "UserDetails": HTTPS_DOC_SAMPLE["UserDetails"],
    "LeadSource": "Test run through MS Flow",
    "OfferTitle": "Test Microsoft",
}


class Hook:
    """A published listing with a Partner Center inbound URL, and a client to post to it."""

    def __init__(self, client, **listing_fields):
        self.client = client
        self.publisher = make_publisher(name="Contoso", publisher_id="contoso")
        fields = {
            "publisher": self.publisher,
            "storefront": Storefront.AZURE_MARKETPLACE,
            "offer_id": "contoso.crm",
            "name": "Contoso CRM",
            "status": Listing.Status.PUBLISHED,
            "lead_management_enabled": True,
            "published_at": timezone.now(),
        }
        self.listing = make_listing(**(fields | listing_fields))
        self.source, self.token = sources.inbound_url_create(listing=self.listing)

    def path(self, token: str | None = None) -> str:
        return sources.inbound_url_path(self.token if token is None else token)

    def post(self, body, token: str | None = None, **extra):
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.client.post(
            self.path(token), data=data, content_type="application/json", **extra
        )

    def process_all(self) -> None:
        """What the worker (or, after an outage, the sweep) does with every stored item."""
        from inbound.models import InboundItem

        for pk in InboundItem.objects.filter(status="pending").values_list("pk", flat=True):
            services.inbound_item_process(item_id=pk)


@pytest.fixture
def hook(db, client):
    return Hook(client)
