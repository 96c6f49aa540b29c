"""The delivery benchmark's stage: child processes, the receiver, the scratch database
with its marketplace and outbox rows, the environment and the certificates.

Django is imported inside the functions: the module loads before django.setup().
"""

import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from random import Random

import httpx
from harness import ROOT, SERVER, database_create, database_drop, database_name, manage

DATABASE = database_name("lp_bench_delivery")
OFFER_ID, OFFER_NAME, STOREFRONT = "benchdeliv.offer", "Bench Delivery Offer", "azure-marketplace"


# --- Processes ---------------------------------------------------------------------------


class Processes:
    """Child processes, each in its own session with a log file; stop() ends them all."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.running: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, command: list[str], *, env: dict, cwd: Path = ROOT):
        with open(self.workdir / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=log, stderr=log, start_new_session=True
            )
        self.running.append((name, process))
        return process

    def celery(self, name: str, app: str, *args: str, env: dict, cwd: Path = ROOT):
        command = [sys.executable, "-m", "celery", "-A", app, *args]
        return self.start(name, command, env=env, cwd=cwd)

    def worker(self, name: str, app: str, *, env: dict, cwd: Path = ROOT):
        return self.celery(
            name, app, "worker", "-c", "2", "-l", "info", "--without-gossip",
            "--without-mingle", "--without-heartbeat", "-n", f"{name}-{os.getpid()}@%h",
            env=env, cwd=cwd,
        )  # fmt: skip

    def stop(self, process: subprocess.Popen, *, grace: float = 15.0) -> None:
        """SIGTERM to the process group, then SIGKILL after `grace` seconds."""
        self.running = [(n, p) for n, p in self.running if p is not process]
        if process.poll() is not None:
            return
        for signum, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(process.pid, signum)
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def stop_all(self) -> None:
        for _, process in reversed(list(self.running)):
            self.stop(process, grace=5.0)


def loopback_stage(processes: Processes, workdir: Path, *, delay: float = 0.0) -> tuple:
    """Start the private Redis and the receiver (answering after `delay` seconds); returns
    (CA path for CRM_EXTRA_CA_BUNDLE, Redis port, receiver port)."""
    from harness import BENCH, free_port, wait_for_port

    ca_path, chain_path = certificates(workdir)
    redis_port, receiver_port = free_port(), free_port()
    redis = processes.start(
        "redis",
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        env=os.environ.copy(),
    )  # fmt: skip
    wait_for_port(redis_port, redis, "redis-server")
    receiver = processes.start(
        "receiver",
        [sys.executable, str(BENCH / "delivery_receiver.py"), str(receiver_port), chain_path,
         str(delay)],
        env=os.environ.copy(),
    )  # fmt: skip
    wait_for_port(receiver_port, receiver, "the receiver")
    return ca_path, redis_port, receiver_port


# --- The receiver --------------------------------------------------------------------------


class Receiver:
    """Talks to bench/delivery_receiver.py over its control paths."""

    def __init__(self, port: int, ca_path: str) -> None:
        self.url = f"https://127.0.0.1:{port}/leads"
        context = ssl.create_default_context(cafile=ca_path)
        self.control = httpx.Client(
            base_url=f"https://127.0.0.1:{port}", verify=context, trust_env=False, timeout=60
        )

    def count(self) -> int:
        return self.control.get("/_count").json()["count"]

    def reset(self) -> None:
        self.control.post("/_reset").raise_for_status()

    def dump(self, *, bodies: bool = False) -> list[list]:
        return self.control.get("/_dump?bodies=1" if bodies else "/_dump").json()

    def wait_for(self, count: int, seconds: float, sender=None) -> int:
        """Poll until `count` POSTs arrived, `seconds` passed or the sender process died;
        returns the count seen."""
        deadline = time.monotonic() + seconds
        seen = self.count()
        while seen < count and time.monotonic() < deadline:
            if sender is not None and sender.poll() is not None:
                print(f"  the sender exited with {sender.returncode}; see its log", flush=True)
                break
            time.sleep(0.2)
            seen = self.count()
        return seen


# --- The database ----------------------------------------------------------------------------


def database_migrate(env: dict) -> None:
    """A fresh `lp_bench_delivery`, migrated in a subprocess with `env`."""
    database_create(DATABASE, force=True)
    manage("migrate", "--no-input", "-v", "0", env=env)


def database_close_and_drop() -> None:
    """Close this process's Django connections, if any, then drop the database."""
    if "django.db" in sys.modules:
        from django.conf import settings
        from django.db import connections

        if settings.configured:
            connections.close_all()
    database_drop(DATABASE, force=True)


