"""Leases that follow the work: renewed while the holder lives, reclaimed at
once when it is dead, given back at once when it is asked to stop."""

import os
import signal
import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from crm import leases, ratelimit, services
from crm.connectors import Result, http_client, signing
from crm.models import Delivery
from portal import leases as worker_leases
from tests.crm.receivers import Answer, ca_bundle_path
from tests.crm.receivers.https_receiver import HttpsReceiver
from tests.factories import make_activity, make_delivery, make_lead, make_target

pytestmark = pytest.mark.sqlite

SECRET = signing.secret_generate()


def _claim(count: int = 1, **target_fields) -> list[Delivery]:
    target = make_target(publisher=None, **target_fields)
    lead = make_lead()
    for _ in range(count):
        make_delivery(lead=lead, target=target, event="lead.updated")
    return leases.deliveries_claim(target=target, limit=count)


def test_a_claim_takes_a_short_lease(db, settings):
    settings.CRM_LEASE_SECONDS = 15
    before = timezone.now()

    (row,) = _claim()

    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sending", 1)
    assert (
        before + timedelta(seconds=15) <= row.lease_until <= timezone.now() + timedelta(seconds=15)
    )


def test_the_holders_renewal_pushes_its_leases_ahead(db, settings):
    settings.CRM_LEASE_SECONDS = 15
    rows = _claim(3)
    holding = leases.Holding()
    holding.hold(rows[:2])
    almost_over = timezone.now() + timedelta(seconds=1)
    Delivery.objects.update(lease_until=almost_over)

    holding.renew()

    leased = dict(Delivery.objects.values_list("pk", "lease_until"))
    assert leased[rows[0].pk] > almost_over + timedelta(seconds=10)
    assert leased[rows[1].pk] > almost_over + timedelta(seconds=10)
    assert leased[rows[2].pk] == almost_over  # not held by this holder


def test_a_renewal_never_touches_a_row_another_worker_claimed_since(db):
    (row,) = _claim()
    holding = leases.Holding()
    holding.hold([row])
    # The lease ran out and another worker claimed the row: its attempt count moved on.
    theirs = timezone.now() + timedelta(seconds=3)
    Delivery.objects.filter(pk=row.pk).update(attempts=2, lease_until=theirs)

    holding.renew()

    assert Delivery.objects.get(pk=row.pk).lease_until == theirs


def test_the_sweep_reclaims_an_expired_lease_at_once_and_keeps_the_attempt(db):
    (row,) = _claim()
    Delivery.objects.filter(pk=row.pk).update(lease_until=timezone.now() - timedelta(seconds=1))

    services.targets_sweep()

    reclaimed = Delivery.objects.get(pk=row.pk)
    assert (reclaimed.status, reclaimed.attempts, reclaimed.lease_until) == ("pending", 1, None)
    assert reclaimed.next_attempt_at == reclaimed.created_at  # in its place by age
    # The dead holder's late answer is dropped: the row is no longer its to write.
    late = services.deliveries_record_delivered(
        pairs=[(row, Result(str(row.idempotency_key), "delivered", status_code=200))],
        target=row.target,
    )
    assert late == 0
    assert Delivery.objects.get(pk=row.pk).status == "pending"


def test_the_sweep_leaves_a_live_lease_alone(db):
    (row,) = _claim()

    services.targets_sweep()

    assert Delivery.objects.get(pk=row.pk).status == "sending"


def test_the_heartbeat_renews_until_the_block_ends(db):
    beats = threading.Semaphore(0)
    heartbeat = worker_leases.Heartbeat(renew=beats.release, interval=0.01, deadline=float("inf"))

    with heartbeat:
        assert beats.acquire(timeout=5)
        assert beats.acquire(timeout=5)

    assert not heartbeat._thread.is_alive()


def test_the_heartbeat_survives_a_failed_renewal(db):
    beats = threading.Semaphore(0)

    def renew():
        beats.release()
        raise ConnectionError("the database went away")

    with worker_leases.Heartbeat(renew=renew, interval=0.01, deadline=float("inf")):
        assert beats.acquire(timeout=5)
        assert beats.acquire(timeout=5)  # beating on after the failure


def test_the_heartbeat_stops_renewing_at_the_holders_deadline(db):
    beats = threading.Semaphore(0)

    with worker_leases.Heartbeat(renew=beats.release, interval=0.01, deadline=0):
        assert not beats.acquire(timeout=0.2)


class StopsOnFirstCall(HttpsReceiver):
    """A deploy's SIGTERM arrives while the first call of a claim is in flight."""

    def next_answer(self) -> Answer:
        worker_leases.stopping.set()
        return Answer(200)


@pytest.fixture
def stopping_receiver(monkeypatch, settings):
    monkeypatch.setenv("CRM_EXTRA_CA_BUNDLE", ca_bundle_path())
    settings.CRM_TOTAL_TIMEOUT = 1.0
    with StopsOnFirstCall(SECRET) as server:
        yield server
    worker_leases.stopping.clear()
    http_client.clients_close()


def test_a_stopping_worker_finishes_its_call_and_gives_the_rest_back_uncounted(
    db, stopping_receiver
):
    lead = make_lead()
    make_activity(lead=lead)
    target = make_target(
        publisher=lead.publisher,
        config={"httpsEndpointUrl": stopping_receiver.url("/in"), "signingSecret": SECRET},
    )
    ratelimit.reset(target_id=target.pk)
    rows = [make_delivery(lead=lead, target=target, event="lead.updated") for _ in range(4)]

    report = services.deliveries_drain(target_id=target.pk, budget_seconds=5)

    assert report.delivered == 1
    assert len(stopping_receiver.requests) == 1
    states = list(Delivery.objects.order_by("pk").values_list("status", "attempts", "lease_until"))
    assert states == [("delivered", 1, None)] + [("pending", 0, None)] * 3
    given_back = Delivery.objects.filter(pk__in=[row.pk for row in rows[1:]])
    assert all(d.next_attempt_at == d.created_at for d in given_back)  # due, in place by age


@pytest.fixture
def signal_handlers():
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGUSR2)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)
    worker_leases.stopping.clear()


def test_the_main_process_stop_signal_asks_a_pool_processs_task_to_stop(signal_handlers):
    worker_leases.worker_process_init()

    os.kill(os.getpid(), worker_leases.STOP_SIGNAL)

    assert worker_leases.stopping.wait(timeout=5)


def test_sigterm_stops_a_working_pool_process_softly_and_an_idle_one_at_once(
    signal_handlers, monkeypatch
):
    exits = []
    signal.signal(signal.SIGTERM, lambda signum, frame: exits.append(signum))  # billiard's
    monkeypatch.setattr(worker_leases, "current_process", lambda: SimpleNamespace(name="Fork-1"))
    worker_leases.task_prerun()

    os.kill(os.getpid(), signal.SIGTERM)  # idle: billiard's exit runs
    assert exits == [signal.SIGTERM]
    assert not worker_leases.stopping.is_set()
    with worker_leases.Heartbeat(renew=lambda: None, interval=60, deadline=0):
        os.kill(os.getpid(), signal.SIGTERM)  # a holder works: it is asked to stop
        assert worker_leases.stopping.wait(timeout=5)
    assert exits == [signal.SIGTERM]
