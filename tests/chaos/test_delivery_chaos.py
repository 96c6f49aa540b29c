"""Chaos: leads keep arriving while workers die, Redis loses everything and the database
cuts the workers' connections, and no lead is lost or sent twice.

2,000 leads go through intake (20 bulk calls of 50 and 1,000 single posts, 10 % of the
single LeadIds posted twice) to two HTTPS receivers that fail 20 % of calls (500, 429,
or no answer before the timeout). Meanwhile, with the default lease (CRM_LEASE_SECONDS):
- the Celery worker is SIGKILLed five times, twice while it holds claims (the receivers
  are made slow, so that it certainly holds some);
- Redis is shut down with nothing saved and started again;
- pg_terminate_backend cuts every connection of the workers, twice;
- the worker is restarted gracefully (a new one starts, the old one gets SIGTERM) while
  it holds claims.
At the end every expected delivery must be delivered and none left `sending`, each
receiver must have seen exactly the expected delivery ids (0 lost), and 0 duplicate
effects (the receivers deduplicate on webhook-id; raw duplicate POSTs are allowed,
counted and reported). The test prints the recovery time of each kill: from the kill to
the delivery of the last row the killed worker held.
"""

import json
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from crm import services as crm_services
from crm.connectors import signing
from crm.models import CrmTarget, Delivery
from leads.catalog import services as catalog_services
from leads.intake import api_keys
from leads.models import ApiKey, Lead
from portal.celery import app
from tests.chaos.harness import Processes, RedisServer, cut_worker_connections, worker_env
from tests.crm.receivers import Answer
from tests.crm.receivers.https_receiver import HttpsReceiver
from tests.factories import make_listing, make_publisher

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

LEADS_BULK, BULK_SIZE, LEADS_SINGLE = 20, 50, 1000
CONVERGE_SECONDS = 300


class FlakyReceiver(HttpsReceiver):
    """Fails one call in five: 500, 429 with Retry-After, or an answer after the timeout."""

    def __init__(self, secret: str, seed: int) -> None:
        super().__init__(secret)
        self.random = random.Random(seed)
        self.slow = 0.0  # seconds added to each answer while a kill waits for claims

    def next_answer(self) -> Answer:
        with self.lock:
            roll = self.random.random()
        if self.slow:
            return Answer(200, delay=self.slow)
        if roll < 0.10:
            return Answer(500)
        if roll < 0.17:
            return Answer(429, headers={"Retry-After": "1"})
        if roll < 0.20:
            return Answer(200, delay=1.6)  # the client gave up after 1 s: ambiguous
        return Answer(200)


def _marketplace(receivers: list[HttpsReceiver], secrets: list[str]):
    publisher = make_publisher(name="Chaos Inc", publisher_id="chaos")
    publisher.qualification_threshold = 0
    publisher.save()
    listing = make_listing(
        publisher=publisher,
        storefront="azure-marketplace",
        listing_type="offer",
        offer_id="chaos.offer",
        name="Chaos Offer",
        lead_management_enabled=True,
    )
    catalog_services.listing_publish(listing=listing)
    for owner, receiver, secret in zip((publisher, None), receivers, secrets, strict=True):
        target = CrmTarget(
            publisher=owner,
            kind="https",
            name=f"receiver {receiver.port}",
            config={"httpsEndpointUrl": receiver.url("/leads"), "signingSecret": secret},
            rate_limit=100_000,
            rate_period_seconds=1,
            batch_size=1,
        )
        target.save()
    return api_keys.api_key_create(
        kind=ApiKey.Kind.STOREFRONT, name="chaos", storefront="azure-marketplace"
    )[1]


def _lead(n: int) -> dict:
    return {
        "UserDetails": {
            "FirstName": f"P{n}",
            "LastName": "Chaos",
            "Email": f"p{n}@chaos.example",
            "Country": "US",
            "Company": "Chaos",
        },
        "LeadSource": "AzureMarketplace-INS|chaos.offer",
        "ActionCode": "INS",
        "OfferTitle": "Chaos Offer",
        "LeadId": f"chaos-{n}",
    }