@dataclass
class Marketplace:
    publisher_id: int
    listing_id: int
    target_id: int
    key: str


def marketplace_create(receiver_url: str, batch_size: int) -> Marketplace:
    """A publisher that qualifies every lead, one published listing, a storefront key and
    one HTTPS target pointing at the receiver."""
    from crm.connectors import signing
    from crm.models import CrmTarget
    from leads.catalog import services as catalog_services
    from leads.intake import api_keys
    from leads.models import ApiKey, Listing
    from leads.scoring import services as scoring_services

    publisher = scoring_services.publisher_onboard(
        name="Bench Delivery", slug="bench-delivery", publisher_id="benchdeliv"
    )
    publisher.qualification_threshold = 0
    publisher.save(update_fields=["qualification_threshold"])
    listing = Listing.objects.create(
        publisher=publisher, storefront=STOREFRONT, listing_type="offer", offer_id=OFFER_ID,
        name=OFFER_NAME, lead_management_enabled=True,
    )  # fmt: skip
    catalog_services.listing_publish(listing=listing)
    target = CrmTarget(
        publisher=publisher,
        kind="https",
        name="bench receiver",
        config={"httpsEndpointUrl": receiver_url, "signingSecret": signing.secret_generate()},
        rate_limit=100_000,
        rate_period_seconds=1,
        batch_size=batch_size,
    )
    target.save()
    _, key = api_keys.api_key_create(
        kind=ApiKey.Kind.STOREFRONT, name="bench-delivery", storefront=STOREFRONT
    )
    return Marketplace(publisher.pk, listing.pk, target.pk, key)


def outbox_fill(market: Marketplace, count: int, *, prefix: str = "t", target_ids=()) -> None:
    """`count` qualified leads, each with an activity and a pending delivery, by bulk_create;
    the deliveries go round the given targets (the market's own by default)."""
    from django.db import transaction
    from django.utils import timezone

    from crm.models import Delivery
    from demo.simulation import person_make
    from leads.models import Lead, LeadActivity

    rng, now = Random(7), timezone.now()
    target_ids = list(target_ids) or [market.target_id]
    for start in range(0, count, 1000):
        people = [person_make(rng) for _ in range(min(1000, count - start))]
        with transaction.atomic():
            leads = Lead.objects.bulk_create(
                Lead(
                    publisher_id=market.publisher_id,
                    first_name=p["FirstName"], last_name=p["LastName"],
                    email=f"{prefix}{start + n}.{p['Email']}",
                    email_normalized=f"{prefix}{start + n}.{p['Email']}".lower(),
                    phone=p["Phone"], country=p["Country"][:2], company=p["Company"],
                    title=p["Title"], score=60, status="qualified", qualified_at=now,
                    status_changed_at=now, last_activity_at=now,
                )
                for n, p in enumerate(people)
            )  # fmt: skip
            LeadActivity.objects.bulk_create(
                LeadActivity(
                    lead=lead, listing_id=market.listing_id, storefront=STOREFRONT,
                    action_code="INS", lead_source=f"AzureMarketplace-INS|{OFFER_ID}",
                    description="Interested in a proof of concept next quarter.",
                    occurred_at=now,
                )
                for lead in leads
            )  # fmt: skip
            Delivery.objects.bulk_create(
                Delivery(
                    lead=lead,
                    target_id=target_ids[(start + n) % len(target_ids)],
                    event=Delivery.Event.QUALIFIED,
                    next_attempt_at=now,
                )
                for n, lead in enumerate(leads)
            )


