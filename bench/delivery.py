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
import os
import sys

from delivery_phases import (
    P99_TARGET_MS,
    Drain,
    Latency,
    baseline_throughput,
    end_to_end,
    engine_throughput,
    percentile,
    profile_drain,
)
from delivery_setup import DATABASE, bench_env, marketplace_prepare, stage_running
from harness import ROOT, figure_record

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

THROUGHPUT_TARGET = 1.0  # past the bare Celery task (docs/benchmarks.md)


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
        lost = abs(options.deliveries - engine.received)
        figure_record(
            bench="delivery", name="delivery: engine / bare Celery task", value=ratio,
            unit="ratio", target=THROUGHPUT_TARGET, lost=lost,
        )  # fmt: skip
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
        figure_record(
            bench="delivery", name=f"end to end at {options.rate:g} leads/s: p99 201 -> receipt",
            value=p99, unit="ms", target=P99_TARGET_MS, higher_is_better=False,
            lost=latency.missing + latency.duplicates,
        )  # fmt: skip


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

    loads = [("start", os.getloadavg())]
    engine = base = latency = None
    with stage_running("delivery", drop=not options.keep) as stage:
        processes, receiver = stage.processes, stage.receiver
        env = bench_env(stage, sweep=options.sweep)
        print(f"Preparing {DATABASE} (migrate) …", flush=True)
        market = marketplace_prepare(stage, env, batch_size=options.batch_size)

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
