"""/metrics: who may scrape it, and each named series moving when its event happens
(docs/operations.md, "Metrics"). Real PostgreSQL, Redis, HTTPS receiver and SMTP server."""

from datetime import UTC, datetime, timedelta

import kombu
import pytest
import redis
import time_machine
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from crm import ratelimit, services
from crm.connectors import http_client, signing
from inbound.models import InboundItem
from leads.nurture import send as nurture_send
from portal.celery import app
from tests.crm.receivers import Answer, ca_bundle_path
from tests.crm.receivers.https_receiver import HttpsReceiver
from tests.factories import make_activity, make_delivery, make_lead, make_target
from tests.inbound.conftest import Hook
from tests.leads.conftest import lead_payload, market  # noqa: F401  (fixture)
from tests.leads.nurture_support import Sequence, smtp  # noqa: F401
from tests.portal.metrics_support import Scrapes, scrape, value

SECRET = signing.secret_generate()
TOKEN = "metrics-token-0123456789abcdef"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


# --- Who may scrape ----------------------------------------------------------------------


def test_loopback_scrapes_without_a_token(client, db):
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert b"leadportal_deliveries_due" in response.content


def test_elsewhere_needs_the_bearer_token(db, settings):
    settings.METRICS_TOKEN = TOKEN
    remote = Client(REMOTE_ADDR="203.0.113.7")

    assert remote.get("/metrics").status_code == 404
    assert remote.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert remote.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_a_proxied_request_from_loopback_needs_the_token_too(db, settings):
    settings.METRICS_TOKEN = TOKEN
    proxied = Client(REMOTE_ADDR="127.0.0.1")

    assert proxied.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 404


def test_without_a_token_configured_only_loopback_scrapes(db, settings):
    settings.METRICS_TOKEN = ""
    remote = Client(REMOTE_ADDR="203.0.113.7")

    assert remote.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_a_scrape_takes_a_fixed_number_of_queries(client, db, django_assert_max_num_queries):
    for kind in ("https", "salesforce"):
        make_delivery(target=make_target(kind=kind, publisher=None), next_attempt_at=timezone.now())
    with django_assert_max_num_queries(3):
        client.get("/metrics")


# --- Intake --------------------------------------------------------------------------------


def test_posting_leads_moves_requests_latency_created_and_consolidated(client, market):  # noqa: F811
    scrapes = Scrapes(client)

    assert market.post(lead_payload(LeadId="m-1")).status_code == 201
    assert market.post(lead_payload(LeadId="m-2", ActionCode="Create")).status_code == 201
    assert market.post({"UserDetails": {}}).status_code == 422

    endpoint = "/api/v1/leads"
    assert scrapes.moved("leadportal_intake_requests_total", endpoint=endpoint, status="201") == 2
    assert scrapes.moved("leadportal_intake_requests_total", endpoint=endpoint, status="422") == 1
    assert scrapes.moved("leadportal_intake_request_duration_seconds_count", endpoint=endpoint) == 3
    assert scrapes.moved("leadportal_leads_created_total", storefront="azure-marketplace") == 1
    assert scrapes.moved("leadportal_leads_consolidated_total", storefront="azure-marketplace") == 1


# --- Delivery ------------------------------------------------------------------------------


@pytest.fixture
def receiver(monkeypatch, settings):
    monkeypatch.setenv("CRM_EXTRA_CA_BUNDLE", ca_bundle_path())
    settings.CRM_TOTAL_TIMEOUT = 1.0
    with HttpsReceiver(SECRET) as server:
        yield server
    http_client.clients_close()


def _delivery(receiver):
    lead = make_lead()
    make_activity(lead=lead)
    target = make_target(
        publisher=lead.publisher,
        config={"httpsEndpointUrl": receiver.url("/in"), "signingSecret": SECRET},
    )
    ratelimit.reset(target_id=target.pk)
    return make_delivery(lead=lead, target=target)


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [(Answer(200), "delivered"), (Answer(503), "retrying"), (Answer(400), "failed")],
)
def test_each_delivery_outcome_is_counted_by_kind(client, db, receiver, answer, outcome):
    row = _delivery(receiver)
    receiver.answer_with(answer)
    scrapes = Scrapes(client)

    services.deliveries_drain(target_id=row.target_id, budget_seconds=5)

    assert scrapes.moved("leadportal_deliveries_total", kind="https", outcome=outcome) == 1
    retries = scrapes.moved("leadportal_delivery_retries_total", kind="https")
    assert retries == (1 if outcome == "retrying" else 0)


