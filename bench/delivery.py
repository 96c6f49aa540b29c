"""Benchmark CRM delivery: throughput against a bare Celery task, and end-to-end latency.

    .venv/bin/python bench/delivery.py
    .venv/bin/python bench/delivery.py --deliveries 2000 --rate 50 --duration 30
    .venv/bin/python bench/delivery.py --profile 500      # then cProfile one drain
    BENCH_PG=postgres://user@host:5432 .venv/bin/python bench/delivery.py --keep

Everything runs on loopback: a private Redis on a free port (no saving), the scratch
PostgreSQL database `lp_bench_delivery` (created, migrated in a subprocess, dropped at the
end unless --keep), and bench/delivery_receiver.py, a lean HTTPS receiver in a process of
its own that answers 200 at once and records when each POST arrived. Its certificate comes
from a trustme CA that the senders trust through CRM_EXTRA_CA_BUNDLE. One HTTPS target
(batch size 1, a rate limit of 100,000 a second, so the bucket never binds) points at it.

1. Throughput. N outbox rows (crm.Delivery, with their leads and activities) are written
   with bulk_create and woken once; then ONE `celery -A portal worker -c 2` starts and
   drains them through crm.deliver_target (claim, sign, POST, record). The baseline is the
   bare task `bench.baseline_post` of the tiny Celery app below (same broker, same
   acks_late, prefetch 1): N messages, each carrying one of the bodies the engine sent, are
   published first; then a worker of that app with `-c 2` POSTs them with a pooled httpx
   client. Rates are counted at the receiver, from its first receipt to its last.
2. Latency. gunicorn serves portal.wsgi on loopback (2 gthread workers x 4 threads, as in
   bench/intake.py); the Celery worker (-c 2) and beat (the sweep every --sweep seconds)
   run. New leads are posted to POST /api/v1/leads at --rate a second for --duration
   seconds, open loop (each post has its own start time; 32 client threads). Each 201's
   lead id (the body's "LeadId") is matched to the receiver's first receipt of it; the
   latency is receipt time minus the time the client read the 201, both CLOCK_MONOTONIC.

Targets: engine >= 70 % of the baseline; end-to-end p99 < 1 s. Every process the script
starts runs in its own session and is stopped in a finally block (Ctrl-C included).
"""

import argparse
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from random import Random

import certifi
import httpx
from celery import Celery

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432").rstrip("/")
DATABASE = "lp_bench_delivery"
THROUGHPUT_TARGET, P99_TARGET_MS = 0.70, 1000.0
GUNICORN_WORKERS, GUNICORN_THREADS, CLIENT_THREADS = 2, 4, 32
OFFER_ID, OFFER_NAME, STOREFRONT = "benchdeliv.offer", "Bench Delivery Offer", "azure-marketplace"

# --- The baseline: a bare Celery task that POSTs a body with httpx -------------------------
# The worker runs `celery -A delivery:baseline worker` from bench/, so this module must stay
# importable without Django: everything Django is imported inside functions.

baseline = Celery("bench_delivery_baseline", broker=os.environ.get("BENCH_BASELINE_BROKER"))
baseline.conf.update(
    task_default_queue="bench-delivery-baseline",
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    broker_transport_options={"visibility_timeout": 600},
)
_baseline_client: httpx.Client | None = None


@baseline.task(name="bench.baseline_post")
def baseline_post(url: str, body: str) -> None:
    """POST one JSON body over a pooled, verified connection, as a connector would."""
    global _baseline_client
    if _baseline_client is None:
        context = ssl.create_default_context(cafile=certifi.where())
        context.load_verify_locations(cafile=os.environ["CRM_EXTRA_CA_BUNDLE"])
        _baseline_client = httpx.Client(
            verify=context,
            trust_env=False,
            timeout=httpx.Timeout(30.0, connect=5.0),
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=5),
        )
    response = _baseline_client.post(
        url, content=body.encode(), headers={"Content-Type": "application/json"}
    )
    response.raise_for_status()


# --- Processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, name: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; see its log")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen on port {port} within {seconds:g} s")


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


def _admin(statement) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        connection.execute(statement)


