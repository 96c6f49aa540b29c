"""Beat is a singleton (portal/beat.py): two real `celery beat` processes on a Redis of
the test's own publish the delivery sweep as often as one does; when the holder dies,
the other takes over within BEAT_LOCK_SECONDS. The sweeps are counted in the broker's
`delivery` queue, which no worker drains here."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import redis

from portal import beat
from tests.chaos.harness import ROOT, worker_env
from tests.portal.process_support import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

LOCK_SECONDS = 3


def _spawn_beat(env: dict, workdir, name: str) -> subprocess.Popen:
    log = open(workdir / f"{name}.log", "ab")  # noqa: SIM115
    schedule = str(workdir / f"{name}-schedule")
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "beat", "-l", "info", "-s", schedule],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )


def _sweeps(broker: redis.Redis) -> int:
    messages = (json.loads(raw) for raw in broker.lrange("delivery", 0, -1))
    return sum(message["headers"]["task"] == "crm.sweep" for message in messages)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def test_a_second_beat_idles_and_takes_over_when_the_first_dies(own_redis, tmp_path):
    env = worker_env(own_redis, tmp_path) | {
        "CRM_SWEEP_SECONDS": "1",
        "BEAT_LOCK_SECONDS": str(LOCK_SECONDS),
    }
    broker = redis.Redis(port=own_redis.port, db=0)
    shared = redis.Redis(port=own_redis.port, db=1)
    first = _spawn_beat(env, tmp_path, "first")
    second = None
    try:
        # Given a beat that holds the lock and sweeps every second
        holder = wait_for(lambda: shared.get(beat.LOCK_KEY))
        assert holder is not None and f":{first.pid}:".encode() in holder
        assert wait_for(lambda: _sweeps(broker) >= 2)
        # When a second beat is started by mistake
        second = _spawn_beat(env, tmp_path, "second")
        assert wait_for(lambda: b"beat.standby" in (tmp_path / "second.log").read_bytes())
        start, started_at = _sweeps(broker), time.monotonic()
        time.sleep(8)
        during_both = _sweeps(broker) - start
        elapsed = time.monotonic() - started_at
        # Then the sweeps go on at one beat's pace, and the first still holds the lock
        assert during_both <= elapsed + 2
        assert during_both >= elapsed - 3
        assert f":{first.pid}:".encode() in shared.get(beat.LOCK_KEY)

        # When the holder dies without letting go
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = time.monotonic()
        taken = wait_for(
            lambda: f":{second.pid}:".encode() in (shared.get(beat.LOCK_KEY) or b""),
            seconds=LOCK_SECONDS * 4,
        )
        # Then the second beat takes the lock within its time, and sweeps
        assert taken
        assert time.monotonic() - killed_at <= LOCK_SECONDS + 6
        resumed_from = _sweeps(broker)
        assert wait_for(lambda: _sweeps(broker) >= resumed_from + 2, seconds=10)
        # And its heartbeat is fresh
        assert time.time() - float(shared.get(beat.HEARTBEAT_KEY)) < 20
    finally:
        _stop(first)
        if second is not None:
            _stop(second)
        broker.close()
        shared.close()


def test_a_beat_that_stops_lets_go_of_the_lock_at_once(own_redis, tmp_path):
    env = worker_env(own_redis, tmp_path) | {"BEAT_LOCK_SECONDS": "60"}
    shared = redis.Redis(port=own_redis.port, db=1)
    process = _spawn_beat(env, tmp_path, "only")
    try:
        assert wait_for(lambda: shared.get(beat.LOCK_KEY))

        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)

        assert shared.get(beat.LOCK_KEY) is None
    finally:
        _stop(process)
        shared.close()
