"""Memory over a long run: the web process over N intake requests, the Celery worker over
N deliveries (docs/benchmarks.md, Memory).

    .venv/bin/python bench/memory.py                          # 100,000 of each
    .venv/bin/python bench/memory.py --only web --requests 20000 --sample-every 2000
    .venv/bin/python bench/memory.py --requests 400 --deliveries 400 --sample-every 100

Everything runs on loopback, with a private Redis on a free port and the receiver of
bench/delivery_receiver.py (the HTTPS-endpoint contract: it answers 200 at once).
  1. web: gunicorn serves portal.wsgi as bench/intake.py runs it (DEBUG=0, 2 gthread
     workers x 4 threads), with `--max-requests 0`, so that no worker is recycled and a
     leak would show. N new leads (realistic payloads, as bench/intake.py makes them) are
     posted to POST /api/v1/leads from 8 keep-alive connections, in the scratch database
     `lp_bench_memory_web`.
  2. worker: N outbox rows (bench/delivery_setup.py's outbox_fill) for one HTTPS target
     pointing at the receiver, in `lp_bench_memory_worker`; then one `celery -A portal
     worker -c 2` (as bench/delivery.py starts it, with WORKER_MAX_TASKS_PER_CHILD=0
     so that no pool process is replaced) delivers them.
The resident set (VmRSS in /proc) of each gunicorn worker, and of the Celery worker and
each of its pool processes, is sampled at the start and every --sample-every requests or
deliveries. The verdict is the growth from the sample at a tenth of the run (the
10,000th of 100,000: imports, pools and caches are warm by then) to the last one.
"""

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import delivery_setup
import intake
from harness import ROOT, database_name, figure_record, scratch_database

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GROWTH_TARGET = 5.0  # per cent, from a tenth of the run to its end: "flat"
WEB_DATABASE = database_name("lp_bench_memory_web")
WORKER_DATABASE = database_name("lp_bench_memory_worker")
CONCURRENCY = 8


# --- Resident sets ----------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`, in pid order."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            found.append(int(entry.name))
    return sorted(found)


def rss_mib(pid: int) -> float:
    """The resident set of `pid` in MiB (VmRSS), or 0 when it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class Samples:
    """RSS samples of a fixed set of processes: (count done, [MiB per process])."""

    title: str
    unit: str
    labels: list[str]
    pids: list[int]
    rows: list[tuple[int, list[float]]] = field(default_factory=list)

    def take(self, done: int) -> None:
        values = [rss_mib(pid) for pid in self.pids]
        self.rows.append((done, values))
        shown = " / ".join(f"{value:.1f}" for value in values)
        print(f"  {done:>9,} {self.unit}: {shown} MiB; load {os.getloadavg()[0]:.2f}", flush=True)

    def warm(self, total: int) -> tuple[int, list[float]]:
        """The first sample at or after a tenth of the run."""
        return next((row for row in self.rows if row[0] >= total / 10), self.rows[-1])

    def report(self, total: int, *, bench_name: str, lost: int) -> None:
        print(f"\n{self.title}")
        print(f"{self.unit:>12} " + " ".join(f"{label:>14}" for label in self.labels))
        for done, values in self.rows:
            print(f"{done:>12,} " + " ".join(f"{value:>10.1f} MiB" for value in values))
        (warm_done, warm), (last_done, last) = self.warm(total), self.rows[-1]
        print(f"Growth from {warm_done:,} to {last_done:,} {self.unit}:")
        worst = 0.0
        for label, before, after in zip(self.labels, warm, last, strict=True):
            share = (after - before) / before * 100 if before else 0.0
            worst = max(worst, share)
            print(f"  {label:14} {after - before:+8.1f} MiB  {share:+6.1f} %")
        verdict = "flat" if worst <= GROWTH_TARGET else "GROWS"
        print(f"Verdict: {verdict} (largest growth {worst:+.1f} %, target <= {GROWTH_TARGET:g} %)")
        figure_record(
            bench="memory", name=f"{bench_name}: RSS growth over the last 90 % of {self.unit}",
            value=worst, unit="%", target=GROWTH_TARGET, higher_is_better=False, lost=lost,
        )  # fmt: skip


# --- The legs -----------------------------------------------------------------------------


class SampledBodies(intake.Bodies):
    """Bodies handed out once each; every `every` bodies it samples the gunicorn workers'
    RSS first, so a row counts the requests started before it."""

    def __init__(self, bodies, *, samples: Samples, every: int) -> None:
        super().__init__(bodies)
        self.samples, self.every = samples, every

    def take(self):
        with self.lock:
            if self.next_index >= len(self.bodies):
                return None
            if self.next_index and self.next_index % self.every == 0:
                self.samples.take(self.next_index)
            body = self.bodies[self.next_index]
            self.next_index += 1
            return body


def gunicorn_workers(timeout: float = 30.0) -> list[int]:
    """This process's gunicorn master's workers, once both have started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        masters = [
            pid for pid in children(os.getpid())
            if b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]  # fmt: skip
        workers = children(masters[0]) if masters else []
        if len(workers) == intake.WORKERS:
            return workers
        time.sleep(0.1)
    raise RuntimeError("gunicorn's workers did not start")