def test_the_due_backlog_its_age_and_paused_targets_are_read_at_scrape_time(client, db):
    before = scrape(client)
    https = make_target(publisher=None)
    make_delivery(target=https, next_attempt_at=timezone.now() - timedelta(minutes=10))
    make_delivery(target=https, next_attempt_at=timezone.now() - timedelta(minutes=1))
    make_delivery(target=https, next_attempt_at=timezone.now() + timedelta(hours=1))  # not due
    paused = make_target(publisher=None, kind="marketo", is_active=False)
    make_delivery(target=paused, next_attempt_at=timezone.now() - timedelta(days=2))  # waits

    after = scrape(client)

    assert value(before, "leadportal_deliveries_due", kind="https") == 0
    assert value(after, "leadportal_deliveries_due", kind="https") == 2
    assert 599 <= value(after, "leadportal_delivery_oldest_due_seconds", kind="https") <= 700
    assert value(after, "leadportal_targets_paused", kind="marketo") == 1
    assert value(after, "leadportal_deliveries_due", kind="marketo") == 0
    assert value(after, "leadportal_targets_paused", kind="https") == 0


# --- Nurture -------------------------------------------------------------------------------


def test_nurture_sent_bounced_and_suppressed_move(client, db, smtp):  # noqa: F811
    scrapes = Scrapes(client)
    with time_machine.travel(T0, tick=True):
        sequence = Sequence()
        bad, good = sequence.leads(2, prefix="metrics")
        sequence.enrol([bad, good])
        smtp.answers[bad.email] = "550 5.1.1 No such user"
        nurture_send.nurture_send_due(budget_seconds=60)

    assert scrapes.moved("leadportal_nurture_emails_total", outcome="sent") == 1
    assert scrapes.moved("leadportal_nurture_emails_total", outcome="bounced") == 1
    assert scrapes.moved("leadportal_suppressions_total", reason="bounced") == 1


# --- Inbound -------------------------------------------------------------------------------


def test_inbound_processing_moves_processed_rejected_lag_and_the_backlog(client, db):
    hook = Hook(Client())
    scrapes = Scrapes(client)
    assert hook.post(lead_payload(offer_id="contoso.crm")).status_code in (200, 202)
    assert hook.post({"UserDetails": {"Email": "nope"}}).status_code in (200, 202)
    pending = scrape(client)

    hook.process_all()

    assert value(pending, "leadportal_inbound_pending", kind="pc-webhook") == 2
    assert value(scrape(client), "leadportal_inbound_pending", kind="pc-webhook") == 0
    assert (
        scrapes.moved("leadportal_inbound_items_total", kind="pc-webhook", outcome="processed") == 1
    )
    assert (
        scrapes.moved("leadportal_inbound_items_total", kind="pc-webhook", outcome="rejected") == 1
    )
    assert scrapes.moved("leadportal_inbound_lag_seconds_count", kind="pc-webhook") == 1
    assert InboundItem.objects.filter(status="processed").count() == 1
    # The webhook's requests are intake requests, labelled by route, never by its token.
    scraped = client.get("/metrics").content.decode()
    assert hook.token not in scraped
    assert 'endpoint="/api/v1/inbound/partner-center/<token>/"' in scraped


# --- Celery --------------------------------------------------------------------------------


def test_queue_lengths_are_read_from_the_broker_at_scrape_time(client, db):
    queues = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    for name in django_settings.CELERY_TASK_QUEUES:
        queues.delete(name)
    before = scrape(client)
    with (
        kombu.Connection(django_settings.CELERY_BROKER_URL) as broker,
        broker.Producer() as producer,
    ):
        app.send_task("crm.sweep", producer=producer)
        app.send_task("crm.sweep", producer=producer)
        app.send_task("leads.send_due_nurture_steps", producer=producer)
    after = scrape(client)
    for name in django_settings.CELERY_TASK_QUEUES:
        queues.delete(name)
    queues.close()

    assert value(before, "leadportal_celery_queue_length", queue="delivery") == 0
    assert value(after, "leadportal_celery_queue_length", queue="delivery") == 2
    assert value(after, "leadportal_celery_queue_length", queue="nurture") == 1
    assert value(after, "leadportal_celery_queue_length", queue="celery") == 0


def test_no_series_is_labelled_with_a_lead_or_an_email(client, market):  # noqa: F811
    market.post(lead_payload(email="label.leak@contoso.example", LeadId="m-9"))

    scraped = client.get("/metrics").content.decode()

    assert "label.leak" not in scraped
    assert "Lovelace" not in scraped


def test_a_source_that_is_down_leaves_its_part_out_and_the_rest_in(client, db, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    samples = scrape(client)

    assert value(samples, "leadportal_scrape_errors", part="queues") == 1
    assert value(samples, "leadportal_scrape_errors", part="outbox") == 0
    assert ("leadportal_deliveries_due", (("kind", "https"),)) in samples
    assert not [name for name, _labels in samples if name == "leadportal_celery_queue_length"]
