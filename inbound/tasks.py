"""Celery tasks of inbound: thin wrappers that take ids and call one service."""

from celery import shared_task

from inbound import services


@shared_task(name="inbound.process_item")
def process_item(item_id: int) -> None:
    services.inbound_item_process(item_id=item_id)


@shared_task(name="inbound.sweep")
def sweep() -> None:
    """Beat, every minute: the pending items whose task was lost or never sent."""
    services.inbound_items_process_due()
