"""A claim's calls go out together (crm.sending): the first alone, the rest on at most
CRM_SEND_CONCURRENCY threads, never more than the target's bucket granted."""

import threading
import time

import pytest

from crm import ratelimit, services
from crm.connectors import signing
from crm.models import Delivery
from tests.crm.receivers import Answer
from tests.crm.receivers.https_receiver import HttpsReceiver
from tests.factories import make_activity, make_delivery, make_lead, make_target

pytestmark = pytest.mark.sqlite

SECRET = signing.secret_generate()


class CountsInFlight(HttpsReceiver):
    """Holds each accepted POST a moment and notes the most answered at once."""

    def __init__(self, secret: str) -> None:
        super().__init__(secret)
        self.in_flight = self.peak = 0
        self.counter = threading.Lock()

    def next_answer(self) -> Answer:
        with self.counter:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        time.sleep(0.3)
        with self.counter:
            self.in_flight -= 1
        return Answer(200)


@pytest.fixture
def receiver(trusted_loopback):
    with CountsInFlight(SECRET) as server:
        yield server


def _drain(receiver, rows: int, **target_fields):
    lead = make_lead()
    make_activity(lead=lead)
    target = make_target(
        publisher=lead.publisher,
        config={"httpsEndpointUrl": receiver.url("/in"), "signingSecret": SECRET},
        **target_fields,
    )
    ratelimit.reset(target_id=target.pk)
    for _ in range(rows):
        make_delivery(lead=lead, target=target, event="lead.updated")
    report = services.deliveries_drain(target_id=target.pk, budget_seconds=10)
    ratelimit.reset(target_id=target.pk)
    return report


def test_a_claims_calls_go_out_together_within_the_bound(db, settings, receiver):
    settings.CRM_SEND_CONCURRENCY = 3

    report = _drain(receiver, 7)

    assert report.delivered == 7
    assert len(receiver.effects) == 7 and receiver.duplicates == 0
    assert 1 < receiver.peak <= 3
    assert set(Delivery.objects.values_list("status", "attempts")) == {("delivered", 1)}


def test_one_thread_sends_the_calls_one_after_the_other(db, settings, receiver):
    settings.CRM_SEND_CONCURRENCY = 1

    report = _drain(receiver, 3)

    assert (report.delivered, receiver.peak) == (3, 1)


def test_the_calls_sent_together_never_pass_the_targets_rate_limit(db, settings, receiver):
    settings.CRM_SEND_CONCURRENCY = 4

    report = _drain(receiver, 6, rate_limit=3, rate_period_seconds=3600)

    assert report.delivered == 3 and report.rate_limited_for > 0
    assert len(receiver.requests) == 3
    statuses = sorted(Delivery.objects.values_list("status", flat=True))
    assert statuses == ["delivered"] * 3 + ["pending"] * 3


@pytest.mark.no_sqlite
def test_a_drain_of_ten_rows_is_a_handful_of_queries(
    db, settings, receiver, django_assert_max_num_queries
):
    settings.CRM_SEND_CONCURRENCY = 4
    lead = make_lead()
    make_activity(lead=lead)
    target = make_target(
        publisher=lead.publisher,
        config={"httpsEndpointUrl": receiver.url("/in"), "signingSecret": SECRET},
    )
    ratelimit.reset(target_id=target.pk)
    for _ in range(10):
        make_delivery(lead=lead, target=target, event="lead.updated")

    # The target; then the claim, the erased-lead check, the payloads' two reads and the
    # record; then the claim that finds nothing more.
    with django_assert_max_num_queries(7):
        report = services.deliveries_drain(target_id=target.pk, budget_seconds=10)

    assert report.delivered == 10
