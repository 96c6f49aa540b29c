"""`Lead.storefronts`: the storefronts a lead has activities on, as bits (leads/0026).

Every write that adds or moves activities keeps it, the list's storefront filter reads it
and finds exactly the leads an `EXISTS` on their activities finds.
"""

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.db.models import Exists, OuterRef
from django.urls import reverse

from leads.catalog.storefronts import (
    STOREFRONT_BITS,
    Storefront,
    storefront_mask,
    storefront_masks_with,
)
from leads.intake import api_keys
from leads.lifecycle.selectors import LeadFilters, leads_matching
from leads.models import ApiKey, Lead, LeadActivity
from leads.work.services import lead_merge, lead_merge_undo
from tests.factories import make_activity, make_campaign, make_lead, make_listing
from tests.leads.conftest import lead_payload

pytestmark = pytest.mark.sqlite

APPSOURCE = STOREFRONT_BITS[Storefront.APPSOURCE]
AZURE = STOREFRONT_BITS[Storefront.AZURE_MARKETPLACE]
BACKFILL = importlib.import_module("leads.migrations.0026_lead_storefronts").backfill


def _bits(email: str) -> int:
    return Lead.objects.values_list("storefronts", flat=True).get(email_normalized=email)


def test_the_masks_of_a_storefront_are_those_with_its_bit():
    assert storefront_mask([Storefront.APPSOURCE, Storefront.AZURE_MARKETPLACE]) == 3
    assert storefront_masks_with(Storefront.AZURE_MARKETPLACE) == [2, 3]
    assert storefront_masks_with(Storefront.APPSOURCE) == [1, 3]
    assert storefront_masks_with("nowhere") == []


def test_intake_sets_the_bit_of_each_storefront_a_lead_comes_from(market):
    # Given a lead from Azure Marketplace
    assert market.post(lead_payload(email="ada@x.example")).status_code == 201
    assert _bits("ada@x.example") == AZURE

    # When the same person comes from AppSource, Then the lead has both bits
    payload = lead_payload(email="ada@x.example", LeadSource="AppSource-INS|Contoso CRM")
    assert market.post(payload, key=market.appsource_key).status_code == 201
    assert _bits("ada@x.example") == APPSOURCE | AZURE


def test_bulk_intake_sets_the_bits_of_every_lead(market):
    items = [lead_payload(email=f"p{n}@x.example") for n in range(3)]
    response = market.post(items, path="/api/v1/leads/bulk")
    assert response.status_code in (200, 207), response.content
    assert set(Lead.objects.values_list("storefronts", flat=True)) == {AZURE}


def test_a_co_sell_referral_sets_its_listings_storefront(market):
    market.publisher.co_sell_enrolled = True
    market.publisher.save()
    seller_key = api_keys.api_key_create(kind=ApiKey.Kind.MICROSOFT_SELLER, name="sellers")[1]
    payload = lead_payload(email="ref@x.example", OfferId="contoso.analytics")
    payload["ReferralId"] = "ref-1"
    response = market.post(payload, key=seller_key, path="/api/v1/referrals")
    assert response.status_code == 201, response.content
    assert _bits("ref@x.example") == AZURE


def test_a_merge_moves_the_bits_with_the_activities_and_undo_moves_them_back(publisher, owner):
    # Given a lead from AppSource and one from Azure Marketplace
    survivor = make_lead(publisher=publisher, email="ada@x.example")
    merged = make_lead(publisher=publisher, email="ada.l@x.example")
    make_activity(
        lead=survivor, listing=make_listing(publisher=publisher, storefront=Storefront.APPSOURCE)
    )
    make_activity(
        lead=merged,
        listing=make_listing(publisher=publisher, storefront=Storefront.AZURE_MARKETPLACE),
    )

    # When they are merged, Then the survivor has both storefronts and the merged lead none
    record = lead_merge(publisher=publisher, survivor_id=survivor.pk, merged_id=merged.pk, by=owner)
    assert (_bits("ada@x.example"), _bits("ada.l@x.example")) == (APPSOURCE | AZURE, 0)

    # When the merge is undone, Then each has its own again
    lead_merge_undo(merge=record, by=owner)
    assert (_bits("ada@x.example"), _bits("ada.l@x.example")) == (APPSOURCE, AZURE)


