"""Reads of the portal's Azure Table pages, always scoped by the publisher."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from inbound.models import InboundItem, InboundSource

ITEM_ORDERS = {"newest": ("-received_at", "-id"), "oldest": ("received_at", "id")}


def table_sources_for_publisher(*, publisher) -> QuerySet[InboundSource]:
    """The publisher's Azure Table sources, each with its count of rejects."""
    return (
        InboundSource.objects.filter(publisher=publisher, kind=InboundSource.Kind.AZURE_TABLE)
        .annotate(rejects=Count("items", filter=Q(items__status=InboundItem.Status.REJECTED)))
        .order_by("table_name", "id")
    )


def table_source_get_for_publisher(*, publisher, source_id: int) -> InboundSource | None:
    return InboundSource.objects.filter(
        publisher=publisher, kind=InboundSource.Kind.AZURE_TABLE, pk=source_id
    ).first()


def table_source_items(
    *, source: InboundSource, status: str | None = None, order: str = "newest"
) -> QuerySet[InboundItem]:
    """The source's items, of one status or all, newest or oldest first."""
    items = InboundItem.objects.filter(source=source).select_related("activity__lead")
    if status:
        items = items.filter(status=status)
    return items.order_by(*ITEM_ORDERS.get(order, ITEM_ORDERS["newest"]))


def table_source_item_get(*, source: InboundSource, item_id: int) -> InboundItem | None:
    return InboundItem.objects.filter(source=source, pk=item_id).first()


@dataclass(frozen=True)
class SourceHealth:
    """What the source's page says about its reading."""

    last_read_at: datetime | None
    newest_read: datetime | None  # the newest entity Timestamp read (the watermark)
    lag_seconds: int | None  # since the last complete read
    error: str  # the last error, while no read has succeeded since
    error_at: datetime | None
    counts: dict[str, int]


def table_source_health(*, source: InboundSource) -> SourceHealth:
    counts = dict.fromkeys(InboundItem.Status.values, 0)
    counts.update(
        InboundItem.objects.filter(source=source)
        .order_by()
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    is_current = source.last_error_at is not None and (
        source.last_read_at is None or source.last_error_at > source.last_read_at
    )
    lag = None
    if source.last_read_at is not None:
        lag = int((timezone.now() - source.last_read_at).total_seconds())
    return SourceHealth(
        last_read_at=source.last_read_at,
        newest_read=source.watermark,
        lag_seconds=lag,
        error=source.last_error if is_current else "",
        error_at=source.last_error_at if is_current else None,
        counts=counts,
    )
