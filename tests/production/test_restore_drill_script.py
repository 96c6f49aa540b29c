"""deploy/restore_drill.py: a backup with its manifest, then a drill that restores it into
a scratch database, checks counts and checksums, replays the erasure journal, and leaves
no person erased after the backup in the restored data."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from leads.models import Lead
from privacy import services
from tests.factories import make_lead
from tests.privacy import drill
from tests.privacy.world import make_person

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.no_sqlite]

ROOT = Path(__file__).resolve().parents[2]
SERVER = "postgres://postgres@127.0.0.1:5432"


def _script(*args: str, journal: Path) -> subprocess.CompletedProcess:
    env = os.environ | {
        "DATABASE_URL": f"{SERVER}/{drill.database_name()}",
        "PRIVACY_JOURNAL_PATH": str(journal),
    }
    return subprocess.run(
        [sys.executable, "deploy/restore_drill.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _backup(tmp_path: Path, journal: Path) -> Path:
    taken = _script("backup", "--out", str(tmp_path / "backups"), journal=journal)
    assert taken.returncode == 0, taken.stderr
    return Path(taken.stdout.split("backup: ", 1)[1].splitlines()[0])


def test_the_drill_restores_every_row_and_no_erased_person_comes_back(tmp_path, settings):
    # Given leads, a backup of them, and then a person erased and a lead added after it
    journal = tmp_path / "erasures.jsonl"
    settings.PRIVACY_JOURNAL_PATH = str(journal)
    person = make_person(mark="qjdrillmark")
    for _ in range(5):
        make_lead(publisher=person.lead.publisher)
    dump = _backup(tmp_path, journal)
    manifest = json.loads(dump.with_suffix(".manifest.json").read_text())
    assert manifest["tables"]["leads_lead"]["rows"] == Lead.objects.count() == 6
    services.person_erase(email=person.email, actor=None, reason="Art. 17", source="command")
    make_lead(publisher=person.lead.publisher)
    scratch = f"{drill.database_name()}_drill"
    drill.drop(scratch)

    # When the drill runs (keeping the scratch database to look into it)
    result = _script(
        "drill",
        "--dump",
        str(dump),
        "--scratch-url",
        f"{SERVER}/{scratch}",
        "--keep",
        journal=journal,
    )
    try:
        restored = drill.dump_data(scratch).lower()
        with_replay = drill.manage("shell", "-c", COUNT, database=scratch)
    finally:
        drill.drop(scratch)

    # Then every table matched the manifest, the replay erased the person again
    assert result.returncode == 0, result.stdout + result.stderr
    assert "counts and checksums match" in result.stdout
    assert "1 applied again, 1 lead(s) erased" in result.stdout
    assert "the 1 lead(s) the erasure journal names are all erased" in result.stdout
    assert result.stdout.strip().endswith("restore drill passed")
    assert person.mark not in restored and person.email not in restored
    # and the restore holds the backup's 6 leads, not the one added after it
    assert with_replay.stdout.strip().splitlines()[-1] == "6"


COUNT = "from leads.models import Lead; print(Lead.objects.count())"


def test_a_restore_that_differs_from_the_manifest_fails_the_drill(tmp_path):
    journal = tmp_path / "erasures.jsonl"
    make_lead()
    dump = _backup(tmp_path, journal)
    manifest_file = dump.with_suffix(".manifest.json")
    manifest = json.loads(manifest_file.read_text())
    manifest["tables"]["leads_lead"]["rows"] += 1  # a lead the dump lost
    manifest_file.write_text(json.dumps(manifest))
    scratch = f"{drill.database_name()}_drill"
    drill.drop(scratch)

    result = _script(
        "drill", "--dump", str(dump), "--scratch-url", f"{SERVER}/{scratch}", journal=journal
    )

    assert result.returncode == 1
    assert "the restore differs from the backup" in result.stderr
    assert "leads_lead" in result.stderr
    with connection.cursor() as cursor:  # and the scratch database was dropped after it
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [scratch])
        assert cursor.fetchone() == (0,)


def test_the_drill_refuses_an_existing_scratch_database_and_a_missing_manifest(tmp_path):
    journal = tmp_path / "erasures.jsonl"
    dump = _backup(tmp_path, journal)

    existing = _script(
        "drill",
        "--dump",
        str(dump),
        "--scratch-url",
        f"{SERVER}/{drill.database_name()}",
        journal=journal,
    )
    dump.with_suffix(".manifest.json").unlink()
    no_manifest = _script(
        "drill", "--dump", str(dump), "--scratch-url", f"{SERVER}/x_drill", journal=journal
    )

    assert existing.returncode == 1 and "never touches it" in existing.stderr
    assert no_manifest.returncode == 1 and "no manifest beside the dump" in no_manifest.stderr