def _post_leads(client: Client, key: str, faults: dict) -> int:
    """Post every lead, firing each fault when its lead number comes up; the 200s count."""
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}", "content_type": "application/json"}
    replays = 0
    for batch in range(LEADS_BULK):
        items = [_lead(batch * BULK_SIZE + i) for i in range(BULK_SIZE)]
        assert client.post("/api/v1/leads/bulk", json.dumps(items), **auth).status_code == 200
        faults.pop(batch * BULK_SIZE, lambda: None)()
    first = LEADS_BULK * BULK_SIZE
    for n in range(first, first + LEADS_SINGLE):
        assert client.post("/api/v1/leads", json.dumps(_lead(n)), **auth).status_code == 201
        if n % 10 == 0:  # 10 % of the LeadIds come again
            response = client.post("/api/v1/leads", json.dumps(_lead(n)), **auth)
            assert response.status_code == 200
            replays += 1
        faults.pop(n, lambda: None)()
    return replays


@dataclass
class Kill:
    """A stop of the worker: when, how, and the rows it held then (id -> attempts)."""

    how: str
    at: datetime
    held: dict[int, int] = field(default_factory=dict)

    def recovery(self) -> str:
        """The time from the stop to the delivery of the held rows taken over at their first
        attempt after it; rows that met a receiver failure then wait for their retry (behind
        any backlog) and are reported apart."""
        if not self.held:
            return f"{self.how}: held no rows"
        first, retried = [], []
        for pk, attempts, delivered_at in Delivery.objects.filter(pk__in=self.held).values_list(
            "pk", "attempts", "delivered_at"
        ):
            after = (delivered_at - self.at).total_seconds()
            (first if attempts <= self.held[pk] + 1 else retried).append(after)
        text = f"{self.how}: {len(self.held)} rows held"
        if first:
            text += f", {len(first)} delivered by {max(first):.1f} s after the stop"
        if retried:
            text += f"; {len(retried)} met a receiver failure, last delivered {max(retried):.1f} s"
        return text


class Chaos:
    """The faults, each fired when its lead number comes up."""

    def __init__(self, processes: Processes, redis: RedisServer, receivers) -> None:
        self.processes, self.redis, self.receivers = processes, redis, receivers
        self.kills: list[Kill] = []
        self.cuts: list[int] = []
        self.worker_started = timezone.now()

    def _held(self) -> dict[int, int]:
        """The rows the running worker claimed: leased beyond what a claim made before it
        started could be (a killed worker's rows stay `sending` until the sweep takes them)."""
        fresh = self.worker_started + timedelta(seconds=settings.CRM_LEASE_SECONDS)
        sending = Delivery.objects.filter(status="sending", lease_until__gt=fresh)
        return dict(sending.values_list("pk", "attempts"))

    def _start_worker(self) -> None:
        self.worker_started = timezone.now()
        self.processes.start_worker()

    def _wait_for_claims(self) -> None:
        """Slow the receivers down until the worker holds claimed rows mid-call."""
        for receiver in self.receivers:
            receiver.slow = 0.7  # under the 1 s client timeout: a slow CRM, not a dead one
        deadline = time.monotonic() + 30
        while not self._held():
            assert time.monotonic() < deadline, "the worker never held a claim"
            time.sleep(0.05)
        time.sleep(0.3)

    def _back_to_speed(self) -> None:
        for receiver in self.receivers:
            receiver.slow = 0.0

    def sigkill(self, *, holding: bool = False) -> None:
        if holding:
            self._wait_for_claims()
        self.processes.kill_worker()
        kill = Kill("SIGKILL" + (" holding claims" if holding else ""), timezone.now())
        kill.held = self._held()  # the dead worker's: nothing else claims until the restart
        self.kills.append(kill)
        self._start_worker()
        self._back_to_speed()

    def sigterm(self) -> None:
        """A rolling deploy: the new worker is ready before the old one gets SIGTERM."""
        self._wait_for_claims()
        started = timezone.now()
        old = self.processes.start_worker(wait_ready=True)
        kill = Kill("SIGTERM (graceful) holding claims", timezone.now(), self._held())
        self.worker_started = started
        self.kills.append(kill)
        self.processes.stop_gracefully(old)
        self._back_to_speed()

    def restart_redis(self) -> None:
        self.redis.shutdown_nosave()
        time.sleep(1)
        self.redis.start()

    def cut_connections(self) -> None:
        self.cuts.append(cut_worker_connections())


