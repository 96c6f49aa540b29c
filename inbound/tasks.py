"""Celery tasks of inbound: thin wrappers that take ids and call one service."""

import logging

from celery import shared_task
from django.db import transaction

from inbound import services, table

logger = logging.getLogger(__name__)


def items_process_queue(item_ids: list[int]) -> None:
    """Queue one processing task per item; should the broker be down, the sweep does it."""
    for item_id in item_ids:
        try:
            process_item.delay(item_id)
        except Exception:  # the broker is down: the sweep processes it
            logger.warning("inbound.enqueue_failed", extra={"item_id": item_id})
            return


@shared_task(name="inbound.process_item")
def process_item(item_id: int) -> None:
    services.inbound_item_process(item_id=item_id)


@shared_task(name="inbound.sweep")
def sweep() -> None:
    """Beat, every minute: the pending items whose task was lost or never sent."""
    services.inbound_items_process_due()


@shared_task(name="inbound.read_tables")
def read_tables() -> None:
    """Beat, every INBOUND_TABLE_POLL_SECONDS: one read task per Azure Table source due."""
    for source_id in table.table_sources_due():
        read_table.delay(source_id)


@shared_task(name="inbound.read_table")
def read_table(source_id: int) -> None:
    table.table_source_read(source_id=source_id, on_stored=_process_after_commit)


def _process_after_commit(item_ids: list[int]) -> None:
    # Called inside the page's transaction: the items exist for the worker once committed.
    transaction.on_commit(lambda: items_process_queue(item_ids))
