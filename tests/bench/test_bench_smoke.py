"""The benchmarks' smoke leg: every script in bench/ runs at a tiny size through
bench/run_all, reports its figures, and loses or doubles nothing, so that the scripts
cannot rot. Timings are never asserted (they say nothing at this size)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.no_sqlite, pytest.mark.timeout(900)]


def test_every_benchmark_runs_at_a_tiny_size_and_loses_nothing(tmp_path):
    # Given the smoke sizes of bench/run_all, on this machine's PostgreSQL
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VAR_DIR")}

    # When every benchmark runs
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_all.py"), "--size", "smoke",
         "--logs", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=880, check=False,
    )  # fmt: skip

    # Then each one ran, reported its figures, and none lost or doubled an effect
    figures = [json.loads(line) for line in (tmp_path / "figures.jsonl").read_text().splitlines()]
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert {f["bench"] for f in figures} == {
        "intake", "delivery", "nurture", "portal", "recovery", "retention", "memory"
    }  # fmt: skip
    assert [f for f in figures if f["lost"]] == []
    rates = [f for f in figures if f["bench"] not in ("recovery", "memory")]
    assert all(f["value"] > 0 for f in rates), figures
    legs = {f["name"].split(":")[0] for f in figures if f["bench"] == "memory"}
    assert legs == {"web", "worker"}, figures
    assert "benchmark" in done.stdout and "load average after" in done.stdout
