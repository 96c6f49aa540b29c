"""Time the migrations: every one from zero on an empty database, then the latest of each
app again on a database seeded with N leads (docs/operations.md, "Upgrades").

    .venv/bin/python bench/migrations.py                      # 1,000,000 leads
    .venv/bin/python bench/migrations.py --leads 100000
    BENCH_PG=postgres://user@host:5432 .venv/bin/python bench/migrations.py --keep

It creates the database `lp_bench_migrations`, runs `migrate -v 2` (Django prints each
migration's time), seeds it with `seed_demo --leads N` (bench/seed.py's seeder), then for
the latest migration of each app migrates that app back one step and forward again,
timing the forward step at that size (the step back is printed too). It drops the
database at the end unless --keep.
"""

import argparse
import os
import re
import subprocess
import sys
import time

from cryptography.fernet import Fernet
from harness import ROOT, SERVER, database_create, database_drop

DATABASE = "lp_bench_migrations"
APPLIED = re.compile(r"(Applying|Unapplying) (\w+)\.(\w+)\.\.\. OK \(([\d.]+)s\)")
# The latest migration of each app, and the one before it ("zero": none).
LATEST = {
    "leads": ("0016_nurture_email_events", "0015"),
    "crm": ("0004_erasure_deliveries", "0003"),
    "inbound": ("0003_table_reader_lease", "0002"),
    "portal": ("0004_publisher_send_window", "0003"),
    "privacy": ("0001_access_log_and_erasure_journal", "zero"),
    "retention": ("0001_retention_runs", "zero"),
}


def _manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def _timings(output: str) -> list[tuple[str, str, float]]:
    return [(f"{app}.{name}", verb, float(t)) for verb, app, name, t in APPLIED.findall(output)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
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
    database_create(DATABASE, force=True)
    try:
        started = time.perf_counter()
        empty = _timings(_manage(env, "migrate", "--no-input", "-v", "2"))
        total = time.perf_counter() - started
        slowest = sorted(empty, key=lambda row: -row[2])[:5]
        print(f"migrate from zero, empty database: {len(empty)} migrations, {total:.1f} s")
        for name, _, seconds in slowest:
            print(f"  slowest: {name} {seconds:.3f} s")
        started = time.perf_counter()
        _manage(env, "seed_demo", "--leads", str(options.leads), "--quiet")
        print(f"seed_demo --leads {options.leads:,}: {time.perf_counter() - started:.0f} s")
        print(f"at {options.leads:,} leads (load average {os.getloadavg()[0]:.1f}):")
        for app, (latest, previous) in LATEST.items():
            back = _timings(_manage(env, "migrate", app, previous, "--no-input", "-v", "2"))
            forward = _timings(_manage(env, "migrate", app, latest, "--no-input", "-v", "2"))
            for name, verb, seconds in back + forward:
                print(f"  {verb:<11} {name:<45} {seconds:8.3f} s")
    finally:
        if not options.keep:
            database_drop(DATABASE, force=True)
        print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
