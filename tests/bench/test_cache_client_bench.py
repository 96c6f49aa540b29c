"""bench/cache_client.py runs at a tiny size and prints a figure for each backend."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.no_sqlite,
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis"),
]


def test_the_cache_client_benchmark_prints_both_backends():
    env = os.environ | {"BENCH_REDIS": settings.REDIS_URL}

    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "cache_client.py"), "--calls", "20", "--rounds", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-2000:]
    rows = re.findall(r"^(RedisCache|SharedClientRedisCache) +([\d.]+) us", done.stdout, re.M)
    assert [name for name, _cpu in rows] == ["RedisCache", "SharedClientRedisCache"]
    assert all(float(cpu) > 0 for _name, cpu in rows)
