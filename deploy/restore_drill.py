"""Backups and the restore drill (docs/operations.md, "Backups and a restore drill").

    python deploy/restore_drill.py backup --out /backups
    python deploy/restore_drill.py drill --dump /backups/leadportal-20261205T031500Z.dump \\
        --scratch-url postgres://leadportal@db.internal:5432/leadportal_drill

`backup` runs `pg_dump --format=custom` of DATABASE_URL and, in the same snapshot, writes
a manifest beside the dump: every table's row count and a checksum of its rows. `drill`
creates the scratch database (it must not exist), restores the dump into it with
`pg_restore`, checks every table against the manifest (nothing lost, nothing changed),
then runs `manage.py replay_erasures` on it, so that no person erased after the backup
comes back, and checks that every lead the erasure journal names is erased. It drops the
scratch database at the end unless --keep. It exits non-zero, saying why, on any
difference. Run both with the production environment (the virtualenv's python, the env
file): the replay needs the same keys as production (SECRET_KEY or SUPPRESSION_HASH_KEY).

A real restore is the same `pg_restore` into the production database's place, then
`replay_erasures`; the drill proves beforehand that the backup and the journal allow it.
"""

import argparse
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
ERASED_DOMAIN = "@erased.invalid"  # privacy.selectors.ERASED_DOMAIN
TABLES = (
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname"
)


PG_DUMP = ["pg_dump", "--format=custom"]
PG_RESTORE = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error"]


class DrillFailed(Exception):
    pass


def _libpq(database_url: str) -> tuple[str, dict]:
    """The URL without its password, and an environment with PGPASSWORD: a password in
    a command line is visible to every user of the host (ps)."""
    parts = urlsplit(database_url)
    env = dict(os.environ)
    if parts.password is None:
        return database_url, env
    env["PGPASSWORD"] = unquote(parts.password)
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.netloc.rsplit("@", 1)[0].split(":", 1)[0]
    return parts._replace(netloc=f"{user}@{host}").geturl(), env


def _run(command: list[str], *, env: dict, cwd: Path | None = None, what: str = "") -> str:
    """Run `command`; its standard output. Raises DrillFailed, quoting its standard error
    and naming it `what` (by default the program's name), when it fails."""
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DrillFailed(f"{what or command[0]} failed: {done.stderr.strip()}")
    return done.stdout


def manifest_of(connection: psycopg.Connection) -> dict[str, dict]:
    """Every table's row count and the md5 of its rows' md5s, in a stable order."""
    tables = {}
    for (name,) in connection.execute(TABLES).fetchall():
        query = sql.SQL(
            "SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' "
            "ORDER BY md5(t::text))), '') FROM {} t"
        ).format(sql.Identifier(name))
        count, checksum = connection.execute(query).fetchone()
        tables[name] = {"rows": count, "md5": checksum}
    return tables


def backup(database_url: str, out: Path) -> Path:
    """pg_dump and the manifest of one snapshot; returns the dump's path."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    dump = out / f"leadportal-{stamp}.dump"
    with psycopg.connect(database_url) as connection:
        connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        (snapshot,) = connection.execute("SELECT pg_export_snapshot()").fetchone()
        # pg_dump reads the snapshot this transaction holds open: the dump and the
        # manifest see exactly the same rows, whatever commits meanwhile.
        url, env = _libpq(database_url)
        _run([*PG_DUMP, f"--snapshot={snapshot}", "-f", str(dump), "--dbname", url], env=env)
        tables = manifest_of(connection)
        connection.execute("COMMIT")
    manifest = {"taken_at": stamp, "tables": tables}
    manifest_path(dump).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return dump


def manifest_path(dump: Path) -> Path:
    return dump.with_suffix(".manifest.json")


def _server_url(database_url: str) -> tuple[str, str]:
    """The maintenance database's URL on the same server, and the database's name."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not name:
        raise DrillFailed(f"no database name in {parts._replace(netloc=parts.hostname or '')}")
    return parts._replace(path="/postgres").geturl(), name


def _journal_lead_ids(journal: Path) -> list[int]:
    ids = []
    with journal.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                ids += json.loads(line)["lead_ids"]
    return ids


