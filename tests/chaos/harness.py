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

    def start_worker(self) -> None:
        self.worker = self._spawn(
            "worker",
            "-c",
            "2",
            "-l",
            "warning",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"chaos-{time.monotonic_ns()}@%h",
        )

    def kill_worker(self) -> None:
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(timeout=10)

    def restart_worker_gracefully(self) -> None:
        """A deploy: the new worker starts, then the old one gets SIGTERM (its main
        process only, as a container runtime sends it) and is waited for."""
        old = self.worker
        self.start_worker()
        old.send_signal(signal.SIGTERM)
        old.wait(timeout=60)

    def start_beat(self) -> None:
        self.beat = self._spawn("beat", "-l", "warning", "-s", str(self.workdir / "beat"))

    def stop(self) -> None:
        for process in (self.worker, self.beat):
            if process and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


# The workers' connections carry this name, so that a test cuts theirs and no others.
WORKER_APPLICATION = "leadportal-chaos-worker"


def cut_worker_connections() -> int:
    """pg_terminate_backend every connection of the workers to this test database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s "
            "AND pid <> pg_backend_pid()",
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
