"""Benchmark `manage.py seed_demo` on a fresh PostgreSQL database.

    .venv/bin/python bench/seed.py                  # 1,000,000 leads
    .venv/bin/python bench/seed.py --leads 100000   # a quicker run
    BENCH_PG=postgres://user@host:5432 .venv/bin/python bench/seed.py --keep

It creates the database `lp_bench_seed`, migrates it, times the seed alone, prints
leads/s and the database size, and drops the database again unless --keep is given.
Settings are production-like (DEBUG off), so nothing records queries in memory.
"""

import argparse
import os
import time

import psycopg
from cryptography.fernet import Fernet
from harness import SERVER, database_name, manage, scratch_database

DATABASE = database_name("lp_bench_seed")


def _database_size() -> str:
    with psycopg.connect(f"{SERVER}/{DATABASE}") as connection:
        row = connection.execute(
            "SELECT pg_size_pretty(pg_database_size(current_database()))"
        ).fetchone()
    return row[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    options = parser.parse_args()

    env = os.environ | {
        "DATABASE_URL": f"{SERVER}/{DATABASE}",
        "DEBUG": "0",
        "DEMO_ENABLED": "1",  # seed_demo lives in the demo app
        "SECRET_KEY": "bench-seed-secret-key-not-for-production-0123456789",
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    }
    with scratch_database(DATABASE, keep=options.keep):
        manage("migrate", "--no-input", "-v", "0", env=env)
        started = time.perf_counter()
        manage("seed_demo", "--leads", str(options.leads), env=env)
        elapsed = time.perf_counter() - started
        print(
            f"seed_demo --leads {options.leads:,}: {elapsed:.1f} s, "
            f"{options.leads / elapsed:,.0f} leads/s, database {_database_size()}"
        )


if __name__ == "__main__":
    main()
