"""The restore drill's tools: pg_dump, createdb, pg_restore on 127.0.0.1, and a scan of
the test Redis databases."""

import os
import subprocess
import sys
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection

PG = ["-h", "127.0.0.1", "-U", "postgres"]
BASE_DIR = Path(__file__).resolve().parents[2]


def database_name() -> str:
    return connection.settings_dict["NAME"]


def dump_data(name: str) -> str:
    """`pg_dump --data-only` of a database, as text."""
    return subprocess.run(
        ["pg_dump", *PG, "--data-only", name], check=True, capture_output=True, text=True
    ).stdout


def dump_custom(name: str, path: Path) -> None:
    subprocess.run(["pg_dump", *PG, "-Fc", "-f", str(path), name], check=True)


def restore_into_scratch(dump: Path, scratch: str) -> None:
    subprocess.run(["dropdb", *PG, "--if-exists", scratch], check=True)
    subprocess.run(["createdb", *PG, scratch], check=True)
    subprocess.run(["pg_restore", *PG, "-d", scratch, str(dump)], check=True)


def drop(scratch: str) -> None:
    subprocess.run(["dropdb", *PG, "--if-exists", scratch], check=True)


def manage(*args: str, database: str) -> subprocess.CompletedProcess:
    """Run manage.py against another database, with the test's keys."""
    env = os.environ | {"DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def redis_holding(marker: str) -> list[str]:
    """Keys of the test's Redis databases (cache and broker) whose name or value holds
    the marker."""
    needle = marker.lower().encode()
    found = []
    for url in {settings.REDIS_URL, settings.CELERY_BROKER_URL}:
        if not url.startswith("redis://"):
            continue
        client = redis.Redis.from_url(url)
        for key in client.scan_iter(count=1000):
            if needle in key.lower() or needle in _value(client, key).lower():
                found.append(f"{url} {key!r}")
    return found


def _value(client, key) -> bytes:
    kind = client.type(key)
    if kind == b"string":
        return client.get(key) or b""
    if kind == b"list":
        return b"".join(client.lrange(key, 0, -1))
    if kind == b"hash":
        return b"".join(k + v for k, v in client.hgetall(key).items())
    if kind == b"set":
        return b"".join(client.smembers(key))
    if kind == b"zset":
        return b"".join(client.zrange(key, 0, -1))
    return b""
