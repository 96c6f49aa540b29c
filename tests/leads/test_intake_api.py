"""POST /api/v1/leads: the storefront intake contract (DESIGN §5)."""

import io
import json

import pytest
from django.test import Client

from crm.models import Delivery
from leads.catalog import services as catalog_services
from leads.intake import api_keys
from leads.models import ApiKey, Lead, LeadActivity
from tests.factories import make_listing, make_publisher, make_target
from tests.leads.conftest import FAQ_TEST_LEAD, HTTPS_DOC_SAMPLE, lead_payload

pytestmark = pytest.mark.sqlite


def test_the_https_doc_sample_is_accepted(market):
    response = market.post(HTTPS_DOC_SAMPLE)

    assert response.status_code == 201
    body = response.json()
    lead = Lead.objects.get()
    assert body == {
        "id": str(lead.uuid),
        "status": lead.status,
        "score": lead.score,
        "consolidated": False,
    }
    assert (lead.email, lead.country, lead.company, lead.phone) == (
        "someone@contoso.com",
        "US",  # "USA" normalized to alpha-2
        "Contoso",
        "16175555555",
    )
    activity = lead.activities.get()
    assert activity.listing == market.https_sample
    assert (activity.action_code, activity.lead_source) == ("INS", "AzureMarketplace")
    assert activity.raw_payload == HTTPS_DOC_SAMPLE


def test_the_faq_test_lead_is_stored_as_a_test_and_never_qualified_or_delivered(market):
    make_target(publisher=market.publisher)

    response = market.post(FAQ_TEST_LEAD)

    assert response.status_code == 201
    lead = Lead.objects.get()
    assert lead.is_test is True
    assert lead.activities.get().is_test is True
    assert lead.status == "new"
    assert lead.first_campaign is None
    assert not Delivery.objects.exists()


def test_keys_are_matched_case_insensitively(market):
    payload = {
        "userdetails": {"EMAIL": "Grace@Navy.example", "firstname": "Grace", "COUNTRY": "usa"},
        "leadsource": "AzureMarketplace-PLT|contoso.contoso-crm",
        "OFFERID": "contoso.contoso-crm",
    }

    response = market.post(payload)

    assert response.status_code == 201
    lead = Lead.objects.get()
    assert (lead.first_name, lead.email_normalized, lead.country) == (
        "Grace",
        "grace@navy.example",
        "US",
    )
    assert lead.activities.get().action_code == "PLT"  # from LeadSource's Source-Action part


@pytest.mark.parametrize(
    ("country", "normalized"),
    [("DE", "DE"), ("deu", "DE"), ("Germany", "DE"), ("United States", "US"), ("", "")],
)
def test_country_is_normalized_to_alpha_2(market, country, normalized):
    payload = lead_payload()
    payload["UserDetails"]["Country"] = country

    assert market.post(payload).status_code == 201
    assert Lead.objects.get().country == normalized


@pytest.mark.parametrize(
    ("lead_source", "offer_id", "listing_attr"),
    [
        ("AzureMarketplace-INS|contoso.analytics", None, "azure_other"),  # publisherid.offerid
        ("AzureMarketplace-INS|Contoso Analytics", None, "azure_other"),  # display name
        ("AzureMarketplace-INS|Contoso CRM", "contoso.analytics", "azure_other"),  # OfferId wins
        ("AzureMarketplace", None, "azure"),  # plain source: OfferTitle names it
    ],
)
def test_the_offer_is_found_by_id_or_display_name(market, lead_source, offer_id, listing_attr):
    payload = lead_payload(LeadSource=lead_source)
    if offer_id:
        payload["OfferId"] = offer_id

    assert market.post(payload).status_code == 201
    assert LeadActivity.objects.get().listing == getattr(market, listing_attr)


def test_a_storefront_key_only_reaches_its_own_storefront(market):
    # The AppSource listing with the same offer id is the one an AppSource key reaches.
    assert market.post(lead_payload(), key=market.appsource_key).status_code == 201
    assert LeadActivity.objects.get().listing == market.appsource


@pytest.mark.parametrize(
    ("change", "loc", "kind", "message"),
    [
        (
            {"LeadSource": "AzureMarketplace-INS|contoso.nope", "OfferTitle": ""},
            ["body", "LeadSource"],
            "unknown_offer",
            "No listing on Azure Marketplace has the offer 'contoso.nope'.",
        ),
        (
            {"OfferId": "contoso.nope"},
            ["body", "OfferId"],
            "unknown_offer",
            "No listing on Azure Marketplace has the offer 'contoso.nope'.",
        ),
        (
            {"LeadSource": "AzureMarketplace", "OfferTitle": ""},
            ["body", "OfferId"],
            "no_offer",
            "Name the offer: send OfferId or LeadSource's offer part.",
        ),
    ],
)
def test_an_unknown_offer_is_a_422_with_the_reason(market, change, loc, kind, message):
    response = market.post(lead_payload(**change))

    assert response.status_code == 422
    assert response.json() == {"detail": [{"loc": loc, "msg": message, "type": kind}]}
    assert not Lead.objects.exists()


