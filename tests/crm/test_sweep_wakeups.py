"""Wake-ups through the suite's own broker and cache (Redis; on the SQLite leg, `make run`'s
file-system broker and local memory): one queued per target at a time, none for targets
backing off or draining (reference targets R2, R3), and intake's, after its commit."""

from datetime import timedelta

import kombu
import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from crm import ratelimit, services, tasks
from crm.connectors import http_client, signing
from crm.models import CrmTarget, Delivery
from portal.celery import app
from tests.crm.receivers import Answer, ca_bundle_path
from tests.crm.receivers.https_receiver import HttpsReceiver
from tests.factories import make_activity, make_delivery, make_lead, make_target
from tests.leads.conftest import Storefronts, lead_payload

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

QUEUES = ("delivery", "celery", "nurture")


@pytest.fixture
def broker():
    """A channel on the test broker, its queues empty at the start and at the end."""
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for queue in QUEUES:
            channel.queue_purge(queue)
        yield channel
        for queue in QUEUES:
            channel.queue_purge(queue)


def queued(broker) -> list[tuple[str, list, dict]]:
    """(task, args, kwargs) of every message taken from the delivery queue, oldest first."""
    found = []
    while (message := broker.basic_get("delivery", no_ack=True)) is not None:
        args, kwargs, _embed = message.decode()
        found.append((message.headers["task"], args, kwargs))
    return found


@pytest.mark.no_sqlite  # the marks need a shared cache
def test_repeated_sweeps_queue_one_wake_up_per_due_target(broker):
    # Given two due targets, one backing off, and one paused
    due_a, due_b = make_delivery(), make_delivery()
    make_delivery(next_attempt_at=timezone.now() + timedelta(minutes=5))
    paused = make_delivery()
    CrmTarget.objects.filter(pk=paused.target_id).update(is_active=False)

    # When the sweep runs ten times while no worker takes anything
    for _ in range(10):
        tasks.sweep.apply()

    # Then the queue holds exactly one wake-up per due target, and none for the others
    assert sorted(queued(broker)) == sorted(
        [
            ("crm.deliver_target", [due_a.target_id], {"wake_slot": 0}),
            ("crm.deliver_target", [due_b.target_id], {"wake_slot": 0}),
        ]
    )


def test_without_a_shared_cache_every_sweep_queues_a_wake_up(broker, settings):
    # Given the first run's local-memory cache (one per process: the worker could never
    # clear a mark there), and a due target
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    row = make_delivery()

    # When the sweep runs twice while no worker takes anything
    tasks.sweep.apply()
    tasks.sweep.apply()

    # Then each run queued a wake-up: none is held back by a mark
    assert queued(broker) == [("crm.deliver_target", [row.target_id], {"wake_slot": 0})] * 2


@pytest.mark.no_sqlite  # the marks need a shared cache
def test_a_started_task_lets_the_next_wake_up_through(broker):
    # Given a due target with one wake-up queued
    row = make_delivery()
    tasks.sweep.apply()

    # When its task starts (and clears the mark), and the sweep runs again, twice
    services.wake_taken(target_id=row.target_id, slot=0)
    tasks.sweep.apply()
    tasks.sweep.apply()

    # Then exactly one more wake-up is queued
    assert queued(broker) == [("crm.deliver_target", [row.target_id], {"wake_slot": 0})] * 2


@pytest.mark.no_sqlite  # the marks need a shared cache
def test_a_lost_message_holds_a_target_back_only_until_its_mark_lapses(broker):
    # Given a wake-up that was queued, then lost (the broker was emptied)
    row = make_delivery()
    tasks.sweep.apply()
    broker.queue_purge("delivery")
    mark = cache.make_key(f"leadportal:crm:wake:{row.target_id}:0")
    lifetime = redis.Redis.from_url(settings.REDIS_URL).ttl(mark)

    # When the sweep runs before, then after, the mark lapses
    tasks.sweep.apply()
    before = queued(broker)
    redis.Redis.from_url(settings.REDIS_URL).delete(mark)  # what its expiry does
    tasks.sweep.apply()

    # Then the mark lives CRM_WAKE_TTL_SECONDS at most, and then a fresh wake-up goes out
    assert 0 < lifetime <= settings.CRM_WAKE_TTL_SECONDS
    assert before == []
    assert queued(broker) == [("crm.deliver_target", [row.target_id], {"wake_slot": 0})]


def test_the_sweep_skips_a_target_whose_drain_is_running(broker):
    # Given a due target whose only drain slot is held by a running task
    row, other = make_delivery(), make_delivery()
    cache.add(f"leadportal:crm:draining:{row.target_id}:0", 1, timeout=60)

    # When the sweep runs
    tasks.sweep.apply()

    # Then only the other target is woken
    assert queued(broker) == [("crm.deliver_target", [other.target_id], {"wake_slot": 0})]


