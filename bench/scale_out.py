"""Benchmark the scale-out: two web processes, three workers, one beat, at a large size.

    .venv/bin/python bench/scale_out.py                       # 3,000 leads, 100/s limit
    .venv/bin/python bench/scale_out.py --leads 10000 --rate-limit 200 --concurrency 2
    BENCH_PG=postgres://user@host:5432 .venv/bin/python bench/scale_out.py --keep

The same run as tests/chaos/test_scale_out.py (tests/chaos/scale_out.py): gunicorn twice
with deploy/gunicorn.conf.py on two loopback ports, three Celery workers with distinct
hostnames and queue sets (all three take `delivery`), one beat, one PostgreSQL database
(the scratch `lp_bench_scale_out`, created, migrated, dropped unless --keep) and one
Redis of its own. Leads are posted to both web processes (the first in bulk calls of 50,
then one by one, one in ten posted twice) while the delivery-only worker is SIGKILLed and
started again. It prints the figures and exits non-zero if a lead was lost or delivered
twice, or the rate limit was broken (docs/benchmarks.md, "Scale-out").
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet
from harness import ROOT, SERVER, manage, scratch_database

DATABASE = "lp_bench_scale_out"
ARRIVAL_SLACK_SECONDS = 0.5  # as in tests/chaos/test_scale_out.py


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=3000)
    parser.add_argument("--rate-limit", type=int, default=100, help="the target's requests/s")
    parser.add_argument("--bulk-calls", type=int, default=20, help="bulk calls of 50 first")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers per web")
    parser.add_argument("--concurrency", type=int, default=1, help="processes per worker")
    parser.add_argument("--clients", type=int, default=8, help="posting threads")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    options = parser.parse_args()
    # The run starts its own Redis and gives it to every process it starts; this process
    # only writes the set-up rows.
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DATABASE_URL": f"{SERVER}/{DATABASE}",
            "CELERY_BROKER_URL": "memory://",
            "REDIS_URL": "",
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "LOG_LEVEL": "WARNING",
        }
    )
    sys.path.insert(0, str(ROOT))
    import tests.testenv  # noqa: F401  (the rest of the test settings)

    with scratch_database(DATABASE, keep=options.keep):
        manage("migrate", "--no-input", "-v", "0", env=dict(os.environ))
        return _run(options)


def _run(options) -> int:
    import django  # after the environment is set

    django.setup()
    from tests.chaos import scale_out

    # Every option but --keep is a field of the run's Size.
    fields = {name: value for name, value in vars(options).items() if name != "keep"}
    size = scale_out.Size(**fields)
    load_before = os.getloadavg()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lp-scale-out-") as workdir:
        result = scale_out.run(Path(workdir), size, converge_seconds=600)
    elapsed = time.monotonic() - started
    load_after = os.getloadavg()
    print(f"scale-out: {size}")
    for line in result.lines(size):
        print(f"  {line}")
    print(
        f"  whole run {elapsed:.0f} s; load average before {load_before[0]:.1f}, "
        f"after {load_after[0]:.1f} (1 min), {load_after[1]:.1f} (5 min)"
    )
    failures = []
    if result.lost or result.duplicate_effects or result.bad_answers:
        failures.append("leads lost, doubled or refused at intake")
    if result.bucket_excess > size.rate_limit * ARRIVAL_SLACK_SECONDS:
        failures.append("the rate limit was exceeded")
    if result.sweeps_sent > result.sweeps_allowed:
        failures.append("more sweeps than one beat sends")
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