def database_create(env: dict) -> None:
    from psycopg import sql

    _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
    _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def database_drop() -> None:
    from psycopg import sql

    if "django.db" in sys.modules:
        from django.conf import settings
        from django.db import connections

        if settings.configured:
            connections.close_all()
    _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))


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


# --- Phase 1: throughput -----------------------------------------------------------------------


@dataclass
class Drain:
    name: str
    expected: int
    received: int = 0
    first: float = 0.0  # receiver's first and last receipt (monotonic)
    last: float = 0.0
    started: float = 0.0  # when the worker process was started
    load: tuple = ()

    def rate(self) -> float:
        return (self.received - 1) / (self.last - self.first) if self.last > self.first else 0.0

    def wall_rate(self) -> float:
        return self.received / (self.last - self.started) if self.last > self.started else 0.0


def _drain_measure(
    drain: Drain, receiver: Receiver, processes: Processes, start_worker, timeout: float
) -> list[list]:
    drain.started = time.monotonic()
    worker = start_worker()
    try:
        drain.received = receiver.wait_for(drain.expected, timeout, worker)
    finally:
        processes.stop(worker)
    drain.load = os.getloadavg()
    rows = receiver.dump(bodies=True)
    if rows:
        drain.first, drain.last = rows[0][0], rows[-1][0]
    return rows


def engine_throughput(market, receiver, processes, env, options) -> tuple[Drain, list[str]]:
    from crm import services
    from crm.models import CrmTarget

    # --targets N (a diagnostic, default 1): copies of the target share the rows.
    extra = []
    for n in range(1, options.targets):
        copy = CrmTarget.objects.get(pk=market.target_id)
        copy.pk, copy.name = None, f"bench receiver {n + 1}"
        copy.save()
        extra.append(copy.pk)
    target_ids = [market.target_id, *extra]
    outbox_fill(market, options.deliveries, target_ids=target_ids)
    receiver.reset()
    services.deliveries_wake(target_ids=set(target_ids))  # one wake each, before the worker
    drain = Drain("crm.deliver_target (engine)", options.deliveries)
    rows = _drain_measure(
        drain,
        receiver,
        processes,
        lambda: processes.worker("engine-worker", "portal", env=env),
        timeout=options.drain_timeout,
    )
    statuses = delivery_statuses(target_ids)
    print(f"  engine: {drain.received} POSTs received, outbox {dict(statuses)}", flush=True)
    CrmTarget.objects.filter(pk__in=extra).delete()
    return drain, [row[3] for row in rows]