def _converge(seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = Delivery.objects.exclude(status="delivered").count()
        if left == 0:
            return 0
        time.sleep(1)
    return Delivery.objects.exclude(status="delivered").count()


@pytest.mark.django_db(transaction=True)
def test_no_delivery_is_lost_or_doubled_through_worker_and_redis_failures(tmp_path, capsys):
    redis = RedisServer(tmp_path)
    redis.start()
    secrets = [signing.secret_generate(), signing.secret_generate()]
    receivers = [FlakyReceiver(secrets[0], seed=1), FlakyReceiver(secrets[1], seed=2)]
    processes = Processes(worker_env(redis, tmp_path), tmp_path)
    # Wake-ups are published through the write URL, on a connection cached per thread.
    broker = app.conf.broker_write_url
    app.conf.broker_write_url = f"redis://127.0.0.1:{redis.port}/0"
    crm_services._wake.connection = None
    try:
        for receiver in receivers:
            receiver.__enter__()
        key = _marketplace(receivers, secrets)
        processes.start_worker()
        processes.start_beat()
        chaos = Chaos(processes, redis, receivers)
        faults = {  # bulk calls end at multiples of 50; single posts follow from 1,000
            200: chaos.sigkill,
            400: lambda: chaos.sigkill(holding=True),
            600: chaos.cut_connections,
            700: lambda: chaos.sigkill(holding=True),
            900: chaos.sigterm,
            1200: chaos.sigkill,
            1400: chaos.cut_connections,
            1600: chaos.restart_redis,
            1800: chaos.sigkill,
        }
        replays = _post_leads(Client(), key, faults)
        left = _converge(CONVERGE_SECONDS)
    finally:
        processes.stop()
        for receiver in receivers:
            receiver.__exit__(None, None, None)
        app.conf.broker_write_url = broker
        crm_services._wake.connection = None
        if redis.process and redis.process.poll() is None:
            redis.shutdown_nosave()

    assert not faults, f"faults never fired: {sorted(faults)}"
    assert Lead.objects.count() == LEADS_BULK * BULK_SIZE + LEADS_SINGLE
    assert left == 0, f"{left} deliveries not delivered"
    assert [kill.how.split()[0] for kill in chaos.kills].count("SIGKILL") == 5
    assert sum(1 for kill in chaos.kills if kill.held) >= 3  # 2 SIGKILLs and the SIGTERM
    assert len(chaos.cuts) == 2 and all(chaos.cuts), chaos.cuts
    with capsys.disabled():
        print(f"\n[chaos] connections cut: {chaos.cuts}")
        for kill in chaos.kills:
            print(f"[chaos] recovery after {kill.recovery()}")
    for receiver, owner in zip(receivers, ("publisher", "field-seller"), strict=True):
        expected = {
            str(key)
            for key in Delivery.objects.filter(
                target__publisher__isnull=owner == "field-seller"
            ).values_list("idempotency_key", flat=True)
        }
        assert len(expected) == Lead.objects.count()  # every lead qualified once
        assert set(receiver.effects) == expected  # 0 lost, nothing unexpected
        # A 2xx the client never saw (it had timed out) is sent again: a raw duplicate
        # that the receiver's webhook-id deduplication absorbs.
        accepted = [r for r in receiver.requests if 200 <= r.status < 300]
        duplicates = len(accepted) - len(receiver.effects)
        with capsys.disabled():
            print(
                f"\n[chaos] {owner}: {len(expected)} deliveries, {len(receiver.requests)} raw "
                f"requests, {duplicates} raw duplicate POSTs "
                f"({100 * duplicates / len(expected):.1f} %), 0 duplicate effects; "
                f"{replays} replayed LeadIds answered 200"
            )
