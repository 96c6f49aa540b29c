"""What the bench scripts share: the scratch database on BENCH_PG, loopback ports, manage.py."""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432").rstrip("/")


def database_name(base: str) -> str:
    """A scratch database's name: `base`, plus BENCH_DB_SUFFIX when set (the smoke leg in
    make test sets it, so that it never meets a developer's run)."""
    return base + os.environ.get("BENCH_DB_SUFFIX", "")


def figure_record(
    *,
    bench: str,
    name: str,
    value: float,
    unit: str,
    target: float | None = None,
    higher_is_better: bool = True,
    lost: int = 0,
) -> None:
    """Hand one figure to bench/run_all: a JSON line appended to BENCH_REPORT when it is
    set. `target` is the documented target in the same unit; `lost` counts what went missing
    (lost or duplicate effects), which must be 0 at any size."""
    path = os.environ.get("BENCH_REPORT")
    if not path:
        return
    met = None
    if target is not None:
        met = value >= target if higher_is_better else value <= target
    line = {
        "bench": bench, "name": name, "value": value, "unit": unit, "target": target,
        "higher_is_better": higher_is_better, "met": met, "lost": lost,
    }  # fmt: skip
    with open(path, "a", encoding="utf-8") as report:
        report.write(json.dumps(line) + "\n")


def server_execute(statement: sql.Composable) -> None:
    """Run one statement on the server's maintenance database, outside a transaction."""
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        connection.execute(statement)


def database_drop(name: str, *, force: bool = False) -> None:
    """Drop the database `name` if it exists; `force` ends the sessions still on it."""
    statement = "DROP DATABASE IF EXISTS {} WITH (FORCE)" if force else "DROP DATABASE IF EXISTS {}"
    server_execute(sql.SQL(statement).format(sql.Identifier(name)))


def database_create(name: str, *, force: bool = False) -> None:
    """Create the database `name`, dropping any earlier one first: empty, or a copy of
    BENCH_TEMPLATE_DB when it is set (bench/run_all migrates one database once, so that
    each script's own `migrate` finds nothing left to do)."""
    database_drop(name, force=force)
    template = os.environ.get("BENCH_TEMPLATE_DB")
    if template:
        statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)
        )
    else:
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    server_execute(statement)


@contextmanager
def scratch_database(name: str, *, keep: bool, create: bool = True) -> Iterator[None]:
    """The database `name` for the block: created afresh unless not `create` (a kept one
    measured again), dropped at its end unless `keep` (with FORCE: a connection pool may
    still hold sessions)."""
    if create:
        database_create(name, force=True)
    try:
        yield
    finally:
        if not keep:
            database_drop(name, force=True)


def manage(*args: str, env: dict) -> None:
    """Run `manage.py` with `args` in a subprocess with the environment `env`."""
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def manage_output(env: dict, *args: str, code: str | None = None) -> str:
    """Run `manage.py` with `args` (and `-c code`) in a subprocess; its standard output.
    Raises RuntimeError with the end of its standard error when it fails."""
    command = [sys.executable, "manage.py", *args]
    if code is not None:
        command += ["-c", code]
    done = subprocess.run(command, cwd=ROOT, env=env, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def free_port() -> int:
    """A TCP port free on loopback just now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(
    port: int, process: subprocess.Popen, name: str, *, seconds: float = 30, log=None
) -> None:
    """Wait until `process` listens on `port`; raise if it exits first (quoting `log`) or
    does not listen within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            if log is None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see its log")
            log.seek(0)
            raise RuntimeError(f"{name} exited:\n{log.read().decode(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen on port {port} within {seconds:g} s")
