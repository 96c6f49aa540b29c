"""The retry policy end to end: the engine, the HTTPS connector and a strict receiver,
with the clock moved by time-machine (reference target R4)."""

import logging
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from crm import ratelimit, services
from crm.connectors import http_client, signing
from crm.models import CrmTarget, Delivery
from tests.crm.receivers import Answer, ca_bundle_path
from tests.crm.receivers.https_receiver import HttpsReceiver
from tests.factories import make_activity, make_delivery, make_lead, make_target

pytestmark = pytest.mark.sqlite

SECRET = signing.secret_generate()
SCHEDULE = [0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]


@pytest.fixture(autouse=True)
def _loopback(monkeypatch, settings):
    monkeypatch.setenv("CRM_EXTRA_CA_BUNDLE", ca_bundle_path())
    settings.CRM_TOTAL_TIMEOUT = 1.0
    yield
    http_client.clients_close()


@pytest.fixture
def receiver():
    with HttpsReceiver(SECRET) as server:
        yield server


@pytest.fixture
def row(db, receiver):
    lead = make_lead(email="sentinel.person@leak.example")
    make_activity(lead=lead)
    target = make_target(
        publisher=lead.publisher,
        config={"httpsEndpointUrl": receiver.url("/in"), "signingSecret": SECRET},
    )
    ratelimit.reset(target_id=target.pk)
    return make_delivery(lead=lead, target=target)


def drain(row) -> Delivery:
    services.deliveries_drain(target_id=row.target_id, budget_seconds=5)
    return Delivery.objects.get(pk=row.pk)


def test_a_target_that_always_fails_gets_ten_attempts_on_the_schedule(
    row, receiver, mailoutbox, django_capture_on_commit_callbacks
):
    receiver.answer_with(*[Answer(503)] * 20)
    delays = []
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for _attempt in range(10):
            before = timezone.now()
            with django_capture_on_commit_callbacks(execute=True):
                current = drain(row)
            if current.status == "failed":
                break
            delays.append((current.next_attempt_at - before).total_seconds())
            clock.move_to(current.next_attempt_at + timedelta(milliseconds=1))

    assert (current.status, current.attempts, current.last_status_code) == ("failed", 10, 503)
    assert len([r for r in receiver.requests if r.status == 503]) == 10
    for attempt, seconds in enumerate(delays, start=1):
        assert SCHEDULE[attempt] * 0.8 <= seconds <= SCHEDULE[attempt] * 1.2
    assert sum(delays) / 3600 == pytest.approx(75.6, rel=0.2)  # about three days
    assert len(mailoutbox) == 1  # one alert for the target


def test_retry_after_postpones_the_next_attempt(row, receiver):
    receiver.answer_with(Answer(429, headers={"Retry-After": "120"}))

    current = drain(row)

    assert (current.status, current.last_status_code) == ("pending", 429)
    assert current.next_attempt_at >= timezone.now() + timedelta(seconds=110)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_a_permanent_answer_fails_after_one_attempt(row, receiver, status):
    receiver.answer_with(Answer(status))

    current = drain(row)

    assert (current.status, current.attempts, current.last_status_code) == ("failed", 1, status)
    assert len(receiver.requests) == 1
    assert CrmTarget.objects.get(pk=row.target_id).is_active is (status != 410)


@pytest.mark.parametrize(
    "answer",
    [
        Answer(429),
        Answer(500),
        Answer(502),
        Answer(503),
        Answer(504),
        Answer(408),
        Answer(200, delay=1.5),
    ],
)
def test_throttles_server_errors_and_timeouts_are_retried(row, receiver, answer):
    receiver.answer_with(answer)

    current = drain(row)

    assert (current.status, current.attempts) == ("pending", 1)
    assert current.next_attempt_at > timezone.now()


def test_a_retry_succeeds_and_is_delivered_once(row, receiver):
    receiver.answer_with(Answer(503))
    with time_machine.travel(timezone.now(), tick=False) as clock:
        first = drain(row)
        clock.move_to(first.next_attempt_at + timedelta(seconds=1))
        second = drain(row)

    assert (second.status, second.attempts) == ("delivered", 2)
    assert list(receiver.effects) == [str(row.idempotency_key)]
    webhook_ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert webhook_ids == {str(row.idempotency_key)}  # the same id on every attempt


def test_a_paused_target_keeps_its_deliveries_pending(row, receiver):
    CrmTarget.objects.filter(pk=row.target_id).update(is_active=False)

    current = drain(row)

    assert (current.status, current.attempts) == ("pending", 0)
    assert receiver.requests == []


def test_logs_never_hold_the_leads_email_or_the_secret(row, receiver, caplog):
    receiver.answer_with(Answer(500))
    caplog.set_level(logging.DEBUG)

    drain(row)

    assert "sentinel.person@leak.example" not in caplog.text
    assert SECRET not in caplog.text
    assert "crm.delivery.retrying" in caplog.text
