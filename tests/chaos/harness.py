"""What the chaos tests share: a Redis of their own, real Celery processes."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

from tests.crm.receivers import ca_bundle_path

ROOT = Path(__file__).resolve().parents[2]
READY = b" ready."  # Celery's "celery@… ready." in the worker's log


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A Redis of the test's own, so that shutting it down disturbs nothing else."""

    def __init__(self, workdir: Path) -> None:
        self.port, self.workdir, self.process = free_port(), workdir, None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
        )
        _wait_for_port(self.port)

    def shutdown_nosave(self) -> None:
        subprocess.run(["redis-cli", "-p", str(self.port), "shutdown", "nosave"], check=False)
        self.process.wait(timeout=10)


def _wait_for_port(port: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class Processes:
    """Celery worker and beat as real processes, each in its own process group."""

    def __init__(self, env: dict, workdir: Path) -> None:
        self.env, self.workdir, self.worker, self.beat = env, workdir, None, None

    def _spawn(self, *args: str) -> subprocess.Popen:
        log = open(self.workdir / f"{args[0]}.log", "ab")  # noqa: SIM115
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )

    def start_worker(self, *, wait_ready: bool = False) -> subprocess.Popen:
        """A new worker (the one `kill_worker` stops); returns the one it replaces.
        `wait_ready`: until Celery says it is ready, as a rolling deploy waits."""
        log, previous = self.workdir / "worker.log", self.worker
        started = log.read_bytes().count(READY) if log.exists() else 0
        self.worker = self._spawn(
            "worker",
            "-c",
            "2",
            "-l",
            "info",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"chaos-{time.monotonic_ns()}@%h",
        )
        deadline = time.monotonic() + 60
        while wait_ready and log.read_bytes().count(READY) == started:
            if time.monotonic() > deadline or self.worker.poll() is not None:
                raise RuntimeError(f"the new worker did not get ready; see {log}")
            time.sleep(0.1)
        return previous

    def kill_worker(self) -> None:
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(timeout=10)

    @staticmethod
    def stop_gracefully(worker: subprocess.Popen) -> None:
        """SIGTERM to the worker's main process only, as a container runtime sends it."""
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)

    def start_beat(self) -> None:
        self.beat = self._spawn("beat", "-l", "warning", "-s", str(self.workdir / "beat"))

    def stop(self) -> None:
        for process in (self.worker, self.beat):
            if process and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


# The workers' connections carry this name, so that a test cuts theirs and no others.
WORKER_APPLICATION = "leadportal-chaos-worker"


def cut_worker_connections(*, wait_seconds: float = 30) -> int:
    """pg_terminate_backend every connection of the workers to this test database, once
    they have one: a worker started just before (after a SIGKILL) may still be booting."""
    deadline = time.monotonic() + wait_seconds
    while not _worker_connections() and time.monotonic() < deadline:
        time.sleep(0.1)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s "
            "AND pid <> pg_backend_pid()",
            [WORKER_APPLICATION],
        )
        return cursor.fetchone()[0]


def _worker_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            [WORKER_APPLICATION],
        )
        return cursor.fetchone()[0]


def worker_env(redis: RedisServer, workdir: Path) -> dict:
    database = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
            f"{database['NAME']}?application_name={WORKER_APPLICATION}"
        ),
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis.port}/0",
        "REDIS_URL": f"redis://127.0.0.1:{redis.port}/1",
        "CRM_EXTRA_CA_BUNDLE": ca_bundle_path(),
        "CRM_RETRY_SCHEDULE": "0,1,1,2,2,2,2,2,2,2,2,2,2,2,2",
        "CRM_CONNECT_TIMEOUT": "1",
        "CRM_TOTAL_TIMEOUT": "1",
        "CRM_SWEEP_SECONDS": "1",
        "CRM_TASK_BUDGET_SECONDS": "5",
        "VAR_DIR": str(workdir),
    }
