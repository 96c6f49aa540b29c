"""The entry points that store or reopen items and then ask the worker to process them.

Should the broker be down, the items are stored all the same and the beat sweep
(inbound.tasks.sweep) processes them later: the web process alone never loses a lead.
"""

from django.db import transaction

from inbound import services, tasks
from inbound.models import InboundItem, InboundSource


def inbound_item_receive(*, source: InboundSource, body: str, dedupe_key: str, **options):
    """Store an item (inbound.services.inbound_item_store) and, after commit, process it."""
    item, is_new = services.inbound_item_store(
        source=source, body=body, dedupe_key=dedupe_key, **options
    )
    if is_new:
        transaction.on_commit(lambda: tasks.items_process_queue([item.pk]))
    return item, is_new


def inbound_items_retry(*, items) -> int:
    """Rejected or waiting items are processed again (admin and portal actions)."""
    ids = services.inbound_items_reopen(items=items)
    transaction.on_commit(lambda: tasks.items_process_queue(ids))
    return len(ids)


def inbound_listing_published(*, listing_id: int) -> int:
    """The items that waited for a listing are processed now that it takes leads."""
    waiting = InboundItem.objects.filter(
        source__listing_id=listing_id, status=InboundItem.Status.WAITING
    )
    return inbound_items_retry(items=waiting)
