"""Delivery and nurture have queues of their own (CELERY_TASK_ROUTES): a plain worker
consumes every queue, and a delivery flood cannot starve the nurture sender. Real Celery
worker processes on a Redis of the test's own (tests/chaos/harness.py)."""

import time

import kombu
import pytest
import redis

from leads.models import EmailSend
from portal.celery import app
from tests.chaos.harness import Processes, RedisServer, worker_env
from tests.leads.nurture_support import RecordingHandler, Sequence, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

FLOOD = 3000


def queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


@pytest.mark.parametrize(
    ("task_name", "queue"),
    [
        ("crm.deliver_target", "delivery"),
        ("crm.sweep", "delivery"),
        ("leads.send_due_nurture_steps", "nurture"),
        ("crm.send_test_lead", "celery"),
        ("crm.delivery_health_refresh", "celery"),
        ("leads.rescore_publisher", "celery"),
        ("leads.rollup_recent", "celery"),
    ],
)
def test_each_task_is_routed_to_its_queue(task_name, queue):
    assert queue_of(task_name) == queue


def test_every_queue_is_declared_for_a_plain_worker():
    assert sorted(app.amqp.queues) == ["celery", "delivery", "nurture"]


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.shutdown_nosave()


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    handler, port = RecordingHandler(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.port = port
    yield handler
    controller.stop()


def _spawn_worker(processes: Processes, *queues: str):
    args = ["worker", "-c", "2", "-l", "warning", "--without-gossip", "--without-mingle"]
    if queues:
        args += ["-Q", ",".join(queues)]
    processes.worker = processes._spawn(*args, "-n", f"queues-{time.monotonic_ns()}@%h")


def _wait_for(predicate, seconds: float = 90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


@pytest.mark.django_db(transaction=True)
def test_a_plain_worker_consumes_all_three_queues(own_redis, tmp_path):
    # Given one message waiting in each queue
    broker = kombu.Connection(f"redis://127.0.0.1:{own_redis.port}/0")
    with broker.Producer() as producer:
        for name in ("crm.delivery_health_refresh", "crm.sweep", "leads.send_due_nurture_steps"):
            app.send_task(name, producer=producer)
    queues = redis.Redis(port=own_redis.port, db=0)
    waiting = [queues.llen(name) for name in ("celery", "delivery", "nurture")]

    # When a worker starts as the README and the Procfile start it: no -Q
    processes = Processes(worker_env(own_redis, tmp_path), tmp_path)
    _spawn_worker(processes)
    try:
        drained = _wait_for(
            lambda: all(queues.llen(name) == 0 for name in ("celery", "delivery", "nurture"))
        )
    finally:
        processes.stop()
        broker.release()

    # Then it took every one of them
    assert waiting == [1, 1, 1]
    assert drained is True


@pytest.mark.django_db(transaction=True)
def test_a_nurture_worker_sends_while_thousands_of_deliveries_wait(
    own_redis, tmp_path, smtp_server
):
    # Given a lead due for its first nurture step
    sequence = Sequence()
    (lead,) = sequence.leads(1)
    sequence.enrol([lead])
    # And a delivery queue flooded with wake-ups, then the nurture sender's message
    broker = kombu.Connection(f"redis://127.0.0.1:{own_redis.port}/0")
    with broker.Producer() as producer:
        for _ in range(FLOOD):
            app.send_task("crm.deliver_target", args=[0], producer=producer)
        app.send_task("leads.send_due_nurture_steps", producer=producer)
    queues = redis.Redis(port=own_redis.port, db=0)
    flooded = (queues.llen("delivery"), queues.llen("nurture"))

    # When a worker consuming only the nurture queue runs
    env = worker_env(own_redis, tmp_path) | {
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_server.port}",
        "PORTAL_BASE_URL": "https://portal.test",
    }
    processes = Processes(env, tmp_path)
    _spawn_worker(processes, "nurture")
    try:
        sent = _wait_for(lambda: EmailSend.objects.filter(status="sent").count())
    finally:
        processes.stop()
        broker.release()

    # Then the step went out, and every delivery wake-up is still waiting in its queue
    assert flooded == (FLOOD, 1)
    assert sent == 1
    assert [r.to for r in smtp_server.received] == [lead.email]
    assert (queues.llen("delivery"), queues.llen("nurture")) == (FLOOD, 0)
    assert EmailSend.objects.get().enrollment.lead_id == lead.pk
