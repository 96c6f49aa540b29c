"""Run every benchmark at a reduced size and print one table of figures against the
targets in docs/benchmarks.md.

    bench/run_all                    # reduced sizes: under 10 minutes on 2 cores
    bench/run_all --size smoke       # tiny sizes: that each runs and loses nothing
    bench/run_all --only intake,nurture

Each script runs in a subprocess with BENCH_REPORT set; the scripts hand their figures
over through bench/harness.py's figure_record. The table says, for each figure, its
target and whether the run met it. Reduced and smoke sizes say little about the
full-size figures (short phases, small tables): use each script's own defaults for the
figures in docs/benchmarks.md. The exit status is non-zero when a script fails or when
any figure reports a lost or duplicate effect, at any size; a missed target is printed,
not an error.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

SIZES = {
    "reduced": {
        "intake": ["--duration", "8", "--warmup", "1", "--bulk-leads", "20000"],
        "delivery": ["--deliveries", "2000", "--rate", "100", "--duration", "20"],
        "nurture": ["--steps", "3000"],
        "portal": ["--leads", "60000", "--requests", "20"],
        "recovery": ["--kills", "2", "--rows", "100"],
        "retention": ["--leads", "3000"],
        "memory": ["--requests", "3000", "--deliveries", "3000", "--sample-every", "500"],
    },
    "smoke": {
        "intake": ["--duration", "1", "--warmup", "0.2", "--bulk-leads", "600", "--sizes", "500"],
        "delivery": ["--deliveries", "40", "--rate", "5", "--duration", "2", "--sweep", "1"],
        "nurture": ["--steps", "40"],
        "portal": ["--leads", "1500", "--requests", "2"],
        "recovery": ["--kills", "1", "--rows", "20", "--only", "SIGKILL", "--sweep", "1"],
        "retention": ["--leads", "120", "--batch-size", "50"],
        "memory": ["--requests", "100", "--deliveries", "100", "--sample-every", "25"],
    },
}


def template_create(name: str, logs: Path) -> None:
    """One migrated database that every script's scratch database is copied from."""
    sys.path.insert(0, str(BENCH))
    from harness import SERVER, database_create, manage

    database_create(name, force=True)
    env = os.environ | {
        "DEBUG": "0",
        "DEMO_ENABLED": "1",
        "SECRET_KEY": "bench-template-secret-key-not-for-production-0123456789",
        "FIELD_ENCRYPTION_KEYS": "YmVuY2gtZmllbGQta2V5LTAwMDAwMDAwMDAwMDAwMDA=",
        "DATABASE_URL": f"{SERVER}/{name}",
        "VAR_DIR": str(logs / "var"),
        "ALLOWED_HOSTS": "localhost",
    }
    manage("migrate", "--no-input", "-v", "0", env=env)


def template_drop(name: str) -> None:
    from harness import database_drop

    database_drop(name, force=True)


def run(name: str, args: list[str], *, report: Path, logs: Path, suffix: str) -> tuple[int, float]:
    """Run bench/NAME.py with `args`; its exit status and seconds. Output goes to a log."""
    env = os.environ | {
        "BENCH_REPORT": str(report),
        "BENCH_DB_SUFFIX": suffix,
        "BENCH_TEMPLATE_DB": f"lp_bench_template{suffix}",
    }
    log_path = logs / f"{name}.log"
    started = time.monotonic()
    with open(log_path, "wb") as log:
        done = subprocess.run(
            [sys.executable, str(BENCH / f"{name}.py"), *args],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    seconds = time.monotonic() - started
    if done.returncode:
        tail = log_path.read_text(errors="replace").splitlines()[-30:]
        print(f"{name} FAILED (exit {done.returncode}); the end of {log_path}:", flush=True)
        print("\n".join(f"    {line}" for line in tail), flush=True)
    return done.returncode, seconds


def verdict(figure: dict) -> str:
    if figure["target"] is None:
        return "(no target)"
    sign = ">=" if figure["higher_is_better"] else "<="
    target = figure["target"]
    goal = f"{target:.0%}" if figure["unit"] == "ratio" else f"{target:,.0f} {figure['unit']}"
    return f"{sign} {goal}: {'met' if figure['met'] else 'MISSED'}"


def shown(figure: dict) -> str:
    if figure["unit"] == "ratio":
        return f"{figure['value']:.1%}"
    return f"{figure['value']:,.1f} {figure['unit']}"


def table(figures: list[dict], runs: dict[str, tuple[int, float]]) -> None:
    print(f"\n{'benchmark':10} {'figure':52} {'measured':>20}  target")
    for figure in figures:
        print(
            f"{figure['bench']:10} {figure['name'][:52]:52} {shown(figure):>20}  {verdict(figure)}"
            + (f"  LOST {figure['lost']}" if figure["lost"] else "")
        )
    print()
    for name, (status, seconds) in runs.items():
        print(f"{name:10} {'ok' if status == 0 else f'FAILED ({status})':12} {seconds:7.1f} s")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="reduced")
    parser.add_argument("--only", help="Comma-separated benchmarks (default: all).")
    parser.add_argument("--logs", help="Directory for each benchmark's output (default: temp).")
    options = parser.parse_args()

    chosen = SIZES[options.size]
    names = options.only.split(",") if options.only else list(chosen)
    unknown = sorted(set(names) - set(chosen))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(chosen)}")
    logs = Path(options.logs or tempfile.mkdtemp(prefix="lp-bench-"))
    logs.mkdir(parents=True, exist_ok=True)
    report = logs / "figures.jsonl"
    report.unlink(missing_ok=True)
    suffix = f"_{options.size}_{os.getpid()}"
    print(
        f"bench/run_all --size {options.size}: {', '.join(names)}; {os.cpu_count()} CPUs, "
        f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; logs in {logs}",
        flush=True,
    )
    runs = {}
    template = f"lp_bench_template{suffix}"
    started = time.monotonic()
    template_create(template, logs)
    print(f"  migrated {template} in {time.monotonic() - started:.1f} s", flush=True)
    try:
        for name in names:
            print(f"  {name} {' '.join(chosen[name])} …", flush=True)
            runs[name] = run(name, chosen[name], report=report, logs=logs, suffix=suffix)
    finally:
        template_drop(template)
    lines = report.read_text().splitlines() if report.exists() else []
    figures = [json.loads(line) for line in lines]
    table(figures, runs)
    failed = [name for name, (status, _s) in runs.items() if status]
    lost = [f for f in figures if f["lost"]]
    silent = [name for name in names if name not in failed and not any(
        f["bench"] == name for f in figures
    )]  # fmt: skip
    if silent:
        print(f"no figure reported by: {', '.join(silent)}")
    return 1 if failed or lost or silent else 0


if __name__ == "__main__":
    sys.exit(main())
