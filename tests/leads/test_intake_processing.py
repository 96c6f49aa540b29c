"""POST /api/v1/leads: what an accepted lead does: replays, consolidation, scoring,
attribution, rollback and waking the workers (DESIGN §5)."""

import base64
import json
import logging
import threading
from datetime import date

import pytest
import redis
from django.conf import settings
from django.db import connection

from crm.models import Delivery
from leads.lifecycle import services as lifecycle_services
from leads.models import Lead, LeadActivity, LeadTransition
from tests.factories import make_campaign, make_publisher, make_target
from tests.leads.conftest import Storefronts, lead_payload, offer_published

pytestmark = pytest.mark.sqlite


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
    offer_published(publisher=other, offer_id="fabrikam.crm", name="Fabrikam CRM")

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


def test_intake_succeeds_while_the_broker_is_down(
    market, django_capture_on_commit_callbacks, caplog
):
    from crm import services as crm_services
    from portal.celery import app

    # Given a target, and a broker that nothing listens on (the wake-up connection is
    # cached per thread, so it is dropped to make the next wake-up connect anew)
    target = make_target(publisher=market.publisher)
    caplog.set_level(logging.WARNING, logger="crm.services")
    working_broker = app.conf.broker_write_url
    app.conf.broker_write_url = "redis://127.0.0.1:1/0"
    crm_services._wake.connection = None
    try:
        # When a lead is posted
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = market.post(lead_payload(LeadId="pc-offline"))
    finally:
        app.conf.broker_write_url = working_broker
        crm_services._wake.connection = None

    # Then the wake-up really failed, and the lead and its outbox row are stored all the same
    assert [r.getMessage() for r in caplog.records] == ["crm.wake.failed"]
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
