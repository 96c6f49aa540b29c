"""POST /api/v1/leads: the storefront intake contract (DESIGN §5, issue 3)."""

import base64
import io
import json
import threading
from datetime import date

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import Client

from crm.models import Delivery
from leads.catalog import services as catalog_services
from leads.intake import api_keys
from leads.lifecycle import services as lifecycle_services
from leads.models import ApiKey, Lead, LeadActivity, LeadTransition
from tests.factories import make_campaign, make_listing, make_publisher, make_target
from tests.leads.conftest import FAQ_TEST_LEAD, HTTPS_DOC_SAMPLE, Storefronts, lead_payload

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


def test_the_same_lead_id_replays_the_first_answer(market):
    first = market.post(lead_payload(LeadId="pc-1"))
    again = market.post(lead_payload(LeadId="pc-1", ActionCode="PLT"))

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.content == first.content
    assert LeadActivity.objects.count() == 1


def test_the_idempotency_key_header_serves_when_there_is_no_lead_id(market):
    first = market.post(lead_payload(), HTTP_IDEMPOTENCY_KEY="req-7")
    again = market.post(lead_payload(), HTTP_IDEMPOTENCY_KEY="req-7")
    other = market.post(lead_payload())
    another = market.post(lead_payload())

    assert [r.status_code for r in (first, again, other, another)] == [201, 200, 201, 201]
    assert again.json() == first.json()
    # Without a key every post is a new activity, still consolidated into one lead.
    assert LeadActivity.objects.count() == 3
    assert Lead.objects.count() == 1
    assert other.json()["consolidated"] is True


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_one_lead_id_make_one_activity():
    market = Storefronts()
    payload = json.dumps(lead_payload(LeadId="pc-race"))
    barrier = threading.Barrier(3)
    answers = []

    def post():
        barrier.wait()
        try:
            answers.append(market.post(payload, key=market.azure_key))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(a.status_code for a in answers) == [200, 200, 201]
    assert len({a.content for a in answers}) == 1
    assert LeadActivity.objects.filter(external_id="pc-race").count() == 1
    assert Lead.objects.count() == 1


def test_consolidation_spans_listings_and_storefronts_of_one_publisher(market):
    first = market.post(lead_payload(email="Ada@Contoso.example"))
    second = market.post(lead_payload(email="ada@contoso.example", OfferId="contoso.analytics"))
    third = market.post(lead_payload(email=" ADA@CONTOSO.EXAMPLE"), key=market.appsource_key)

    assert [r.status_code for r in (first, second, third)] == [201, 201, 201]
    assert [r.json()["consolidated"] for r in (first, second, third)] == [False, True, True]
    assert len({r.json()["id"] for r in (first, second, third)}) == 1
    lead = Lead.objects.get()
    assert lead.activities.count() == 3
    assert set(lead.activities.values_list("storefront", flat=True)) == {
        "azure-marketplace",
        "appsource",
    }


def test_consolidation_never_crosses_publishers(market):
    other = make_publisher(publisher_id="fabrikam")
    listing = make_listing(
        publisher=other,
        storefront="azure-marketplace",
        listing_type="offer",
        offer_id="fabrikam.crm",
        name="Fabrikam CRM",
        lead_management_enabled=True,
    )
    catalog_services.listing_publish(listing=listing)

    market.post(lead_payload(email="ada@contoso.example"))
    response = market.post(lead_payload(email="ada@contoso.example", OfferId="fabrikam.crm"))

    assert response.json()["consolidated"] is False
    assert Lead.objects.filter(email_normalized="ada@contoso.example").count() == 2


def test_a_second_interaction_rescores_and_updates_the_contact(market):
    market.publisher.scoring_rules.all().delete()
    from tests.factories import make_rule

    make_rule(publisher=market.publisher, condition="activity_count_at_least", value="2", points=40)
    market.post(lead_payload(ActionCode="PLT"))
    payload = lead_payload(ActionCode="INS")
    payload["UserDetails"]["Title"] = "Chief Engineer"
    payload["UserDetails"]["Phone"] = ""  # empty never erases

    answer = market.post(payload).json()

    lead = Lead.objects.get()
    assert answer["score"] == lead.score == 40
    assert lead.score_breakdown == [
        {"rule_id": lead.score_breakdown[0]["rule_id"], "rule": "Installs", "points": 40}
    ]
    assert (lead.title, lead.phone) == ("Chief Engineer", "+44 20 7946 0000")


def test_a_lead_reaching_the_threshold_is_qualified_and_delivered(market):
    covering = make_target(publisher=market.publisher, name="All listings")
    chosen = make_target(publisher=market.publisher, name="Analytics only", scope="chosen")
    chosen.listings.set([market.azure_other])
    field_seller = make_target(publisher=None, name="Microsoft field sellers")
    make_target(publisher=make_publisher(), name="Someone else's")

    answer = market.post(lead_payload(LeadId="pc-q")).json()

    lead = Lead.objects.get()
    assert answer["status"] == lead.status == "qualified"
    assert lead.score >= market.publisher.qualification_threshold
    assert set(lead.deliveries.values_list("target__name", "event", "status")) == {
        (covering.name, "lead.qualified", "pending"),
        (field_seller.name, "lead.qualified", "pending"),
    }
    transition = LeadTransition.objects.get(lead=lead)
    assert (transition.from_status, transition.to_status, transition.changed_by) == (
        "new",
        "qualified",
        None,
    )
    assert transition.reason == f"Score {lead.score} reached the threshold 50."