def delivery_statuses(target_ids) -> Counter:
    from django.db.models import Count

    from crm.models import Delivery

    rows = (
        Delivery.objects.filter(target_id__in=target_ids)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    return Counter(dict(rows))


# --- The stage -------------------------------------------------------------------------------


@dataclass
class Stage:
    """The child processes and their folder, the private Redis, the receiver and its CA."""

    processes: Processes
    workdir: Path
    ca_path: str
    redis_port: int
    receiver: Receiver


@contextmanager
def stage_running(name: str, *, drop: bool, delay: float = 0.0) -> Iterator[Stage]:
    """The private Redis and the receiver (answering after `delay` seconds) in a fresh
    folder; on the way out, Ctrl-C and SIGTERM included, the processes are stopped, the
    database is dropped when `drop`, and the folder is removed."""
    # A SIGTERM unwinds like Ctrl-C, through the finally blocks that stop the children.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    workdir = Path(tempfile.mkdtemp(prefix=f"lp-bench-{name}-"))
    processes = Processes(workdir)
    with ExitStack() as cleanup:
        # Run in reverse: stop the processes, drop the database, remove the files.
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        if drop:
            cleanup.callback(database_close_and_drop)
        cleanup.callback(processes.stop_all)
        ca_path, redis_port, receiver_port = loopback_stage(processes, workdir, delay=delay)
        yield Stage(processes, workdir, ca_path, redis_port, Receiver(receiver_port, ca_path))


def marketplace_prepare(stage: Stage, env: dict, *, batch_size: int = 1) -> Marketplace:
    """Migrate a fresh DATABASE with `env`, set Django up in this process with it, and
    create the marketplace whose target points at the stage's receiver."""
    database_migrate(env)
    os.environ.update(env | {"LOG_LEVEL": "WARNING"})  # this process: no httpx lines
    import django

    django.setup()
    return marketplace_create(stage.receiver.url, batch_size)


# --- The run -----------------------------------------------------------------------------------


def bench_env(stage: Stage, *, sweep: float) -> dict:
    """The environment of the processes on `stage`, with the beat sweep every `sweep` s."""
    from cryptography.fernet import Fernet

    broker = f"redis://127.0.0.1:{stage.redis_port}/0"
    return os.environ | {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": f"{SERVER}/{DATABASE}",
        "DEBUG": "0",
        "PORTAL_BASE_URL": "https://127.0.0.1",
        "SECRET_KEY": "bench-delivery-secret-key-not-for-production-0123456789",
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "STATIC_MANIFEST": "0",
        "CELERY_BROKER_URL": broker,
        "BENCH_BASELINE_BROKER": broker,
        "REDIS_URL": f"redis://127.0.0.1:{stage.redis_port}/1",
        "CRM_ALLOW_PRIVATE_TARGETS": "1",
        "CRM_EXTRA_CA_BUNDLE": stage.ca_path,
        "CRM_SWEEP_SECONDS": str(sweep),
        "LOG_LEVEL": "INFO",  # workers log each attempt (Procfile: worker -l info)
        "VAR_DIR": str(stage.workdir),
        "PYTHONPATH": str(ROOT),
    }


def certificates(workdir: Path) -> tuple[str, str]:
    """A trustme CA (for CRM_EXTRA_CA_BUNDLE) and the receiver's key and chain."""
    import trustme

    ca = trustme.CA()
    ca_path, chain_path = workdir / "ca.pem", workdir / "receiver.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(
        str(chain_path)
    )
    return str(ca_path), str(chain_path)
