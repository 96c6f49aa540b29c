"""The first run: no services, an embedded SQLite database under VAR_DIR, seeded demo data."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What a newcomer's shell does not have: the suite's services and production secrets.
UNSET = {
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "DEMO_PASSWORD",
}


def _manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.slow
def test_first_run_migrates_and_seeds_the_embedded_database(tmp_path):
    env = {name: value for name, value in os.environ.items() if name not in UNSET}
    env |= {"DEBUG": "1", "VAR_DIR": str(tmp_path)}

    migrate = _manage("migrate", "--no-input", env=env)
    seed = _manage("seed_demo", "--leads", "200", env=env)

    assert migrate.returncode == 0, migrate.stderr
    assert seed.returncode == 0, seed.stderr
    database = tmp_path / "leadportal.sqlite3"
    assert database.is_file()
    with sqlite3.connect(database) as connection:
        (leads,) = connection.execute("SELECT COUNT(*) FROM leads_lead").fetchone()
    assert leads == 200
    assert "staff / demo-staff-2026" in seed.stdout
    assert "owner / demo-owner-2026" in seed.stdout
