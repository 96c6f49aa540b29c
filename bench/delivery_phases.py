"""The delivery benchmark's phases: throughput against the baseline, end-to-end latency,
and an optional profile of one drain.

Django is imported inside the functions: the module loads before django.setup().
"""

import json
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from random import Random

import httpx
from delivery_baseline import baseline
from delivery_setup import (
    OFFER_ID,
    OFFER_NAME,
    STOREFRONT,
    Processes,
    Receiver,
    delivery_statuses,
    outbox_fill,
)
from harness import BENCH, ROOT, free_port, wait_for_port

P99_TARGET_MS = 1000.0
GUNICORN_WORKERS, GUNICORN_THREADS, CLIENT_THREADS = 2, 4, 32


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
        lambda: processes.worker(
            "baseline-worker", "delivery_baseline:baseline", env=bare_env, cwd=BENCH
        ),
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
