"""Celery tasks of inbound: thin wrappers that take ids and call one service."""

from celery import shared_task

from inbound import services, table


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
    table.table_source_read(source_id=source_id)
