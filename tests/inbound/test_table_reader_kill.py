"""Azure Table against a reader that dies: entities are written while a reader runs in a process of
its own; the reader is SIGKILLed mid-read; more entities are written; the reading goes
on. End state: every entity is exactly one activity, and the unmapped ones are rejects.
"""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from inbound import table
from inbound.models import InboundItem, InboundSource
from leads.models import LeadActivity
from tests.crm.receivers.azurite import running_azurite
from tests.factories import make_publisher
from tests.inbound.table_support import (
    entity_keys,
    pc_entity,
    process_pending,
    published_offer,
    table_source,
    write,
)

ROOT = Path(__file__).resolve().parents[2]
TABLE = "LeadsKilled"
PAGE_SIZE = 3

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def azurite():
    with running_azurite() as connection_string:
        yield connection_string


def reader_process(source: InboundSource, workdir: Path) -> subprocess.Popen:
    """The reader in a process of its own, on this test's database; it pauses 30 s after
    each committed page, so it is still reading when it is killed."""
    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}"
            f"/{database['NAME']}"
        ),
        "DEBUG": "1",  # plain http to Azurite
        "CELERY_BROKER_URL": "memory://",
        "VAR_DIR": str(workdir),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.inbound.table_reader_process", str(source.pk), "3", "30"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=(workdir / "reader.log").open("w"),
        text=True,
    )


def wait_for_first_page(process: subprocess.Popen, workdir: Path) -> str:
    line = process.stdout.readline()  # blocks until the first page is committed
    if not line.startswith("page"):
        pytest.fail(f"the reader did not commit a page:\n{(workdir / 'reader.log').read_text()}")
    return line.strip()


def test_a_reader_killed_mid_read_loses_nothing_and_duplicates_nothing(azurite, settings, tmp_path):
    # Given a published offer and a source importing the last hour
    settings.DEBUG = True  # plain http to Azurite
    publisher = make_publisher()
    published_offer(publisher)
    source = table_source(publisher, azurite, TABLE, read_from=timezone.now() - timedelta(hours=1))
    mapped, unmapped = [], []
    mapped += write(azurite, TABLE, [pc_entity(n) for n in range(6)])
    unmapped += write(
        azurite,
        TABLE,
        [pc_entity(6, product_id="contoso.not-listed"), pc_entity(7, customer_info="{Email:")],
    )

    # When a reader runs in its own process, and entities are written while it reads
    process = reader_process(source, tmp_path)
    try:
        assert wait_for_first_page(process, tmp_path) == f"page {PAGE_SIZE}"
        mapped += write(azurite, TABLE, [pc_entity(n) for n in range(10, 14)])
        unmapped += write(azurite, TABLE, [pc_entity(14, product_id="fabrikam.other")])
    finally:
        # And it is killed mid-read, between two pages
        process.kill()
        process.wait(timeout=10)

    # Then the page it committed is stored, and its cursor and lease are left behind
    source.refresh_from_db()
    assert InboundItem.objects.count() == PAGE_SIZE
    assert source.read_cursor["token"]
    assert source.watermark is None
    assert source.read_lease_until > timezone.now()
    # And no other worker reads the source until the lease runs out
    assert table.table_source_read(source_id=source.pk) is None

    # When the lease runs out, more entities are written, and the source is read again
    InboundSource.objects.filter(pk=source.pk).update(
        read_lease_until=timezone.now() - timedelta(seconds=1)
    )
    mapped += write(azurite, TABLE, [pc_entity(n) for n in range(20, 22)])
    assert table.table_source_read(source_id=source.pk, page_size=PAGE_SIZE) == 12
    # (A further read goes back the overlap window and stores nothing again.)
    assert table.table_source_read(source_id=source.pk, page_size=PAGE_SIZE) == 0
    process_pending()

    # Then every entity is one item, every mapped one exactly one activity
    items = InboundItem.objects.filter(source=source)
    assert sorted(items.values_list("dedupe_key", flat=True)) == sorted(
        entity_keys(mapped + unmapped)
    )
    processed = items.filter(status=InboundItem.Status.PROCESSED)
    assert set(processed.values_list("dedupe_key", flat=True)) == entity_keys(mapped)
    activity_ids = list(processed.values_list("activity_id", flat=True))
    assert len(set(activity_ids)) == len(mapped) == LeadActivity.objects.count() == 12
    assert set(activity_ids) == set(LeadActivity.objects.values_list("pk", flat=True))
    # And the unmapped ones are rejects, each with its reason
    rejects = items.filter(status=InboundItem.Status.REJECTED)
    assert set(rejects.values_list("dedupe_key", flat=True)) == entity_keys(unmapped)
    assert sorted(rejects.values_list("reason_code", flat=True)) == [
        "malformed_customer_info",
        "unknown_offer",
        "unknown_offer",
    ]
    source.refresh_from_db()
    assert (source.read_cursor, source.read_lease_until, source.last_error) == ({}, None, "")
    assert source.watermark is not None
