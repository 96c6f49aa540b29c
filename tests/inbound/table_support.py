"""What the Azure Table reader tests share: Partner Center's entities, written to Azurite."""

import itertools
import json

from azure.data.tables import TableServiceClient
from django.utils import timezone

from inbound import services
from inbound.models import InboundItem, InboundSource
from inbound.table_sources import table_source_create
from leads.catalog.storefronts import Storefront
from leads.models import Listing
from tests.factories import make_listing

OFFER_ID = "contoso.contoso-crm"
_row = itertools.count(1)


def customer(n: int, **fields) -> dict:
    """A CustomerInfo as Partner Center writes it (partner-center-leads.md §1.4)."""
    return {
        "FirstName": f"Ada{n}",
        "LastName": "Okafor",
        "Email": f"ada{n}@fabrikam.example",
        "Phone": "1234567890",
        "Country": "US",
        "Company": "Fabrikam",
        "Title": "CTO",
    } | fields


def pc_entity(n: int, *, product_id: str = OFFER_ID, customer_info=None, **columns) -> dict:
    """An entity shaped as Partner Center's (§3.4): CustomerInfo is a JSON string."""
    info = customer_info if customer_info is not None else json.dumps(customer(n))
    return {
        "PartitionKey": "2026-12-05",
        "RowKey": f"row-{next(_row):06d}",
        "ProductId": product_id,
        "CustomerInfo": info,
        "LeadSource": "AzureMarketplace-INS|Contoso CRM",
        "ActionCode": "INS",
        "PublisherDisplayName": "Contoso",
        "OfferDisplayName": "Contoso CRM",
        "CreatedTime": "2026-12-05T09:30:00.1234567Z",
        "Description": "Campaigns: ",
    } | columns


def write(connection: str, table_name: str, entities: list[dict]) -> list[dict]:
    """Write entities as Partner Center does (the table is created on first use)."""
    with TableServiceClient.from_connection_string(connection) as service:
        table = service.create_table_if_not_exists(table_name)
        for entity in entities:
            table.create_entity(entity)
    return entities


def entity_keys(entities: list[dict]) -> set[str]:
    return {f"{e['PartitionKey']}|{e['RowKey']}" for e in entities}


def published_offer(publisher, **fields) -> Listing:
    defaults = {
        "storefront": Storefront.AZURE_MARKETPLACE,
        "offer_id": OFFER_ID,
        "name": "Contoso CRM",
        "status": Listing.Status.PUBLISHED,
        "lead_management_enabled": True,
        "published_at": timezone.now(),
    }
    return make_listing(publisher=publisher, **(defaults | fields))


def table_source(publisher, connection: str, table_name: str, **fields) -> InboundSource:
    return table_source_create(
        publisher=publisher, connection_string=connection, table_name=table_name, **fields
    )


def process_pending() -> None:
    """What the worker does with every stored item (inbound.tasks.process_item)."""
    for item_id in InboundItem.objects.filter(status="pending").values_list("pk", flat=True):
        services.inbound_item_process(item_id=item_id)
