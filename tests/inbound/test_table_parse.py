"""A stored Azure Table entity becomes a lead of the publisher's listing, or a reject that
says why and can be retried (inbound.table.table_parse)."""

import json
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from inbound import receive, services, table
from inbound.models import InboundItem
from leads.catalog.storefronts import Storefront
from leads.models import LeadActivity, Listing
from tests.factories import make_campaign, make_publisher
from tests.inbound.table_support import (
    customer,
    pc_entity,
    published_offer,
    table_source,
)

pytestmark = pytest.mark.sqlite
TIMESTAMP = "2026-12-05T10:00:00.123456+00:00"
CONNECTION = "UseDevelopmentStorage=true"


@pytest.fixture
def source(db):
    publisher = make_publisher(name="Contoso", publisher_id="contoso")
    return table_source(publisher, CONNECTION, "MarketplaceLeads")


def process(source, **entity) -> InboundItem:
    body = json.dumps({"Timestamp": TIMESTAMP, **pc_entity(1, **entity)})
    item, _ = services.inbound_item_store(source=source, body=body, dedupe_key="pk|rk")
    return services.inbound_item_process(item_id=item.pk)


def test_an_entity_becomes_an_activity_of_the_listing_its_product_id_names(source):
    offer = published_offer(source.publisher, offer_id="contoso.contoso-crm")

    item = process(source, ProductId="Contoso.Contoso-CRM", Description="Wants 50 seats")

    assert item.status == InboundItem.Status.PROCESSED
    activity = item.activity
    assert activity.listing == offer
    assert (activity.storefront, activity.action_code) == (Storefront.AZURE_MARKETPLACE, "INS")
    assert activity.lead_source == "AzureMarketplace-INS|Contoso CRM"
    assert activity.occurred_at == datetime(2026, 12, 5, 9, 30, 0, 123456, tzinfo=UTC)
    lead = activity.lead
    assert (lead.email, lead.first_name, lead.company, lead.country) == (
        "ada1@fabrikam.example",
        "Ada1",
        "Fabrikam",
        "US",
    )
    assert activity.raw_payload["Description"] == "Wants 50 seats"
    assert activity.raw_payload["OfferTitle"] == "Contoso CRM"


def test_the_storefront_comes_from_lead_source_when_the_offer_is_on_both(source):
    published_offer(source.publisher)
    appsource = published_offer(
        source.publisher, storefront=Storefront.APPSOURCE, listing_type="app"
    )

    item = process(source, LeadSource="AppSource-PLT|Contoso CRM", ActionCode="")

    assert item.activity.listing == appsource
    # ActionCode empty: the action part of LeadSource
    assert item.activity.action_code == "PLT"


def test_without_a_product_id_the_offer_name_finds_the_listing(source):
    offer = published_offer(source.publisher)

    item = process(source, ProductId="")

    assert item.activity.listing == offer


