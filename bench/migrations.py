"""Time the migrations: every one from zero on an empty database, then those of this
release again on a database seeded with N leads (docs/operations.md, "Upgrades").

    .venv/bin/python bench/migrations.py                      # 1,000,000 leads
    .venv/bin/python bench/migrations.py --leads 100000
    .venv/bin/python bench/migrations.py --from lp_bench_portal   # a copy of a seeded database
    BENCH_PG=postgres://user@host:5432 .venv/bin/python bench/migrations.py --keep

It creates the database `lp_bench_migrations`, runs `migrate -v 2` (Django prints each
migration's time) and seeds it with `seed_demo --leads N` (bench/seed.py's seeder); with
--from it copies that database instead (CREATE DATABASE … TEMPLATE, so the source must
have no open session), which is how the portal benchmark's 1.66M-lead database is reused.
Then it migrates each app back to where the last release left it (RELEASED) and forward
to its newest migration, timing every forward step at that size (the steps back are
printed too). It drops the database at the end unless --keep.
"""

import argparse
import os
import re
import time

import psycopg
from cryptography.fernet import Fernet
from harness import SERVER, database_create, database_drop, manage_output, server_execute
from psycopg import sql

DATABASE = "lp_bench_migrations"
APPLIED = re.compile(r"(Applying|Unapplying) (\w+)\.(\w+)\.\.\. OK \(([\d.]+)s\)")
# Where the last release left each app: everything after it is this release's and is
# timed forward at size. "zero": the app is new in this release.
RELEASED = {
    "leads": "0016_nurture_email_events",
    "crm": "0003_referral_connection",
    "inbound": "0002_one_webhook_per_listing",
    "portal": "0003_publisher_nurture_daily_cap",
    "privacy": "zero",
    "retention": "zero",
    "sso": "zero",
}


def _migrate(env: dict, *args: str) -> list[tuple[str, str, float]]:
    """`migrate -v 2` with `args`: each migration's name, verb and seconds, as Django prints."""
    output = manage_output(env, "migrate", *args, "-v", "2")
    return [(f"{app}.{name}", verb, float(t)) for verb, app, name, t in APPLIED.findall(output)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    parser.add_argument("--from", dest="source", help="Copy this seeded database instead.")
    options = parser.parse_args()
    env = os.environ | {
        "DATABASE_URL": f"{SERVER}/{DATABASE}",
        "DEBUG": "0",
        "DEMO_ENABLED": "1",
        "SECRET_KEY": "bench-migrations-secret-key-not-for-production-0123456789",
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "LOG_LEVEL": "WARNING",
    }
    print(f"load average at the start: {os.getloadavg()}")
    if options.source:
        _copy(options.source)
    else:
        _fresh(env, leads=options.leads)
    try:
        print(f"at {_size(env)} (load average {os.getloadavg()[0]:.1f}):")
        for app, released in RELEASED.items():
            for name, verb, seconds in _migrate(env, app, released):
                print(f"  {verb:<11} {name:<45} {seconds:8.3f} s")
        started = time.perf_counter()
        forward = _migrate(env, "--no-input")
        for name, verb, seconds in forward:
            print(f"  {verb:<11} {name:<45} {seconds:8.3f} s")
        elapsed = time.perf_counter() - started
        print(f"this release forward: {len(forward)} migrations, {elapsed:.0f} s")
    finally:
        if not options.keep:
            database_drop(DATABASE, force=True)
        print(f"load average at the end: {os.getloadavg()}")


def _copy(source: str) -> None:
    started = time.perf_counter()
    database_drop(DATABASE, force=True)
    server_execute(
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(DATABASE), sql.Identifier(source)
        )
    )
    print(f"copied {source}: {time.perf_counter() - started:.0f} s")


def _fresh(env: dict, *, leads: int) -> None:
    database_create(DATABASE, force=True)
    started = time.perf_counter()
    empty = _migrate(env, "--no-input")
    total = time.perf_counter() - started
    print(f"migrate from zero, empty database: {len(empty)} migrations, {total:.1f} s")
    for name, _, seconds in sorted(empty, key=lambda row: -row[2])[:5]:
        print(f"  slowest: {name} {seconds:.3f} s")
    started = time.perf_counter()
    manage_output(env, "seed_demo", "--leads", str(leads), "--quiet")
    print(f"seed_demo --leads {leads:,}: {time.perf_counter() - started:.0f} s")


def _size(env: dict) -> str:
    """The seeded size, read from the database: leads, activities, deliveries."""
    with psycopg.connect(env["DATABASE_URL"]) as connection:
        leads, activities, deliveries = connection.execute(
            "SELECT (SELECT count(*) FROM leads_lead), (SELECT count(*) FROM leads_leadactivity),"
            " (SELECT count(*) FROM crm_delivery)"
        ).fetchone()
    return f"{leads:,} leads, {activities:,} activities, {deliveries:,} deliveries"


if __name__ == "__main__":
    main()
