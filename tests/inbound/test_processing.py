"""Store first, then process: an inbound item becomes a lead, waits, or is a reject."""

import json

import pytest
from django.utils import timezone

from inbound import receive, services
from inbound.models import InboundItem, InboundSource
from leads.catalog.storefronts import Storefront
from leads.models import Lead, LeadActivity, Listing
from tests.factories import make_listing

pytestmark = pytest.mark.sqlite

# partner-center-leads.md §2: the body Microsoft's HTTPS-endpoint doc shows.
DOC_SAMPLE = {
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


def webhook_source(listing: Listing) -> InboundSource:
    return InboundSource.objects.create(
        publisher=listing.publisher, kind=InboundSource.Kind.WEBHOOK, listing=listing
    )


def store(source, body, key="k1"):
    return services.inbound_item_store(source=source, body=body, dedupe_key=key)[0]


@pytest.fixture
def offer(db):
    return make_listing(
        storefront=Storefront.AZURE_MARKETPLACE,
        offer_id="contoso.crm",
        status=Listing.Status.PUBLISHED,
        lead_management_enabled=True,
        published_at=timezone.now(),
    )


def test_a_stored_item_becomes_an_activity_of_its_listing(offer):
    item = store(webhook_source(offer), json.dumps(DOC_SAMPLE))

    item = services.inbound_item_process(item_id=item.pk)

    assert item.status == InboundItem.Status.PROCESSED
    activity = LeadActivity.objects.get()
    assert item.activity == activity
    assert activity.listing == offer
    assert activity.action_code == "INS"
    assert activity.lead.email == "someone@contoso.com"
    assert activity.lead.country == "US"
    # Processing again (a retry after a crash) makes no second activity.
    InboundItem.objects.filter(pk=item.pk).update(status=InboundItem.Status.PENDING)
    assert services.inbound_item_process(item_id=item.pk).status == "processed"
    assert LeadActivity.objects.count() == 1


def test_the_same_key_is_stored_once(offer):
    source = webhook_source(offer)
    first, created = services.inbound_item_store(source=source, body="{}", dedupe_key="same")
    again, created_again = services.inbound_item_store(source=source, body="{}", dedupe_key="same")
    assert (created, created_again) == (True, False)
    assert first.pk == again.pk


def test_a_draft_listing_keeps_the_item_waiting_until_it_is_published(
    offer, django_capture_on_commit_callbacks
):
    offer.status = Listing.Status.DRAFT
    offer.save()
    item = store(webhook_source(offer), json.dumps(DOC_SAMPLE))

    item = services.inbound_item_process(item_id=item.pk)
    assert item.status == InboundItem.Status.WAITING
    assert item.reason_code == "listing_not_published"
    assert not Lead.objects.exists()

    offer.status = Listing.Status.PUBLISHED
    offer.save()
    with django_capture_on_commit_callbacks(execute=False):
        assert receive.inbound_listing_published(listing_id=offer.pk) == 1
    services.inbound_item_process(item_id=item.pk)
    assert InboundItem.objects.get().status == InboundItem.Status.PROCESSED
    assert Lead.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("not json", "not_json"),
        ("[1, 2]", "not_an_object"),
        (json.dumps({"UserDetails": {"Email": "nope"}}), "invalid_lead"),
    ],
)
def test_a_body_that_cannot_be_a_lead_is_a_reject_with_its_reason(offer, body, code):
    item = services.inbound_item_process(item_id=store(webhook_source(offer), body).pk)
    assert item.status == InboundItem.Status.REJECTED
    assert item.reason_code == code
    assert item.reason
    assert not LeadActivity.objects.exists()