def test_an_unpublished_or_unmanaged_listing_is_refused(market):
    draft = make_listing(
        publisher=market.publisher,
        storefront="azure-marketplace",
        offer_id="contoso.draft",
        name="Draft",
        lead_management_enabled=True,
    )
    unmanaged = make_listing(
        publisher=market.publisher,
        storefront="azure-marketplace",
        offer_id="contoso.unmanaged",
        name="Unmanaged",
    )

    draft_answer = market.post(lead_payload(OfferId=draft.offer_id))
    unmanaged_answer = market.post(lead_payload(OfferId=unmanaged.offer_id))

    assert draft_answer.status_code == unmanaged_answer.status_code == 422
    assert draft_answer.json()["detail"][0]["msg"] == "The listing 'Draft' is not published."
    assert unmanaged_answer.json()["detail"][0]["msg"] == (
        "Lead management is not enabled for the listing 'Unmanaged'."
    )
    assert not Lead.objects.exists()


def test_a_display_name_shared_by_two_publishers_is_ambiguous(market):
    other = make_publisher(publisher_id="fabrikam")
    listing = make_listing(
        publisher=other,
        storefront="azure-marketplace",
        listing_type="offer",
        name="Contoso Analytics",
        offer_id="fabrikam.analytics",
        lead_management_enabled=True,
    )
    catalog_services.listing_publish(listing=listing)

    response = market.post(lead_payload(LeadSource="AzureMarketplace-INS|Contoso Analytics"))

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "ambiguous_offer"


def test_a_bad_key_is_a_401(market):
    seller_key = api_keys.api_key_create(kind=ApiKey.Kind.MICROSOFT_SELLER, name="seller")[1]
    revoked, revoked_key = api_keys.api_key_create(
        kind=ApiKey.Kind.STOREFRONT, name="old", storefront="azure-marketplace"
    )
    api_keys.api_key_revoke(api_key=revoked)

    for key in ("lpk_sf_wrong", seller_key, revoked_key):
        response = market.post(lead_payload(), key=key)
        assert response.status_code == 401
        assert response.json() == {
            "detail": "Missing or invalid API key (Authorization: Bearer …)."
        }
    assert Client().post("/api/v1/leads", "{}", content_type="application/json").status_code == 401
    assert not Lead.objects.exists()


def test_malformed_json_is_a_400(market):
    response = market.post('{"UserDetails": {"Email": "a@b.example"')

    assert response.status_code == 400
    assert response.json() == {"detail": "Cannot parse request body"}


def test_field_errors_are_a_422_naming_each_field(market):
    payload = lead_payload()
    payload["UserDetails"]["Email"] = "not-an-email"
    payload["UserDetails"]["Country"] = "Atlantis"
    payload["UserDetails"]["Company"] = "x" * 201

    response = market.post(payload)

    assert response.status_code == 422
    errors = {tuple(e["loc"]): e["msg"] for e in response.json()["detail"]}
    assert errors == {
        ("body", "UserDetails", "Email"): "Enter a valid email address.",
        ("body", "UserDetails", "Country"): (
            "Unknown country: use an ISO 3166 alpha-2 or alpha-3 code, or the English name."
        ),
        ("body", "UserDetails", "Company"): "String should have at most 200 characters",
    }
    assert not Lead.objects.exists()


def test_a_missing_email_is_a_422(market):
    payload = lead_payload()
    del payload["UserDetails"]["Email"]

    response = market.post(payload)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "UserDetails", "Email"]


def test_unknown_fields_are_ignored_and_the_raw_payload_kept(market):
    payload = lead_payload(PlanId="gold", Extra={"nested": True})

    assert market.post(payload).status_code == 201
    assert LeadActivity.objects.get().raw_payload["Extra"] == {"nested": True}


def test_a_body_over_64_kib_is_a_413(market):
    payload = lead_payload(Description="x" * (64 * 1024))

    response = market.post(payload)

    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is larger than 64 KiB."}


def test_a_chunked_body_over_64_kib_is_a_413_without_content_length(market):
    # A chunked upload has no Content-Length; the server hands Django the de-chunked stream.
    body = json.dumps(lead_payload(Description="x" * (64 * 1024))).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/leads",
        "CONTENT_TYPE": "application/json",
        "HTTP_AUTHORIZATION": f"Bearer {market.azure_key}",
        "wsgi.input": io.BytesIO(body),
    }
    response = market.client.request(**environ, CONTENT_LENGTH="")

    assert response.status_code == 413
    assert not Lead.objects.exists()


def test_a_chunked_body_under_the_limit_is_read(market):
    body = json.dumps(lead_payload()).encode()
    response = market.client.request(
        REQUEST_METHOD="POST",
        PATH_INFO="/api/v1/leads",
        CONTENT_TYPE="application/json",
        CONTENT_LENGTH="",
        HTTP_AUTHORIZATION=f"Bearer {market.azure_key}",
        **{"wsgi.input": io.BytesIO(body)},
    )

    assert response.status_code == 201