def test_a_broker_outage_leaves_no_mark_behind(broker, monkeypatch):
    # Given a broker that is down
    row = make_delivery()
    down = kombu.Connection("redis://127.0.0.1:1/0", transport_options={"max_retries": 0})
    monkeypatch.setattr(app, "connection_for_write", lambda **options: down)
    services._wake.connection = None

    # When the sweep tries to wake the target
    tasks.sweep.apply()
    monkeypatch.undo()
    services._wake.connection = None

    # Then nothing is queued, and the next sweep (broker back) queues the wake-up
    assert queued(broker) == []
    tasks.sweep.apply()
    assert queued(broker) == [("crm.deliver_target", [row.target_id], {"wake_slot": 0})]


@pytest.fixture
def receiver(monkeypatch, settings):
    monkeypatch.setenv("CRM_EXTRA_CA_BUNDLE", ca_bundle_path())
    settings.CRM_TOTAL_TIMEOUT = 1.0
    with HttpsReceiver(SECRET) as server:
        yield server
    http_client.clients_close()


SECRET = signing.secret_generate()


def test_a_drain_whose_rows_back_off_wakes_nothing(broker, receiver):
    # Given a target that answers 503 to everything, with three due rows
    receiver.answer_with(*[Answer(503)] * 10)
    lead = make_lead()
    make_activity(lead=lead)
    target = make_target(
        publisher=lead.publisher,
        config={"httpsEndpointUrl": receiver.url("/in"), "signingSecret": SECRET},
    )
    ratelimit.reset(target_id=target.pk)
    rows = [make_delivery(lead=lead, target=target, event="lead.updated") for _ in range(3)]

    # When its task drains it, and the sweep runs right after
    services.deliver_target.apply(args=[target.pk], kwargs={"wake_slot": 0})
    tasks.sweep.apply()

    # Then every row is backing off, and no wake-up is queued for the target
    states = set(Delivery.objects.filter(pk__in=[r.pk for r in rows]).values_list("status"))
    assert states == {("pending",)}
    assert Delivery.objects.filter(target=target, next_attempt_at__lte=timezone.now()).count() == 0
    assert queued(broker) == []


def test_a_rate_limited_drain_leaves_the_rest_to_the_sweep(broker, receiver):
    # Given a target with more due rows than its bucket allows now
    receiver.answer_with(*[Answer(200)] * 30)
    lead = make_lead()
    make_activity(lead=lead)
    target = make_target(
        publisher=lead.publisher,
        config={"httpsEndpointUrl": receiver.url("/in"), "signingSecret": SECRET},
        rate_limit=10,
        rate_period_seconds=3600,
    )
    ratelimit.reset(target_id=target.pk)
    for _ in range(12):
        make_delivery(lead=lead, target=target, event="lead.updated")

    # When its task drains it (the bucket allows 10 now, then none)
    services.deliver_target.apply(args=[target.pk], kwargs={"wake_slot": 0})

    # Then 10 are delivered; rate-limited, it leaves the rest to the sweep: no wake-up
    assert Delivery.objects.filter(target=target, status="delivered").count() == 10
    assert queued(broker) == []


@pytest.mark.no_sqlite  # the marks need a shared cache
def test_a_drain_out_of_budget_with_due_rows_hands_over_to_a_fresh_task(broker, settings):
    # Given a due row, and a task budget already spent when the drain starts
    row = make_delivery()
    settings.CRM_TASK_BUDGET_SECONDS = 0

    # When its task runs, twice
    services.deliver_target.apply(args=[row.target_id], kwargs={"wake_slot": 0})
    services.deliver_target.apply(args=[row.target_id])

    # Then one fresh wake-up is queued for the row still due (the second finds it queued)
    assert queued(broker) == [("crm.deliver_target", [row.target_id], {"wake_slot": 0})]
    assert Delivery.objects.get().status == "pending"


def test_a_posted_lead_reaches_the_crm_through_the_broker(
    broker, receiver, django_capture_on_commit_callbacks
):
    # Given a publisher with an HTTPS target on a loopback receiver
    market = Storefronts()
    target = make_target(
        publisher=market.publisher,
        config={"httpsEndpointUrl": receiver.url("/in"), "signingSecret": SECRET},
    )
    ratelimit.reset(target_id=target.pk)

    # When a lead is posted (nothing is queued before the commit)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = market.post(lead_payload())
    before_commit = queued(broker)
    for callback in callbacks:
        callback()
    # ... and a worker runs the wake-up that the commit queued
    messages = queued(broker)
    for _task, args, kwargs in messages:
        services.deliver_target.apply(args=args, kwargs=kwargs)

    # Then the receiver has the lead once, and the outbox row says so
    assert response.status_code == 201
    assert before_commit == []
    assert messages == [("crm.deliver_target", [target.pk], {"wake_slot": 0})]
    delivery = Delivery.objects.get(target=target)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert receiver.rejections() == []
    (body,) = receiver.effects.values()
    assert body["UserDetails"]["Email"] == "ada@contoso.example"
