"""Isolation (target R6): a dead CRM never delays another target's deliveries, and every
target stays under its rate limit across the worker's processes."""

import collections
import time

import pytest

from crm import services as crm_services
from crm.connectors import signing
from crm.models import CrmTarget, Delivery
from portal.celery import app
from tests.chaos.harness import Processes, RedisServer, worker_env
from tests.crm.receivers import Answer
from tests.crm.receivers.https_receiver import HttpsReceiver
from tests.factories import make_activity, make_lead, make_publisher

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

LEADS = 100
RATE = 10  # requests per second the healthy target allows


class Blackhole(HttpsReceiver):
    """Accepts, then answers only after the client has given up."""

    def next_answer(self) -> Answer:
        return Answer(200, delay=1.6)


class RateLimited(HttpsReceiver):
    """Answers 429 above 2 × RATE requests in any one second (a token bucket of RATE a
    second may burst its RATE tokens on top of one second's refill), and counts it."""

    def __init__(self, secret: str) -> None:
        super().__init__(secret)
        self.recent: collections.deque[float] = collections.deque()
        self.violations = 0

    def next_answer(self) -> Answer:
        now = time.monotonic()
        with self.lock:
            self.recent.append(now)
            while self.recent and self.recent[0] < now - 1:
                self.recent.popleft()
            if len(self.recent) > 2 * RATE:
                self.violations += 1
                return Answer(429, headers={"Retry-After": "1"})
        return Answer(200)


def _target(publisher, receiver, secret, **limits) -> CrmTarget:
    target = CrmTarget(
        publisher=publisher,
        kind="https",
        name=f"receiver {receiver.port}",
        config={"httpsEndpointUrl": receiver.url("/in"), "signingSecret": secret},
        batch_size=1,
        **limits,
    )
    target.save()
    return target


def redis_url(redis) -> str:
    """The isolated Redis server's broker URL."""
    return f"redis://127.0.0.1:{redis.port}/0"


@pytest.mark.django_db(transaction=True)
def test_a_dead_target_never_holds_up_a_healthy_one(tmp_path):
    redis = RedisServer(tmp_path)
    redis.start()
    secret = signing.secret_generate()
    processes = Processes(worker_env(redis, tmp_path), tmp_path)
    # Wake-ups are published through the write URL, on a connection cached per thread.
    broker, app.conf.broker_write_url = app.conf.broker_write_url, redis_url(redis)
    crm_services._wake.connection = None
    with Blackhole(secret) as dead, RateLimited(secret) as healthy:
        try:
            publisher = make_publisher()
            dead_target = _target(publisher, dead, secret, rate_limit=1000, rate_period_seconds=1)
            live_target = _target(
                publisher, healthy, secret, rate_limit=RATE, rate_period_seconds=1
            )
            for _ in range(LEADS):
                lead = make_lead(publisher=publisher, status="qualified")
                make_activity(lead=lead)
                crm_services.deliveries_create(events=[(lead, "qualified", None)])
            processes.start_worker()
            processes.start_beat()
            started = time.monotonic()
            deadline = started + 120
            while time.monotonic() < deadline:
                if not Delivery.objects.filter(target=live_target).exclude(status="delivered"):
                    break
                time.sleep(0.5)
            elapsed = time.monotonic() - started
        finally:
            processes.stop()
            app.conf.broker_write_url = broker
            crm_services._wake.connection = None
            redis.shutdown_nosave()

    live = Delivery.objects.filter(target=live_target)
    assert live.filter(status="delivered").count() == LEADS
    assert healthy.violations == 0
    assert set(healthy.effects) == {str(k) for k in live.values_list("idempotency_key", flat=True)}
    # The dead target's rows are retrying, none delivered, none lost.
    dead_rows = Delivery.objects.filter(target=dead_target)
    assert dead_rows.count() == LEADS
    assert not dead_rows.filter(status="delivered").exists()
    assert dead_rows.filter(attempts__gte=1).exists()
    print(f"\n[isolation] {LEADS} healthy deliveries done in {elapsed:.1f} s beside a dead target")