@pytest.fixture
def mixed(publisher):
    """Leads on AppSource, on Azure Marketplace, on both, and on none."""
    appsource = make_listing(publisher=publisher, storefront=Storefront.APPSOURCE)
    azure = make_listing(publisher=publisher, storefront=Storefront.AZURE_MARKETPLACE)
    campaign = make_campaign(publisher=publisher, listings=[appsource])
    make_activity(lead=make_lead(publisher=publisher), listing=appsource, campaign=campaign)
    make_activity(lead=make_lead(publisher=publisher), listing=azure)
    both = make_lead(publisher=publisher)
    make_activity(lead=both, listing=appsource)
    make_activity(lead=both, listing=azure)
    make_lead(publisher=publisher)
    return appsource, azure, campaign


def _by_exists(publisher, **conditions) -> set[int]:
    activities = LeadActivity.objects.filter(lead=OuterRef("pk"), **conditions)
    return set(Lead.objects.filter(Exists(activities), publisher=publisher).values_list("pk"))


def _matching(publisher, **filters) -> set[int]:
    leads = leads_matching(publisher=publisher, filters=LeadFilters(**filters))
    return set(leads.values_list("pk"))


def test_the_storefront_filter_finds_what_exists_on_the_activities_finds(publisher, mixed):
    _appsource, azure, campaign = mixed
    for storefront in Storefront.values:
        assert _matching(publisher, storefront=storefront) == _by_exists(
            publisher, storefront=storefront
        )
        assert len(_matching(publisher, storefront=storefront)) == 2
    # With a listing or a campaign, one activity must match them all, as before.
    assert _matching(publisher, storefront="appsource", listing_id=azure.pk) == set()
    assert _matching(publisher, storefront="azure-marketplace", listing_id=azure.pk) == (
        _by_exists(publisher, listing_id=azure.pk)
    )
    assert _matching(publisher, storefront="appsource", campaign_id=campaign.pk) == (
        _by_exists(publisher, campaign_id=campaign.pk)
    )


def test_the_migration_backfills_every_lead_from_its_activities(publisher, mixed):
    expected = dict(Lead.objects.values_list("pk", "storefronts"))
    assert sorted(expected.values()) == [0, APPSOURCE, AZURE, APPSOURCE | AZURE]
    Lead.objects.update(storefronts=0)

    # What RunPython hands over, without opening a schema editor inside the test's transaction.
    schema_editor = SimpleNamespace(
        connection=connection, execute=lambda sql: connection.cursor().execute(sql)
    )
    BACKFILL(django_apps, schema_editor)

    assert dict(Lead.objects.values_list("pk", "storefronts")) == expected


def test_an_activity_deleted_in_admin_takes_its_bit_away(publisher, staff_client):
    # Given a lead with an activity on each storefront
    lead = make_lead(publisher=publisher, email="ada@x.example")
    make_activity(
        lead=lead, listing=make_listing(publisher=publisher, storefront=Storefront.APPSOURCE)
    )
    azure = make_activity(
        lead=lead,
        listing=make_listing(publisher=publisher, storefront=Storefront.AZURE_MARKETPLACE),
    )
    assert _bits("ada@x.example") == APPSOURCE | AZURE

    # When staff delete the Azure Marketplace one, Then the lead is on AppSource only
    url = reverse("admin:leads_leadactivity_delete", args=[azure.pk])
    assert staff_client.post(url, {"post": "yes"}).status_code == 302
    assert _bits("ada@x.example") == APPSOURCE