@pytest.mark.parametrize(
    ("created_time", "expected"),
    [
        ("2026-12-05T09:30:00.1234567Z", datetime(2026, 12, 5, 9, 30, 0, 123456, tzinfo=UTC)),
        ("2026-12-05T10:30:00+01:00", datetime(2026, 12, 5, 9, 30, tzinfo=UTC)),
        ("2026-12-05 09:30:00", datetime(2026, 12, 5, 9, 30, tzinfo=UTC)),
        ("/Date(1796463000000)/", datetime(2026, 12, 5, 9, 30, tzinfo=UTC)),
        ("/Date(1796463000000+0100)/", datetime(2026, 12, 5, 9, 30, tzinfo=UTC)),
        ("12/5/2026 9:30:00 AM", datetime(2026, 12, 5, 9, 30, tzinfo=UTC)),
        ("12/05/2026 21:30:00", datetime(2026, 12, 5, 21, 30, tzinfo=UTC)),
        # Unreadable or missing: the moment Partner Center wrote the entity
        ("yesterday", datetime(2026, 12, 5, 10, 0, 0, 123456, tzinfo=UTC)),
        ("", datetime(2026, 12, 5, 10, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_created_time_is_the_activity_time_in_any_format_seen(
    source, time_machine, created_time, expected
):
    time_machine.move_to(datetime(2026, 12, 6, tzinfo=UTC))
    published_offer(source.publisher)

    item = process(source, CreatedTime=created_time)

    assert item.activity.occurred_at == expected


@pytest.mark.parametrize(
    ("entity", "code", "reason"),
    [
        (
            {"ProductId": "contoso.not-listed"},
            "unknown_offer",
            "None of your listings has the offer id 'contoso.not-listed' (ProductId). "
            "Add the listing, then retry this item.",
        ),
        (
            {"CustomerInfo": "{FirstName: Ada"},
            "malformed_customer_info",
            "The entity's CustomerInfo is not valid JSON.",
        ),
        (
            {"CustomerInfo": '["Ada"]'},
            "malformed_customer_info",
            "The entity's CustomerInfo is not a JSON object.",
        ),
        (
            {"CustomerInfo": " "},
            "no_customer_info",
            "The entity has no CustomerInfo: it names no customer.",
        ),
        (
            {"CustomerInfo": json.dumps(customer(1, Email="not an address"))},
            "invalid_lead",
            "UserDetails.Email: Enter a valid email address.",
        ),
    ],
)
def test_an_entity_that_cannot_be_mapped_is_a_reject_with_its_reason(source, entity, code, reason):
    published_offer(source.publisher)

    item = process(source, **entity)

    assert (item.status, item.reason_code, item.reason) == (
        InboundItem.Status.REJECTED,
        code,
        reason,
    )
    assert not LeadActivity.objects.exists()


def test_another_publishers_listing_is_never_matched(source):
    published_offer(make_publisher())  # the same offer id, on another publisher

    item = process(source)

    assert (item.status, item.reason_code) == (InboundItem.Status.REJECTED, "unknown_offer")


def test_a_reject_is_processed_once_its_listing_exists(source, django_capture_on_commit_callbacks):
    item = process(source, ProductId="contoso.later")
    assert item.reason_code == "unknown_offer"

    published_offer(source.publisher, offer_id="contoso.later")
    with django_capture_on_commit_callbacks(execute=False):
        assert receive.inbound_items_retry(items=InboundItem.objects.filter(pk=item.pk)) == 1
    item = services.inbound_item_process(item_id=item.pk)

    assert item.status == InboundItem.Status.PROCESSED
    assert item.activity.listing.offer_id == "contoso.later"


def test_a_draft_listing_keeps_the_entity_waiting(source):
    published_offer(source.publisher, status=Listing.Status.DRAFT, published_at=None)

    item = process(source)

    assert (item.status, item.reason_code) == (
        InboundItem.Status.WAITING,
        "listing_not_published",
    )


def test_the_dedupe_key_is_partition_and_row_and_a_long_one_is_hashed():
    class Entity(dict):
        metadata = {"timestamp": timezone.now()}

    short = Entity(PartitionKey="2026-12-05", RowKey="b0f1")
    long = Entity(PartitionKey="p" * 150, RowKey="r" * 150)

    assert table.entity_dedupe_key(short) == "2026-12-05|b0f1"
    assert table.entity_dedupe_key(long) == table.entity_dedupe_key(Entity(long))
    assert len(table.entity_dedupe_key(long)) <= 200


def test_marketing_parameters_in_the_description_attribute_the_campaign(source):
    offer = published_offer(source.publisher)
    campaign = make_campaign(
        publisher=source.publisher,
        storefront=Storefront.AZURE_MARKETPLACE,
        listings=[offer],
        code="spring-launch",
    )

    item = process(source, Description='Campaigns: {"mktcmpid": "spring-launch"}')

    assert item.activity.campaign == campaign
