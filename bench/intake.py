"""Benchmark storefront intake against a bare insert, in one run (docs/benchmarks.md).

    .venv/bin/python bench/intake.py
    .venv/bin/python bench/intake.py --duration 30 --concurrency 16 --keep
    .venv/bin/python bench/intake.py --server gthread
    BENCH_PG=postgres://user@host:5432 .venv/bin/python bench/intake.py

It creates the database `lp_bench_intake`, migrates it, and makes a publisher with four
published Azure Marketplace listings and a storefront key. Then, one server at a time,
each served by gunicorn on loopback in the same way (`--server`: by default
deploy/gunicorn.conf.py, as in production; `gthread` is the earlier set-up) and with the
same psycopg pool:
  1. single lead: POST /api/v1/leads (realistic payloads from demo.simulation) against
     bench/baseline_app.py, a bare Django view that INSERTs the body into a jsonb table;
  2. bulk: POST /api/v1/leads/bulk in batches of 500 and 1,000, against psycopg
     `executemany` of the same leads (contact columns and jsonb payload) in batches of
     the same size, one transaction per batch.
It prints the figures and the ratios against the targets (single >= 60 % of the bare
view, bulk >= 25 % of executemany), then drops the database unless --keep is given.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from random import Random

import httpx
import psycopg
from cryptography.fernet import Fernet
from harness import (
    ROOT,
    SERVER,
    database_name,
    figure_record,
    free_port,
    manage,
    scratch_database,
    wait_for_port,
)
from psycopg.types.json import Jsonb

DATABASE = database_name("lp_bench_intake")
WORKERS, THREADS = 2, 4
SINGLE_TARGET, BULK_TARGET = 0.60, 0.25
OFFERS = [(f"benchpub.offer-{n}", f"Bench Offer {n}") for n in range(4)]

SETUP = """
from leads.catalog import services as catalog_services
from leads.intake import api_keys
from leads.scoring import services as scoring_services
from leads.models import ApiKey, Listing
publisher = scoring_services.publisher_onboard(
    name="Bench Publisher", slug="bench", publisher_id="benchpub"
)
for offer_id, name in {listings!r}:
    listing = Listing.objects.create(
        publisher=publisher, storefront="azure-marketplace", listing_type="offer",
        offer_id=offer_id, name=name, lead_management_enabled=True,
    )
    catalog_services.listing_publish(listing=listing)