def web_leg(options, redis_url: str) -> None:
    intake.DATABASE = WEB_DATABASE  # intake's set-up and server_env read it
    env = intake.server_env() | {
        "CELERY_BROKER_URL": f"{redis_url}/0",
        "REDIS_URL": f"{redis_url}/1",
    }
    with scratch_database(WEB_DATABASE, keep=options.keep):
        print(f"web: preparing {WEB_DATABASE} and {options.requests:,} payloads …", flush=True)
        key = intake._prepare(env)
        payloads = intake.singles(intake.leads_generate(seed=3, count=options.requests))
        extra = ("--max-requests", "0")
        with intake.gunicorn("portal.wsgi:application", env, extra=extra) as url:
            pids = gunicorn_workers()
            samples = Samples(
                f"Web: gunicorn {intake.WORKERS} gthread workers x {intake.THREADS} threads, "
                f"--max-requests 0, {CONCURRENCY} connections, POST /api/v1/leads",
                "requests", [f"worker {n + 1}" for n in range(len(pids))], pids,
            )  # fmt: skip
            samples.take(0)
            bodies = SampledBodies(payloads, samples=samples, every=options.sample_every)
            started = time.monotonic()
            phase = intake.load(
                url, "/api/v1/leads", bodies, key=key, concurrency=CONCURRENCY, seconds=1e9
            )
            samples.take(options.requests)  # every answer read
            elapsed = time.monotonic() - started
        answers = ", ".join(f"{s}: {n:,}" for s, n in sorted(phase.statuses.items(), key=str))
        print(f"web: {options.requests:,} requests in {elapsed:,.0f} s; answers {answers}")
        print(f"web: load average after {os.getloadavg()}")
        lost = options.requests - phase.statuses[201]
        samples.report(options.requests, bench_name="web", lost=lost)


def worker_leg(options, stage: delivery_setup.Stage) -> None:
    processes, receiver = stage.processes, stage.receiver
    delivery_setup.DATABASE = WORKER_DATABASE  # delivery_setup's database functions read it
    env = delivery_setup.bench_env(stage, sweep=60.0)
    # No pool process is replaced during the run (as gunicorn's --max-requests 0): a leak shows.
    env["WORKER_MAX_TASKS_PER_CHILD"] = "0"
    print(f"worker: preparing {WORKER_DATABASE} (migrate) …", flush=True)
    market = delivery_setup.marketplace_prepare(stage, env)
    from crm import services

    print(f"worker: writing {options.deliveries:,} outbox rows …", flush=True)
    delivery_setup.outbox_fill(market, options.deliveries)
    receiver.reset()
    services.deliveries_wake(target_ids={market.target_id})
    worker = processes.worker("memory-worker", "portal", env=env)
    deadline = time.monotonic() + 60
    while len(children(worker.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    pids = [worker.pid, *children(worker.pid)]
    samples = Samples(
        "Worker: celery -A portal worker -c 2 (prefork), one HTTPS target of batch size 1",
        "deliveries", ["main", *(f"pool {n}" for n in range(1, len(pids)))], pids,
    )  # fmt: skip
    samples.take(0)
    started, next_mark = time.monotonic(), options.sample_every
    seen, deadline = 0, started + options.drain_timeout
    while seen < options.deliveries and time.monotonic() < deadline:
        if worker.poll() is not None:
            print(f"worker: exited with {worker.returncode}; see its log", flush=True)
            break
        time.sleep(0.05)
        seen = receiver.count()
        if seen >= next_mark:
            samples.take(seen)
            next_mark = (seen // options.sample_every + 1) * options.sample_every
    if samples.rows[-1][0] != seen:
        samples.take(seen)
    elapsed = time.monotonic() - started
    processes.stop(worker)
    statuses = delivery_setup.delivery_statuses([market.target_id])
    print(f"worker: {seen:,} POSTs received in {elapsed:,.0f} s; outbox {dict(statuses)}")
    print(f"worker: load average after {os.getloadavg()}")
    samples.report(options.deliveries, bench_name="worker", lost=abs(options.deliveries - seen))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000, help="Intake requests.")
    parser.add_argument("--deliveries", type=int, default=100_000, help="Deliveries.")
    parser.add_argument("--sample-every", type=int, default=5_000, help="Requests a sample.")
    parser.add_argument("--only", choices=("web", "worker"), help="One leg (default: both).")
    parser.add_argument("--drain-timeout", type=float, default=7200.0, help="Max wait (s).")
    parser.add_argument("--keep", action="store_true", help="Keep the databases afterwards.")
    options = parser.parse_args()

    sys.stdout.reconfigure(line_buffering=True)
    print(f"Memory benchmark, {os.cpu_count()} CPUs, load average {os.getloadavg()}", flush=True)
    drop = not options.keep and options.only != "web"
    with delivery_setup.stage_running("memory", drop=drop) as stage:
        if options.only != "worker":
            web_leg(options, f"redis://127.0.0.1:{stage.redis_port}")
        if options.only != "web":
            worker_leg(options, stage)


if __name__ == "__main__":
    main()