def baseline_throughput(receiver, processes, env, bodies, options) -> Drain:
    count = options.deliveries
    bare_env = {k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"}
    bodies = (bodies * (count // max(len(bodies), 1) + 1))[:count] if bodies else ["{}"] * count
    receiver.reset()
    baseline.conf.broker_url = env["BENCH_BASELINE_BROKER"]
    with baseline.connection_for_write() as connection:
        for body in bodies:
            baseline.send_task(
                "bench.baseline_post", args=[receiver.url, body], connection=connection
            )
    drain = Drain("bench.baseline_post (bare task)", count)
    _drain_measure(
        drain,
        receiver,
        processes,
        # No DJANGO_SETTINGS_MODULE: Celery's Django fixup stays off, the task stays bare.
        lambda: processes.worker("baseline-worker", "delivery:baseline", env=bare_env, cwd=BENCH),
        timeout=options.drain_timeout,
    )
    print(f"  baseline: {drain.received} POSTs received", flush=True)
    return drain


# --- Phase 2: end-to-end latency ---------------------------------------------------------------


@dataclass
class Posted:
    due: float
    sent: float = 0.0
    answered: float = 0.0
    status: object = None
    lead_id: str = ""


@dataclass
class Latency:
    posted: list[Posted] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    missing: int = 0
    duplicates: int = 0
    slow_attempts: Counter = field(default_factory=Counter)
    load: tuple = ()
    elapsed: float = 0.0

    def statuses(self) -> Counter:
        return Counter(p.status for p in self.posted if p.status is not None)

    def created(self) -> list[Posted]:
        return [p for p in self.posted if p.status == 201 and p.lead_id]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def lead_bodies(count: int, seed: int) -> list[bytes]:
    """New people only, each with a LeadId and an email that no other lead has."""
    from demo.simulation import LeadGenerator, Mix, Target

    mix = Mix(repeat=0.0, replay=0.0, bad=0.0, test=0.0, lead_id=1.0)
    generator = LeadGenerator(Random(seed), [Target(OFFER_ID, OFFER_NAME, STOREFRONT)], mix=mix)
    bodies = []
    for n, lead in enumerate(generator.take(count)):
        payload = lead.payload
        payload["UserDetails"]["Email"] = f"s{seed}n{n}.{payload['UserDetails']['Email']}"
        bodies.append(json.dumps(payload).encode())
    return bodies


def post_paced(url: str, key: str, bodies: list[bytes], rate: float, grace: float) -> list[Posted]:
    """Open loop: post i is due at start + i / rate; CLIENT_THREADS keep-alive clients."""
    start = time.monotonic() + 0.5
    posted = [Posted(due=start + i / rate) for i in range(len(bodies))]
    stop_at = start + len(bodies) / rate + grace  # bounded even when intake falls behind
    lock, cursor = threading.Lock(), [0]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def client_loop() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=30.0) as client:
            while True:
                with lock:
                    index = cursor[0]
                    cursor[0] += 1
                if index >= len(bodies):
                    return
                item = posted[index]
                pause = item.due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                if time.monotonic() > stop_at:
                    return
                item.sent = time.monotonic()
                try:
                    response = client.post("/api/v1/leads", content=bodies[index])
                    item.answered = time.monotonic()
                    item.status = response.status_code
                    if response.status_code == 201:
                        item.lead_id = response.json()["id"]
                except httpx.HTTPError as exc:
                    item.answered, item.status = time.monotonic(), type(exc).__name__

    threads = [threading.Thread(target=client_loop, daemon=True) for _ in range(CLIENT_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(1.0, stop_at - time.monotonic() + 35))
    return posted


def gunicorn_command(port: int) -> list[str]:
    return [
        str(Path(sys.executable).with_name("gunicorn")),
        "portal.wsgi:application",
        *("--chdir", str(ROOT), "--bind", f"127.0.0.1:{port}"),
        *("--workers", str(GUNICORN_WORKERS), "--worker-class", "gthread"),
        *("--threads", str(GUNICORN_THREADS), "--keep-alive", "30", "--log-level", "warning"),
    ]


def end_to_end(market, receiver, processes, env, options) -> Latency:
    port = free_port()
    web_env = env | {"LOG_LEVEL": "ERROR"}  # as bench/intake.py: access lines cost the server
    server = processes.start("gunicorn", gunicorn_command(port), env=web_env)
    worker = processes.worker("latency-worker", "portal", env=env)
    beat = processes.celery(
        "beat", "portal", "beat", "-l", "warning", "-s", str(processes.workdir / "beat"), env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port, server, "gunicorn")
        # Warm-up, not recorded: imports, pools and connections in every process.
        warm = lead_bodies(40, seed=1)
        post_paced(url, market.key, warm, rate=20, grace=10)
        receiver.wait_for(len(warm), 30)
        time.sleep(1)
        receiver.reset()

        bodies = lead_bodies(int(options.rate * options.duration), seed=2)
        started = time.monotonic()
        result = Latency(posted=post_paced(url, market.key, bodies, options.rate, grace=30))
        result.elapsed = time.monotonic() - started
        result.load = os.getloadavg()
        created = result.created()
        receiver.wait_for(len(created), options.drain_timeout)
    finally:
        for process in (beat, worker, server):
            processes.stop(process)
    first_receipt: dict[str, float] = {}
    receipts = Counter()
    for received, lead_id, _webhook_id, _ in receiver.dump():
        receipts[lead_id] += 1
        first_receipt.setdefault(lead_id, received)
    result.duplicates = sum(n - 1 for n in receipts.values())
    late_ids = []
    for item in created:
        if item.lead_id in first_receipt:
            latency = (first_receipt[item.lead_id] - item.answered) * 1000
            result.latencies_ms.append(latency)
            if latency >= P99_TARGET_MS:
                late_ids.append(item.lead_id)
        else:
            result.missing += 1
    result.slow_attempts = slow_attempt_counts(late_ids)
    return result


def slow_attempt_counts(lead_uuids: list[str]) -> Counter:
    """How many attempts the late deliveries needed (1 = the first attempt succeeded)."""
    from crm.models import Delivery

    return Counter(
        Delivery.objects.filter(lead__uuid__in=lead_uuids).values_list("attempts", flat=True)
    )


# --- Profile (optional) ------------------------------------------------------------------------


def profile_drain(market, receiver, count: int) -> None:
    """cProfile one in-process drain of `count` fresh rows: where the engine's time goes."""
    import cProfile
    import pstats

    from crm import services
    from crm.models import Delivery

    Delivery.objects.filter(target_id=market.target_id).delete()
    outbox_fill(market, count, prefix="p")
    receiver.reset()
    services.deliveries_drain(target_id=market.target_id, budget_seconds=1)  # warm
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    report = services.deliveries_drain(target_id=market.target_id, budget_seconds=120)
    profiler.disable()
    elapsed = time.perf_counter() - started
    print(
        f"\nProfile: one in-process drain sent {report.attempted} deliveries in {elapsed:.2f} s "
        f"({report.attempted / elapsed:,.0f}/s, {1000 * elapsed / max(report.attempted, 1):.2f} "
        f"ms each, under cProfile)"
    )
    stats = pstats.Stats(profiler).strip_dirs().sort_stats("cumulative")
    stats.print_stats(30)
    stats.sort_stats("tottime").print_stats(20)


# --- The run -----------------------------------------------------------------------------------


def bench_env(workdir: Path, redis_port: int, ca_path: str, options) -> dict:
    from cryptography.fernet import Fernet

    broker = f"redis://127.0.0.1:{redis_port}/0"
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
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/1",
        "CRM_ALLOW_PRIVATE_TARGETS": "1",
        "CRM_EXTRA_CA_BUNDLE": ca_path,
        "CRM_SWEEP_SECONDS": str(options.sweep),
        "LOG_LEVEL": "INFO",  # workers log each attempt (Procfile: worker -l info)
        "VAR_DIR": str(workdir),
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


def fmt_load(load: tuple) -> str:
    return " / ".join(f"{value:.2f}" for value in load) if load else "n/a"


def report(engine: Drain | None, base: Drain | None, latency: Latency | None, options, loads):
    print(f"\nDelivery benchmark, {os.cpu_count()} CPUs; load average (1/5/15 min):")
    for label, load in loads:
        print(f"  {label:28} {fmt_load(load)}")
    if engine and base:
        print(
            f"\nThroughput: {options.deliveries:,} deliveries, one worker -c 2, HTTPS loopback, "
            f"{options.targets} target(s) of batch size {options.batch_size}"
        )
        print(f"{'sender':36} {'received':>9} {'rate':>12} {'incl. start':>12}")
        for drain in (base, engine):
            print(
                f"{drain.name:36} {drain.received:>9,} {drain.rate():>8,.0f} /s "
                f"{drain.wall_rate():>8,.0f} /s"
            )
        ratio = engine.rate() / base.rate() if base.rate() else 0.0
        verdict = "met" if ratio >= THROUGHPUT_TARGET else "MISSED"
        print(f"engine / baseline: {ratio:.1%}  (target >= {THROUGHPUT_TARGET:.0%}: {verdict})")
    if latency:
        created = latency.created()
        answered = [p.answered - p.sent for p in latency.posted if p.status is not None]
        lateness = [p.sent - p.due for p in latency.posted if p.sent]
        last_answer = max((p.answered for p in latency.posted if p.answered), default=0.0)
        first_due = latency.posted[0].due if latency.posted else 0.0
        achieved = len(created) / (last_answer - first_due) if last_answer > first_due else 0.0
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(latency.statuses().items(), key=str))
        print(
            f"\nEnd-to-end: {len(latency.posted):,} leads planned at {options.rate:g}/s for "
            f"{options.duration:g} s; sweep every {options.sweep:g} s"
        )
        print(f"  intake answers: {statuses}; {achieved:,.1f} leads/s achieved")
        print(
            f"  intake latency p50 {percentile(answered, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(answered, 0.99) * 1000:.0f} ms; posts started late by "
            f"p50 {percentile(lateness, 0.5) * 1000:.0f} ms, "
            f"max {max(lateness, default=0) * 1000:.0f} ms"
        )
        values = latency.latencies_ms
        p99 = percentile(values, 0.99)
        print(
            f"  201 -> receipt: {len(values):,} matched, {latency.missing} not received, "
            f"{latency.duplicates} duplicate POSTs"
        )
        print(
            f"  p50 {percentile(values, 0.5):,.0f} ms, p90 {percentile(values, 0.9):,.0f} ms, "
            f"p99 {p99:,.0f} ms, max {max(values, default=float('nan')):,.0f} ms; "
            f"{sum(v >= P99_TARGET_MS for v in values)} over 1 s "
            f"(attempts of those: {dict(latency.slow_attempts)})"
        )
        verdict = "met" if p99 < P99_TARGET_MS and not latency.missing else "MISSED"
        print(f"  p99 < {P99_TARGET_MS:.0f} ms: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=5000, help="Throughput rows.")
    parser.add_argument("--rate", type=float, default=100.0, help="Leads a second (latency).")
    parser.add_argument("--duration", type=float, default=60.0, help="Seconds of posting.")
    parser.add_argument("--sweep", type=float, default=5.0, help="Beat sweep period (s).")
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="Max wait (s).")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--batch-size", type=int, default=1, help="The target's batch size.")
    parser.add_argument("--targets", type=int, default=1, help="Throughput: targets sharing N.")
    parser.add_argument("--profile", type=int, default=0, help="cProfile a drain of N rows.")
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    options = parser.parse_args()

    # A SIGTERM unwinds like Ctrl-C, through the finally blocks that stop the children.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    workdir = Path(tempfile.mkdtemp(prefix="lp-bench-delivery-"))
    processes = Processes(workdir)
    loads = [("start", os.getloadavg())]
    engine = base = latency = None
    with ExitStack() as cleanup:
        # Run in reverse: stop the processes, drop the database, remove the files.
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        if not options.keep:
            cleanup.callback(database_drop)
        cleanup.callback(processes.stop_all)
        ca_path, chain_path = certificates(workdir)
        redis_port, receiver_port = free_port(), free_port()
        redis = processes.start(
            "redis",
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(workdir)],
            env=os.environ.copy(),
        )  # fmt: skip
        wait_for_port(redis_port, redis, "redis-server")
        receiver_process = processes.start(
            "receiver",
            [sys.executable, str(BENCH / "delivery_receiver.py"), str(receiver_port), chain_path],
            env=os.environ.copy(),
        )
        wait_for_port(receiver_port, receiver_process, "the receiver")
        receiver = Receiver(receiver_port, ca_path)
        env = bench_env(workdir, redis_port, ca_path, options)
        print(f"Preparing {DATABASE} (migrate) …", flush=True)
        database_create(env)
        os.environ.update(env | {"LOG_LEVEL": "WARNING"})  # this process: no httpx lines
        import django

        django.setup()
        market = marketplace_create(receiver.url, options.batch_size)

        if not options.skip_throughput:
            print(f"Throughput: {options.deliveries:,} deliveries …", flush=True)
            engine, bodies = engine_throughput(market, receiver, processes, env, options)
            loads.append(("after the engine drain", engine.load))
            base = baseline_throughput(receiver, processes, env, bodies, options)
            loads.append(("after the baseline drain", base.load))
        if not options.skip_latency:
            print(f"Latency: {options.rate:g} leads/s for {options.duration:g} s …", flush=True)
            latency = end_to_end(market, receiver, processes, env, options)
            loads.append(("after the latency run", latency.load))
        report(engine, base, latency, options, loads)
        if options.profile:
            profile_drain(market, receiver, options.profile)


if __name__ == "__main__":
    main()
