"""Writes of a publisher's Partner Center Azure Table sources: set up, change, pause, read now.

The connection string is kept encrypted in the source's `config` and never shown back.
Without an import date, reading starts when the table is added, less the overlap window:
Partner Center's validation lead, sent while the publisher sets the destination up, may
well be written just before. A change of account, table or start date starts the reading
again from that date: the watermark and any unfinished read are dropped, and the entities
already stored are not stored twice (their dedupe keys stay).
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inbound import tasks
from inbound.models import DEFAULT_TABLE_NAME, InboundSource
from inbound.table import CONNECTION_KEY
from portal.models import Publisher

logger = logging.getLogger(__name__)


def table_source_create(
    *,
    publisher: Publisher,
    connection_string: str,
    table_name: str = DEFAULT_TABLE_NAME,
    read_from: datetime | None = None,
) -> InboundSource:
    """A new Azure Table source of the publisher; its first read comes with the next tick."""
    return InboundSource.objects.create(
        publisher=publisher,
        kind=InboundSource.Kind.AZURE_TABLE,
        config={CONNECTION_KEY: connection_string},
        table_name=table_name,
        read_from=read_start(read_from),
    )


def read_start(read_from: datetime | None) -> datetime:
    """The import date, else now less the overlap window."""
    overlap = timedelta(seconds=settings.INBOUND_TABLE_OVERLAP_SECONDS)
    return read_from or timezone.now() - overlap


@transaction.atomic
def table_source_update(
    *,
    source: InboundSource,
    connection_string: str = "",
    table_name: str,
    read_from: datetime | None,
) -> InboundSource:
    """Change the account (blank keeps the stored string), table or start date."""
    if read_from != source.read_from:
        read_from = read_start(read_from)
    changed = (
        (connection_string and connection_string != source.config.get(CONNECTION_KEY))
        or table_name != source.table_name
        or read_from != source.read_from
    )
    if connection_string:
        source.config = {**source.config, CONNECTION_KEY: connection_string}
    source.table_name, source.read_from = table_name, read_from
    fields = ["config", "table_name", "read_from", "updated_at"]
    if changed:
        # A read in flight loses its lease at its next page, and stops.
        source.watermark, source.read_cursor, source.read_lease_until = None, {}, None
        fields += ["watermark", "read_cursor", "read_lease_until"]
    source.save(update_fields=fields)
    return source


def table_source_pause(*, source: InboundSource) -> None:
    """No read while paused; a read in flight stops at its next page."""
    InboundSource.objects.filter(pk=source.pk).update(paused=True)


def table_source_resume(*, source: InboundSource) -> None:
    """Reading goes on from the watermark, so what was written meanwhile is read."""
    InboundSource.objects.filter(pk=source.pk).update(paused=False)


def table_source_read_now(*, source: InboundSource) -> None:
    """Ask a worker to read the source now rather than at the next beat tick."""
    transaction.on_commit(lambda: _read_queue(source.pk))


def _read_queue(source_id: int) -> None:
    try:
        tasks.read_table.delay(source_id)
    except Exception:  # the broker is down: beat reads the source once it is back
        logger.warning("inbound.table.read_enqueue_failed", extra={"source_id": source_id})
