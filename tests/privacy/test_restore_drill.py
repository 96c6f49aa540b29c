"""The restore drill (docs/privacy.md): dump, erase, restore the dump, replay the
journal, and no marker is left."""

import pytest

from privacy import services
from tests.privacy import drill
from tests.privacy.world import make_person

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.no_sqlite]


def test_a_restored_backup_brings_no_erased_person_back(tmp_path, settings):
    # Given a person, and a backup taken before their erasure
    settings.PRIVACY_JOURNAL_PATH = str(tmp_path / "erasures.jsonl")
    person = make_person(mark="qjrestoremark")
    backup = tmp_path / "backup.dump"
    drill.dump_custom(drill.database_name(), backup)

    # When the person is erased, and the backup is restored into a scratch database
    services.person_erase(email=person.email, actor=None, reason="Art. 17", source="command")
    assert person.mark not in drill.dump_data(drill.database_name()).lower()
    scratch = f"{drill.database_name()}_restore"
    drill.restore_into_scratch(backup, scratch)
    try:
        assert person.mark in drill.dump_data(scratch).lower()  # the backup brings them back

        # Then replaying the journal erases them again, and a second replay does nothing
        first = drill.manage(
            "replay_erasures", "--journal", settings.PRIVACY_JOURNAL_PATH, database=scratch
        )
        again = drill.manage(
            "replay_erasures", "--journal", settings.PRIVACY_JOURNAL_PATH, database=scratch
        )
        restored = drill.dump_data(scratch).lower()
    finally:
        drill.drop(scratch)

    assert first.returncode == 0, first.stderr
    assert "1 applied again, 1 lead(s) erased" in first.stdout
    assert "0 applied again, 0 lead(s) erased" in again.stdout
    assert person.mark not in restored
    assert person.email not in restored
    assert f"erased-{person.lead.uuid}@erased.invalid" in restored


def test_replay_of_a_missing_journal_file_is_an_error(tmp_path):
    result = drill.manage(
        "replay_erasures", "--journal", str(tmp_path / "none.jsonl"), database=drill.database_name()
    )

    assert result.returncode != 0
    assert "No journal at" in result.stderr
