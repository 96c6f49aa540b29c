"""Reads of inbound sources and items, always scoped by publisher."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.paginator import Page, Paginator
from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from inbound import sources
from inbound.models import InboundItem, InboundSource
from leads.models import Listing

REJECTS_PER_PAGE = 20
# What the owner has to look at: items that became no lead, or wait for the listing.
NEEDS_ATTENTION = (InboundItem.Status.REJECTED, InboundItem.Status.WAITING)


def webhook_source_for_listing(*, listing: Listing) -> InboundSource | None:
    return InboundSource.objects.filter(kind=InboundSource.Kind.WEBHOOK, listing=listing).first()


def inbound_item_get_for_publisher(*, publisher, item_id: int) -> InboundItem | None:
    return InboundItem.objects.filter(publisher=publisher, pk=item_id).first()


def rejects_for_source(*, source: InboundSource) -> QuerySet[InboundItem]:
    return InboundItem.objects.filter(source=source, status__in=NEEDS_ATTENTION).order_by(
        "-received_at", "-id"
    )


@dataclass(frozen=True)
class InboundPanel:
    """What the listing page's Inbound panel shows."""

    source: InboundSource | None
    state: str
    connected_at: datetime | None
    last_received_at: datetime | None
    received_24h: int
    received_7d: int
    rejects: Page | None

    @property
    def is_waiting_for_connection(self) -> bool:
        return self.state in (sources.UrlState.ACTIVE, sources.UrlState.ROTATED) and (
            self.connected_at is None
        )


def inbound_panel(*, listing: Listing, page: str | int | None = 1) -> InboundPanel:
    """The listing's inbound URL state, its recent counts and one page of its rejects."""
    source = webhook_source_for_listing(listing=listing)
    if source is None:
        return InboundPanel(None, sources.UrlState.NONE, None, None, 0, 0, None)
    now = timezone.now()
    real = Q(is_test=False)
    counts = InboundItem.objects.filter(
        source=source, received_at__gt=now - timedelta(days=7)
    ).aggregate(
        day=Count("pk", filter=real & Q(received_at__gt=now - timedelta(hours=24))),
        week=Count("pk", filter=real),
    )
    rejects = Paginator(rejects_for_source(source=source), REJECTS_PER_PAGE).get_page(page)
    return InboundPanel(
        source=source,
        state=sources.webhook_url_state(source),
        connected_at=source.connected_at,
        last_received_at=source.last_received_at,
        received_24h=counts["day"],
        received_7d=counts["week"],
        rejects=rejects,
    )


def backlog_figures(*, now=None) -> list[dict]:
    """For /metrics, per source kind: items not processed yet (pending) and the oldest
    one's wait since receipt, in seconds; one grouped query."""
    now = now or timezone.now()
    rows = (
        InboundItem.objects.filter(status=InboundItem.Status.PENDING)
        .values("source__kind")
        .annotate(count=Count("pk"), oldest=Min("received_at"))
        .order_by()
    )
    figures = {
        kind: {"kind": kind, "pending": 0, "oldest_pending_seconds": 0.0}
        for kind in InboundSource.Kind.values
    }
    for row in rows:
        figures[row["source__kind"]]["pending"] = row["count"]
        figures[row["source__kind"]]["oldest_pending_seconds"] = max(
            (now - row["oldest"]).total_seconds(), 0.0
        )
    return list(figures.values())