_, key = api_keys.api_key_create(
    kind=ApiKey.Kind.STOREFRONT, name="bench", storefront="azure-marketplace"
)
print(key)
"""
TABLES = """
CREATE TABLE bench_baseline (id bigserial PRIMARY KEY, payload jsonb NOT NULL);
CREATE TABLE bench_bulk (
    id bigserial PRIMARY KEY, email varchar(254) NOT NULL, first_name varchar(100),
    last_name varchar(100), phone varchar(50), country varchar(60), company varchar(200),
    title varchar(200), payload jsonb NOT NULL
);
"""
BULK_INSERT = (
    "INSERT INTO bench_bulk (email, first_name, last_name, phone, country, company, title, "
    "payload) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)


# --- The database and the servers ------------------------------------------------------


def _prepare(env: dict) -> str:
    """Migrate the fresh database, make a publisher, listings and a key; returns the key."""
    manage("migrate", "--no-input", "-v", "0", env=env)
    script = SETUP.format(listings=OFFERS)
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as connection:
        connection.execute(TABLES)
    return done.stdout.strip().splitlines()[-1]


# How the two servers run: "production" is deploy/gunicorn.conf.py as an operator runs it
# (sync workers, WEB_CONCURRENCY or two per core, a connection per request); "gthread" is
# the bench's earlier set-up, kept to compare with its figures (docs/benchmarks.md).
SERVERS = {
    "production": "deploy/gunicorn.conf.py: sync workers, two per core, no keep-alive",
    "gthread": f"{WORKERS} gthread workers x {THREADS} threads, keep-alive",
}


@contextmanager
def gunicorn(
    app: str,
    env: dict,
    *,
    chdir: Path = ROOT,
    extra: tuple[str, ...] = (),
    server: str = "gthread",
):
    """Serve `app` on a loopback port as `server` (SERVERS), with gunicorn's `extra`
    arguments; yields its base URL."""
    port = free_port()
    if server == "production":
        env = env | {"GUNICORN_ACCESS_LOG": "0", "GUNICORN_LOG_LEVEL": "warning"}
        workers = ("--config", str(ROOT / "deploy" / "gunicorn.conf.py"))
    else:
        workers = (
            *("--workers", str(WORKERS), "--worker-class", "gthread", "--threads", str(THREADS)),
            *("--keep-alive", "30", "--log-level", "warning"),
        )
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        app,
        *workers,
        *("--chdir", str(chdir), "--bind", f"127.0.0.1:{port}"),
        *extra,
    ]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, process, "gunicorn", log=log)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- Load --------------------------------------------------------------------------------


@dataclass
class Phase:
    """What one measured phase saw: answers, latencies and items (leads) per request."""

    name: str
    elapsed: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    items: int = 0
    exhausted: bool = False

    def rate(self) -> float:
        return self.items / self.elapsed if self.elapsed else 0.0

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


class Bodies:
    """Request bodies handed out once each, across threads."""

    def __init__(self, bodies: list[tuple[bytes, int]], *, cycle: bool = False):
        self.bodies, self.cycle, self.next_index = bodies, cycle, 0
        self.lock = threading.Lock()

    def take(self) -> tuple[bytes, int] | None:
        with self.lock:
            if self.next_index >= len(self.bodies) and not self.cycle:
                return None
            body = self.bodies[self.next_index % len(self.bodies)]
            self.next_index += 1
            return body


def load(url: str, path: str, bodies: Bodies, *, key: str, concurrency: int, seconds: float):
    """POST bodies from `concurrency` keep-alive connections for `seconds`."""
    phase = Phase(path)
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    deadline = time.monotonic() + seconds

    def worker() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=60.0) as client:
            while time.monotonic() < deadline:
                taken = bodies.take()
                if taken is None:
                    phase.exhausted = True
                    return
                body, items = taken
                started = time.perf_counter()
                try:
                    response = client.post(path, content=body)
                    status = response.status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                latency = time.perf_counter() - started
                if status == 200 and items > 1:  # bulk: count the items it created
                    answer = response.json()
                    items, refused = answer["created"], answer["failed"] + answer["replayed"]
                    status = f"200 ({refused} items not created)" if refused else 200
                with lock:
                    phase.statuses[status] += 1
                    if status in (200, 201):
                        phase.latencies.append(latency)
                        phase.items += items

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    phase.elapsed = time.monotonic() - started
    return phase


def leads_generate(seed: int, count: int) -> list[dict]:
    """Realistic leads from the demo's generator, but every one new to the server: no
    replays (they are cheaper), no bad payloads and no test leads. Returning visitors
    stay: consolidation is the work. (The script runs from bench/, so the project's root
    goes on the path before the demo app is imported.)"""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from demo.simulation import LeadGenerator, Mix, Target

    targets = [Target(offer, name, "azure-marketplace") for offer, name in OFFERS]
    generator = LeadGenerator(Random(seed), targets, mix=Mix(replay=0.0, bad=0.0, test=0.0))
    return [lead.payload for lead in generator.take(count)]


def singles(payloads: list[dict]) -> list[tuple[bytes, int]]:
    return [(json.dumps(payload).encode(), 1) for payload in payloads]


def batches(payloads: list[dict], size: int) -> list[tuple[bytes, int]]:
    return [
        (json.dumps(payloads[i : i + size]).encode(), len(payloads[i : i + size]))
        for i in range(0, len(payloads) - size + 1, size)
    ]


def executemany(dsn: str, payloads: list[dict], *, size: int, seconds: float) -> Phase:
    """psycopg executemany of the same leads, one transaction per batch, for `seconds`.

    The table has no unique key, so the rows are cycled: PostgreSQL sees fresh inserts.
    """
    phase = Phase(f"executemany x{size}")
    details = ("Email", "FirstName", "LastName", "Phone", "Country", "Company", "Title")
    rows = [(*(p["UserDetails"].get(k, "") for k in details), Jsonb(p)) for p in payloads]
    batch_count = len(rows) // size
    with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            offset = (phase.statuses["ok"] % batch_count) * size
            batch_started = time.perf_counter()
            with connection.transaction():
                cursor.executemany(BULK_INSERT, rows[offset : offset + size])
            phase.latencies.append(time.perf_counter() - batch_started)
            phase.items += size
            phase.statuses["ok"] += 1
        phase.elapsed = time.monotonic() - started
    return phase


# --- The run -------------------------------------------------------------------------------


def server_env() -> dict:
    return os.environ | {
        "DATABASE_URL": f"{SERVER}/{DATABASE}",
        "BENCH_DATABASE_URL": f"{SERVER}/{DATABASE}",
        "DEBUG": "0",
        "SECRET_KEY": "bench-intake-secret-key-not-for-production-0123456789",
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "STATIC_MANIFEST": "0",
        "CELERY_BROKER_URL": os.environ.get("BENCH_BROKER", "redis://127.0.0.1:6379/15"),
        "LOG_LEVEL": "ERROR",  # 422 warnings and access lines would cost the server time
        "PYTHONPATH": str(ROOT),
    }


def measure(url: str, path: str, bodies: Bodies, warmup: Bodies, *, key, options, concurrency):
    """A short unrecorded warm-up (imports, pool, caches), then the measured phase."""
    load(url, path, warmup, key=key, concurrency=concurrency, seconds=options.warmup)
    return load(url, path, bodies, key=key, concurrency=concurrency, seconds=options.duration)


def single_phases(env: dict, key: str, options) -> tuple[Phase, Phase]:
    per_phase = int(options.duration * 1500)  # more than either server can take
    base = Bodies(singles(leads_generate(seed=1, count=5000)), cycle=True)
    with gunicorn(
        "baseline_app:application", env, chdir=ROOT / "bench", server=options.server
    ) as url:
        baseline = measure(
            url, "/api/v1/leads", base, base, key=key, options=options,
            concurrency=options.concurrency,
        )  # fmt: skip
    baseline.name = "bare Django view, 1 INSERT"
    warmup = Bodies(singles(leads_generate(seed=2, count=5000)))
    bodies = Bodies(singles(leads_generate(seed=3, count=per_phase)))
    with gunicorn("portal.wsgi:application", env, server=options.server) as url:
        intake = measure(
            url, "/api/v1/leads", bodies, warmup, key=key, options=options,
            concurrency=options.concurrency,
        )  # fmt: skip
    intake.name = "POST /api/v1/leads"
    return baseline, intake


def bulk_phases(env: dict, key: str, size: int, options) -> tuple[Phase, Phase]:
    payloads = leads_generate(seed=10 + size, count=options.bulk_leads)
    warmup = Bodies(batches(leads_generate(seed=20 + size, count=size * 4), size))
    with gunicorn("portal.wsgi:application", env, server=options.server) as url:
        bulk = measure(
            url, "/api/v1/leads/bulk", Bodies(batches(payloads, size)), warmup, key=key,
            options=options, concurrency=options.bulk_concurrency,
        )  # fmt: skip
    bulk.name = f"POST /api/v1/leads/bulk x{size}"
    baseline = executemany(env["DATABASE_URL"], payloads, size=size, seconds=options.duration)
    return bulk, baseline


def report(phases: list[Phase], ratios: list[tuple[str, float, float]], options) -> None:
    print(
        f"\nIntake benchmark: gunicorn {options.server} ({SERVERS[options.server]}), "
        f"{options.concurrency} connections (bulk {options.bulk_concurrency}), "
        f"{options.duration:g} s per phase, {os.cpu_count()} CPUs\n"
    )
    print(f"{'phase':34} {'rate':>16} {'p50 ms':>9} {'p99 ms':>9}  answers")
    for phase in phases:
        unit = "req/s" if phase.items == sum(phase.statuses.values()) else "leads/s"
        answers = ", ".join(
            f"{status}: {n}" for status, n in sorted(phase.statuses.items(), key=str)
        )
        note = " (ran out of payloads)" if phase.exhausted else ""
        print(
            f"{phase.name:34} {phase.rate():>10,.0f} {unit:<7}"
            f"{phase.percentile(0.5):>8.1f} {phase.percentile(0.99):>9.1f}  {answers}{note}"
        )
    print()
    for label, ratio, target in ratios:
        verdict = "met" if ratio >= target else "MISSED"
        print(f"{label:44} {ratio:6.1%}  (target >= {target:.0%}: {verdict})")
        figure_record(bench="intake", name=label, value=ratio, unit="ratio", target=target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15.0, help="Seconds per phase.")
    parser.add_argument("--warmup", type=float, default=2.0, help="Unrecorded seconds first.")
    parser.add_argument("--concurrency", type=int, default=8, help="Single-lead connections.")
    parser.add_argument("--bulk-concurrency", type=int, default=2, help="Bulk connections.")
    parser.add_argument("--bulk-leads", type=int, default=120_000, help="Leads per bulk size.")
    parser.add_argument("--sizes", default="500,1000", help="Bulk batch sizes.")
    parser.add_argument(
        "--server", choices=SERVERS, default="production", help="How gunicorn serves both."
    )
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    options = parser.parse_args()

    env = server_env()
    with scratch_database(DATABASE, keep=options.keep):
        key = _prepare(env)
        baseline, intake = single_phases(env, key, options)
        phases = [baseline, intake]
        ratios = [
            ("single lead: intake / bare view", intake.rate() / baseline.rate(), SINGLE_TARGET)
        ]
        for size in (int(s) for s in options.sizes.split(",")):
            bulk, reference = bulk_phases(env, key, size, options)
            phases += [bulk, reference]
            ratios.append(
                (f"bulk x{size}: intake / executemany", bulk.rate() / reference.rate(), BULK_TARGET)
            )
        report(phases, ratios, options)


if __name__ == "__main__":
    main()