def test_a_new_activity_on_a_qualified_lead_writes_updated_deliveries(market):
    target = make_target(publisher=market.publisher)
    market.post(lead_payload())

    market.post(lead_payload(ActionCode="PLT"))

    assert list(
        Delivery.objects.filter(target=target).order_by("id").values_list("event", flat=True)
    ) == ["lead.qualified", "lead.updated"]


def test_a_do_not_contact_activity_never_qualifies_on_its_own(market):
    market.publisher.qualification_threshold = 0
    market.publisher.save()
    make_target(publisher=market.publisher)

    answer = market.post(lead_payload(ActionCode="DNC", LeadSource="AppSource-DNC|Contoso CRM"))

    assert answer.json()["status"] == "new"
    assert not Delivery.objects.exists()
    # A later real interaction qualifies it.
    assert market.post(lead_payload(ActionCode="PLT")).json()["status"] == "qualified"


def test_unknown_action_codes_are_kept(market):
    assert market.post(lead_payload(ActionCode="Subscribe")).status_code == 201
    assert LeadActivity.objects.get().action_code == "Subscribe"


def test_the_campaign_code_attributes_the_lead(market):
    launch = make_campaign(
        publisher=market.publisher, storefront="azure-marketplace", code="launch"
    )

    market.post(lead_payload(CampaignCode="LAUNCH"))

    lead = Lead.objects.get()
    assert (lead.first_campaign, lead.latest_campaign) == (launch, launch)
    assert lead.activities.get().campaign == launch


def test_the_listings_active_campaign_attributes_a_lead_without_code(market):
    make_campaign(
        publisher=market.publisher,
        storefront="azure-marketplace",
        listings=[market.azure],
        status="active",
        starts_on=date(2020, 1, 1),
        ends_on=date(2020, 12, 31),  # over
    )
    current = make_campaign(
        publisher=market.publisher,
        storefront="azure-marketplace",
        listings=[market.azure],
        status="active",
        starts_on=date(2026, 1, 1),
    )
    first = make_campaign(publisher=market.publisher, storefront="azure-marketplace", code="first")
    market.post(lead_payload(CampaignCode="first"))

    market.post(lead_payload())

    lead = Lead.objects.get()
    assert (lead.first_campaign, lead.latest_campaign) == (first, current)


def test_a_campaign_threshold_overrides_the_publishers(market):
    make_campaign(
        publisher=market.publisher,
        storefront="azure-marketplace",
        code="strict",
        qualification_threshold=100,
    )

    answer = market.post(lead_payload(CampaignCode="strict")).json()

    assert answer["status"] == "new"


def test_a_fault_before_commit_leaves_nothing(market, monkeypatch):
    make_target(publisher=market.publisher)

    def explode(**kwargs):
        raise RuntimeError("injected fault after the lead insert")

    monkeypatch.setattr(lifecycle_services.crm_services, "deliveries_create", explode)

    with pytest.raises(RuntimeError, match="injected fault"):
        market.post(lead_payload(LeadId="pc-fault"))
    assert (Lead.objects.count(), LeadActivity.objects.count(), Delivery.objects.count()) == (
        0,
        0,
        0,
    )
    assert not LeadTransition.objects.exists()


def test_marketing_consent_is_recorded_when_stated(market):
    market.post(lead_payload(MarketingConsent=True))
    lead = Lead.objects.get()
    assert lead.marketing_consent is True and lead.marketing_consent_at is not None

    market.post(lead_payload())  # silent: unchanged
    lead.refresh_from_db()
    assert lead.marketing_consent is True

    market.post(lead_payload(MarketingConsent=False))
    lead.refresh_from_db()
    assert lead.marketing_consent is False


def test_created_time_sets_when_the_activity_occurred(market):
    market.post(lead_payload(CreatedTime="2026-11-20T10:00:00"))

    assert LeadActivity.objects.get().occurred_at.isoformat() == "2026-11-20T10:00:00+00:00"


def test_intake_succeeds_while_the_broker_is_down(market, django_capture_on_commit_callbacks):
    from portal.celery import app

    target = make_target(publisher=market.publisher)
    working_broker = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens there
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = market.post(lead_payload(LeadId="pc-offline"))
    finally:
        app.conf.broker_url = working_broker

    assert response.status_code == 201
    assert len(callbacks) == 1  # the wake-up was attempted only after commit
    delivery = Delivery.objects.get()
    assert (delivery.target, delivery.status, delivery.event) == (
        target,
        "pending",
        "lead.qualified",
    )
    assert delivery.next_attempt_at is not None


@pytest.mark.no_sqlite
def test_workers_are_woken_after_commit_through_the_broker(
    market, django_capture_on_commit_callbacks
):
    target = make_target(publisher=market.publisher)
    queue = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue.delete("delivery")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        market.post(lead_payload())
    assert queue.llen("delivery") == 0  # nothing is sent inside the transaction
    for callback in callbacks:
        callback()

    message = json.loads(queue.lpop("delivery"))  # the delivery queue (CELERY_TASK_ROUTES)
    assert message["headers"]["task"] == "crm.deliver_target"
    assert json.loads(base64.b64decode(message["body"]))[0] == [target.pk]
