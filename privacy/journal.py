"""The erasure journal file: one JSON line per erasure, outside the database.

A backup restored from before an erasure brings the erased person back, and the
`ErasureRecord` rows with it are lost. The journal survives the restore (keep it beside,
not inside, the database backups); `manage.py replay_erasures` reads it and erases again.
It holds keyed hashes and lead ids, never an address. Lines are appended after commit.
"""

import json
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings


def journal_path() -> Path:
    return Path(settings.PRIVACY_JOURNAL_PATH)


def journal_append(*, entry: dict) -> None:
    """Add one erasure to the journal (called after the erasure commits)."""
    path = journal_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as journal:
        journal.write(json.dumps(entry, sort_keys=True) + "\n")


def journal_entries(*, path: Path | None = None) -> Iterator[dict]:
    """The journal's erasures, oldest first; a missing file has none."""
    path = path or journal_path()
    if not path.exists():
        return
    with path.open(encoding="utf-8") as journal:
        for line in journal:
            if line.strip():
                yield json.loads(line)
