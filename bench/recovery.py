"""Benchmark crash recovery: how soon the rows a stopped worker held are delivered.

    .venv/bin/python bench/recovery.py
    .venv/bin/python bench/recovery.py --kills 10 --rows 150 --delay 0.1
    BENCH_PG=postgres://user@host:5432 .venv/bin/python bench/recovery.py --keep

The stage is bench/delivery.py's (a private Redis, the scratch database
`lp_bench_delivery`, one HTTPS target at bench/delivery_receiver.py), with the default
settings (CRM_LEASE_SECONDS 15, the sweep every 5 s), and a receiver that answers each
POST after --delay seconds, a slow CRM, so that a worker certainly holds claimed rows
when it is stopped. Beat runs throughout. Each round:
  1. --rows outbox rows are written and the target is woken;
  2. as soon as the worker (`-c 2`) holds claimed rows (`sending`), it is stopped:
     SIGKILL to its whole process group (a crash, an OOM kill), or, for the graceful
     rounds, a new worker is started and, once it is ready, the old one's main process
     gets SIGTERM (a rolling deploy);
  3. for SIGKILL a new worker is started at once;
  4. the recovery time is the time from the stop to the delivery (delivered_at) of the
     last row the stopped worker held. The round ends when every row is delivered.
Targets (docs/benchmarks.md): every held row delivered within 30 s of a SIGKILL, and within 5 s of
a graceful restart.
"""

import argparse
import os
import signal
import sys
import time
from datetime import datetime

import delivery_setup
from delivery_phases import percentile
from delivery_setup import Processes, bench_env, marketplace_prepare, outbox_fill, stage_running
from harness import ROOT, database_name, figure_record

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGETS = {"SIGKILL": 30.0, "SIGTERM": 5.0}
# A scratch database of its own, so that it never meets bench/delivery.py's.
delivery_setup.DATABASE = DATABASE = database_name("lp_bench_recovery")


class Rounds:
    """The worker under test, stopped round after round."""

    def __init__(self, processes: Processes, env: dict, market) -> None:
        self.processes, self.env, self.market = processes, env, market
        self.worker = self._start()
        self.round = 0

    def _start(self, *, ready: bool = False):
        name = f"worker{time.monotonic_ns()}"
        worker = self.processes.worker(name, "portal", env=self.env)
        log, deadline = self.processes.workdir / f"{name}.log", time.monotonic() + 120
        while ready and b" ready." not in log.read_bytes():  # Celery's "celery@… ready."
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(f"the new worker did not start; see {log}")
            time.sleep(0.1)
        return worker

    def run(self, how: str, rows: int) -> tuple[int, float]:
        """One round: (rows held at the stop, seconds to deliver the last of them)."""
        from crm import services
        from crm.models import Delivery

        self.round += 1
        outbox_fill(self.market, rows, prefix=f"r{self.round}-")
        services.deliveries_wake(target_ids={self.market.target_id})
        deadline = time.monotonic() + 60
        while not Delivery.objects.filter(status="sending").exists():
            if time.monotonic() > deadline:
                raise RuntimeError("the worker never claimed a row; see its log")
            time.sleep(0.02)
        time.sleep(0.2)  # a call is in flight
        held, stopped_at = self._stop(how)
        while Delivery.objects.exclude(status="delivered").exists():
            time.sleep(0.1)
        if not held:
            return 0, 0.0
        times = Delivery.objects.filter(pk__in=held).values_list("delivered_at", flat=True)
        after = sorted(round((t - stopped_at).total_seconds(), 2) for t in times)
        print(f"    held rows delivered at (s after the stop): {after}", flush=True)
        return len(held), after[-1]

    def _stop(self, how: str) -> tuple[list[int], datetime]:
        from django.utils import timezone

        from crm.models import Delivery

        old = self.worker
        if how == "SIGKILL":
            os.killpg(old.pid, signal.SIGKILL)
            stopped_at = timezone.now()
            old.wait(timeout=10)
            held = list(Delivery.objects.filter(status="sending").values_list("pk", flat=True))
            self.worker = self._start()
        else:
            # A rolling deploy: the new worker is up before the old one gets SIGTERM.
            self.worker = self._start(ready=True)
            held = list(Delivery.objects.filter(status="sending").values_list("pk", flat=True))
            old.send_signal(signal.SIGTERM)
            stopped_at = timezone.now()
            old.wait(timeout=60)
        self.processes.running = [(n, p) for n, p in self.processes.running if p is not old]
        return held, stopped_at


def report(results: dict[str, list[tuple[int, float]]]) -> None:
    print(f"\nRecovery benchmark, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print(f"{'stop':10} {'rounds':>6} {'held':>6} {'p50':>8} {'p99':>8} {'max':>8}  target")
    for how, rounds in results.items():
        seconds = [s for held, s in rounds if held]
        worst = max(seconds, default=float("nan"))
        verdict = "met" if worst <= TARGETS[how] else "MISSED"
        print(
            f"{how:10} {len(rounds):>6} {sum(h for h, _ in rounds):>6} "
            f"{percentile(seconds, 0.5):>7.1f}s {percentile(seconds, 0.99):>7.1f}s "
            f"{worst:>7.1f}s  <= {TARGETS[how]:g} s: {verdict}"
        )
        figure_record(
            bench="recovery", name=f"recovery after {how}: worst", value=worst, unit="s",
            target=TARGETS[how], higher_is_better=False,
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10, help="Rounds per kind of stop.")
    parser.add_argument("--rows", type=int, default=150, help="Outbox rows per round.")
    parser.add_argument("--delay", type=float, default=0.1, help="Receiver answer delay (s).")
    parser.add_argument("--sweep", type=float, default=5.0, help="Beat sweep period (s).")
    parser.add_argument("--only", choices=sorted(TARGETS), help="One kind of stop only.")
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    options = parser.parse_args()

    with stage_running("recovery", drop=not options.keep, delay=options.delay) as stage:
        env = bench_env(stage, sweep=options.sweep) | {"LOG_LEVEL": "WARNING"}
        print(f"Preparing {DATABASE} (migrate) …", flush=True)
        market = marketplace_prepare(stage, env)
        stage.processes.celery("beat", "portal", "beat", "-s", str(stage.workdir / "beat"), env=env)
        rounds = Rounds(stage.processes, env, market)
        results: dict[str, list[tuple[int, float]]] = {}
        for how in [options.only] if options.only else ["SIGKILL", "SIGTERM"]:
            results[how] = []
            for n in range(options.kills):
                held, seconds = rounds.run(how, options.rows)
                results[how].append((held, seconds))
                line = f"  {how} {n + 1}: {held} rows held, recovered in {seconds:.1f} s"
                print(line, flush=True)
        report(results)


if __name__ == "__main__":
    main()