def drill(dump: Path, scratch_url: str, *, journal: Path | None, keep: bool) -> list[str]:
    """Restore, compare, replay, check; the report's lines. Raises DrillFailed."""
    expected = json.loads(manifest_path(dump).read_text())["tables"]
    server, name = _server_url(scratch_url)
    if name == _server_url(os.environ.get("DATABASE_URL", "postgres:///"))[1]:
        raise DrillFailed("the scratch database is DATABASE_URL's: the drill never touches it")
    with psycopg.connect(server, autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            raise DrillFailed(f"the scratch database {name} exists already; drop it first")
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        return _restore_and_check(dump, scratch_url, expected, journal)
    finally:
        if not keep:
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def _restore_and_check(dump, scratch_url, expected, journal) -> list[str]:
    url, env = _libpq(scratch_url)
    _run([*PG_RESTORE, "--dbname", url, str(dump)], env=env)
    with psycopg.connect(scratch_url) as connection:
        found = manifest_of(connection)
    differences = [
        f"{table}: {expected.get(table)} in the manifest, {found.get(table)} restored"
        for table in sorted(set(expected) | set(found))
        if expected.get(table) != found.get(table)
    ]
    if differences:
        raise DrillFailed("the restore differs from the backup:\n  " + "\n  ".join(differences))
    rows = sum(table["rows"] for table in found.values())
    report = [f"restored {len(found)} tables, {rows} rows: counts and checksums match"]
    replay = ["replay_erasures"] + (["--journal", str(journal)] if journal else [])
    replayed = _run(
        [sys.executable, "manage.py", *replay],
        env=os.environ | {"DATABASE_URL": scratch_url},
        cwd=ROOT,
        what="replay_erasures",
    )
    report.append(f"replay_erasures: {replayed.strip()}")
    journal_path = journal or _default_journal()
    lead_ids = _journal_lead_ids(journal_path) if journal_path.exists() else []
    with psycopg.connect(scratch_url) as connection:
        (back,) = connection.execute(
            "SELECT count(*) FROM leads_lead WHERE id = ANY(%s) AND NOT email_normalized LIKE %s",
            [lead_ids, f"%{ERASED_DOMAIN}"],
        ).fetchone()
    if back:
        raise DrillFailed(f"{back} lead(s) the erasure journal names are not erased")
    report.append(f"the {len(lead_ids)} lead(s) the erasure journal names are all erased")
    return report


def _default_journal() -> Path:
    """PRIVACY_JOURNAL_PATH, as the settings read it."""
    env = os.environ
    default = Path(env.get("VAR_DIR", ROOT / "var")) / "privacy" / "erasures.jsonl"
    return Path(env.get("PRIVACY_JOURNAL_PATH") or default)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    taking = commands.add_parser("backup", help="pg_dump DATABASE_URL with its manifest")
    taking.add_argument("--out", type=Path, required=True, help="the folder for the dump")
    drilling = commands.add_parser("drill", help="restore a dump into a scratch database")
    drilling.add_argument("--dump", type=Path, required=True)
    drilling.add_argument("--scratch-url", required=True, help="a database that does not exist")
    drilling.add_argument("--journal", type=Path, help="default: PRIVACY_JOURNAL_PATH")
    drilling.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args(argv)
    try:
        if args.command == "backup":
            if not os.environ.get("DATABASE_URL"):
                raise DrillFailed("DATABASE_URL is not set")
            dump = backup(os.environ["DATABASE_URL"], args.out)
            print(f"backup: {dump}\nmanifest: {manifest_path(dump)}")
        else:
            if not manifest_path(args.dump).exists():
                raise DrillFailed(f"no manifest beside the dump: {manifest_path(args.dump)}")
            if args.journal and not args.journal.exists():
                raise DrillFailed(f"no journal at {args.journal}")
            for line in drill(args.dump, args.scratch_url, journal=args.journal, keep=args.keep):
                print(line)
            print("restore drill passed")
    except (DrillFailed, psycopg.Error) as exc:
        print(f"restore drill FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
