"""The application's CPU per lead of bulk intake, in-process (docs/benchmarks.md, Intake).

    .venv/bin/python bench/intake_cpu.py                      # 20 batches of 1,000
    .venv/bin/python bench/intake_cpu.py --batches 5 --size 500 --profile 25

It prepares its own database as bench/intake.py does (`lp_bench_intake_cpu`, a publisher
with four listings and a storefront key), then POSTs batches of new leads (the same
realistic payloads, 20 % returning visitors) to /api/v1/leads/bulk with Django's test
client, in this process, one after the other. It prints the process CPU time per lead
(this process only: PostgreSQL's own work is not in it), the wall time per batch, and
with --profile the top functions of cProfile by cumulative time. The first batch warms
up (imports, URLconf, caches) and is not counted. Drops the database unless --keep.
"""

import argparse
import cProfile
import json
import os
import pstats
import sys
import time

import django
import intake
from django.test import Client
from harness import ROOT, database_name, scratch_database

sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20, help="Measured batches.")
    parser.add_argument("--size", type=int, default=1000, help="Leads per batch.")
    parser.add_argument("--profile", type=int, default=0, help="Print the top N functions.")
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    options = parser.parse_args()

    intake.DATABASE = database_name("lp_bench_intake_cpu")
    env = intake.server_env()
    with scratch_database(intake.DATABASE, keep=options.keep):
        key = intake._prepare(env)
        os.environ.update(env)
        os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
        django.setup()  # its settings come from the environment set just above
        client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {key}")
        payloads = intake.leads_generate(seed=10, count=options.size * (options.batches + 1))
        bodies = [
            json.dumps(payloads[i : i + options.size]).encode()
            for i in range(0, len(payloads), options.size)
        ]

        def post(body: bytes) -> None:
            response = client.post("/api/v1/leads/bulk", body, content_type="application/json")
            answer = response.json()
            if response.status_code != 200 or answer["created"] != options.size:
                raise SystemExit(f"unexpected answer {response.status_code}: {answer}")

        post(bodies[0])
        profiler = cProfile.Profile() if options.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        for body in bodies[1:]:
            post(body)
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        leads = options.size * options.batches
        print(
            f"{options.batches} batches of {options.size}: {cpu * 1000 / leads:.3f} ms CPU a lead "
            f"({cpu:.2f} s), {wall * 1000 / options.batches:.0f} ms wall a batch, "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(options.profile)


if __name__ == "__main__":
    main()
