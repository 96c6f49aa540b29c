"""CPU per single lead of POST /api/v1/leads, in-process, and where it goes (cProfile).

    .venv/bin/python bench/intake_profile.py
    .venv/bin/python bench/intake_profile.py --leads 2000 --top 25

It prepares the database as bench/intake.py does (`lp_bench_intake` plus BENCH_DB_SUFFIX:
a publisher, four published listings, a storefront key), then posts realistic new leads
through Django's test client with the whole middleware stack, no HTTP: a warm-up, a timed
run (process CPU per lead, the database server's time not included), the statements of one
request, and a profiled run (CPU time) whose top functions it prints. It drops the
database at the end unless --keep is given.
"""

import argparse
import cProfile
import os
import pstats
import sys
import time

from harness import ROOT, scratch_database
from intake import DATABASE, _prepare, leads_generate, server_env, singles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1000, help="Leads per measured run.")
    parser.add_argument("--top", type=int, default=20, help="Functions to print.")
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    options = parser.parse_args()

    env = server_env()
    with scratch_database(DATABASE, keep=options.keep):
        key = _prepare(env)
        os.environ.update(env | {"DJANGO_SETTINGS_MODULE": "portal.settings"})
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.db import connection
        from django.test import Client

        client = Client(SERVER_NAME="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {key}")
        bodies = iter(singles(leads_generate(seed=3, count=3 * options.leads + 300)))

        def post() -> None:
            body, _items = next(bodies)
            response = client.post("/api/v1/leads", body, content_type="application/json")
            assert response.status_code == 201, response.content

        for _ in range(200):
            post()
        started = time.process_time()
        for _ in range(options.leads):
            post()
        cpu = (time.process_time() - started) / options.leads
        statements: list[str] = []

        def record(execute, sql, params, many, context):
            statements.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):
            post()
        profile = cProfile.Profile(time.process_time)  # CPU, not the wait for PostgreSQL
        profile.enable()
        for _ in range(options.leads):
            post()
        profile.disable()

        print(f"\nCPU per lead, in-process: {cpu * 1000:.2f} ms ({options.leads} leads)")
        print(f"Statements of one request: {len(statements)}")
        for statement in statements:
            print(f"  {' '.join(statement.split())[:110]}")
        stats = pstats.Stats(profile).sort_stats("tottime")
        stats.print_stats(options.top)
        stats.sort_stats("cumulative").print_stats(options.top)


if __name__ == "__main__":
    main()
