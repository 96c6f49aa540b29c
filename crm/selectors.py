"""Reads of crm. Every selector of the portal's pages takes the publisher it serves.

A publisher sees its own targets and their deliveries only; the global field-seller
target (no publisher) and its deliveries are staff's, in admin. The outbox's reads (at
the end) serve the workers, the sweep and the health check, across publishers.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from uuid import UUID

from django.db import connections
from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from crm.models import CrmTarget, Delivery, ErasureMode

DELIVERY_PAGE_SIZE = 50
# Salesforce Web-to-Lead: warn when this share of the daily cap is used.
DAILY_CAP_WARNING_RATIO = 0.8


def targets_named(*, publisher) -> QuerySet[CrmTarget]:
    """The publisher's targets by name, nothing counted (the deliveries filter's choices)."""
    return CrmTarget.objects.filter(publisher=publisher).order_by("name", "pk")


def targets_for_publisher(*, publisher) -> QuerySet[CrmTarget]:
    """The publisher's targets, each with its deliveries of the last 24 hours."""
    since = timezone.now() - timedelta(hours=24)
    return targets_named(publisher=publisher).annotate(
        sent_last_24h=Count("deliveries", filter=Q(deliveries__delivered_at__gte=since))
    )


def listing_has_verified_target(*, listing) -> bool:
    """True when an active, verified target of the listing's publisher covers the listing."""
    return (
        CrmTarget.objects.filter(
            publisher_id=listing.publisher_id, is_active=True, verified_at__isnull=False
        )
        .filter(Q(scope=CrmTarget.Scope.ALL_LISTINGS) | Q(listings=listing))
        .exists()
    )


def target_get_for_publisher(*, publisher, target_id: int) -> CrmTarget | None:
    return CrmTarget.objects.filter(publisher=publisher, pk=target_id).first()


def target_test_get(*, target: CrmTarget, delivery_id: int) -> Delivery | None:
    """One test lead of the target (the target is already scoped to the publisher)."""
    return Delivery.objects.filter(target=target, event=Delivery.Event.TEST, pk=delivery_id).first()


def target_last_test(*, target: CrmTarget) -> Delivery | None:
    """The target's most recent test lead, sent from the portal."""
    return (
        Delivery.objects.filter(target=target, event=Delivery.Event.TEST)
        .order_by("-created_at", "-id")
        .first()
    )


@dataclass(frozen=True)
class DailyCap:
    """A target's use of a daily budget, such as Salesforce's 500 Web-to-Lead posts."""

    sent: int
    cap: int

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.sent / self.cap)) if self.cap else 0

    @property
    def is_near(self) -> bool:
        return self.sent >= self.cap * DAILY_CAP_WARNING_RATIO


def target_daily_cap(*, target: CrmTarget) -> DailyCap | None:
    """For a target whose CRM caps posts per day: how many went out in the last 24 h."""
    if target.rate_period_seconds != 86_400:
        return None
    since = timezone.now() - timedelta(hours=24)
    sent = Delivery.objects.filter(target=target, delivered_at__gte=since).count()
    return DailyCap(sent=sent, cap=target.rate_limit)


@dataclass(frozen=True)
class DeliveryFilters:
    """What the deliveries list may be narrowed by; None means no filter."""

    target_id: int | None = None
    status: str | None = None
    event: str | None = None
    has_error: bool | None = None
    date_from: date | None = None
    date_to: date | None = None
    lead_uuid: UUID | None = None


@dataclass(frozen=True)
class Cursor:
    """Keyset position: the (created_at, id) of the last row shown."""

    created_at: datetime
    id: int

    def encode(self) -> str:
        return f"{self.created_at.isoformat()}~{self.id}"

    @classmethod
    def decode(cls, value: str) -> "Cursor | None":
        try:
            created_at, _, pk = value.rpartition("~")
            return cls(datetime.fromisoformat(created_at), int(pk))
        except (TypeError, ValueError):
            return None


@dataclass(frozen=True)
class DeliveryPage:
    rows: list[Delivery]
    next_cursor: Cursor | None


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


# What a page of deliveries shows of each row's target and lead.
_DELIVERY_RELATED = ("target", "lead")


def deliveries_for_publisher(*, publisher, filters: DeliveryFilters) -> QuerySet[Delivery]:
    """The publisher's deliveries, newest first, narrowed by the filters."""
    rows = Delivery.objects.filter(target__publisher=publisher)
    if filters.target_id is not None:
        rows = rows.filter(target_id=filters.target_id)
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.event:
        rows = rows.filter(event=filters.event)
    if filters.has_error is True:
        rows = rows.exclude(last_error="")
    elif filters.has_error is False:
        rows = rows.filter(last_error="")
    if filters.date_from:
        rows = rows.filter(created_at__gte=_day_start(filters.date_from))
    if filters.date_to:
        rows = rows.filter(created_at__lt=_day_start(filters.date_to + timedelta(days=1)))
    if filters.lead_uuid:
        rows = rows.filter(lead__uuid=filters.lead_uuid)
    return rows.select_related(*_DELIVERY_RELATED).order_by("-created_at", "-id")


def target_ids_of(*, publisher) -> list[int]:
    """The ids of the publisher's targets (a page of all their deliveries walks each one)."""
    return list(
        CrmTarget.objects.filter(publisher=publisher).order_by("pk").values_list("pk", flat=True)
    )


def _per_target(deliveries: QuerySet[Delivery], *, target_ids: list[int], size: int) -> QuerySet:
    """The first `size` rows of each target among `deliveries`, newest first: one `UNION
    ALL` of a `LIMIT` per target, each an index range scan of its target's rows
    (`delivery_target_created`, or `delivery_target_event_created` under an event filter).
    Over several targets at once no index gives the list's order, and PostgreSQL sorted
    every delivery of the publisher for one page. The outer query only reads those rows
    back by id: repeating the filters there let the planner start from them again."""
    parts = [
        deliveries.filter(target_id=target_id).order_by("-created_at", "-id").values("pk")[:size]
        for target_id in target_ids
    ]
    return (
        Delivery.objects.filter(pk__in=parts[0].union(*parts[1:], all=True))
        .select_related(*_DELIVERY_RELATED)
        .order_by("-created_at", "-id")
    )


def deliveries_page(
    *,
    deliveries: QuerySet[Delivery],
    after: Cursor | None,
    size: int | None = None,
    target_ids: list[int] | None = None,
) -> DeliveryPage:
    """One page of a keyset pagination: no COUNT, one query whatever the table's size.
    `target_ids`, the targets the rows may belong to, lets the page walk each target's
    index: a publisher's list passes its targets' ids."""
    size = size or DELIVERY_PAGE_SIZE
    if after is not None:
        deliveries = deliveries.filter(
            Q(created_at__lt=after.created_at) | Q(created_at=after.created_at, id__lt=after.id)
        )
    if target_ids is not None:
        if not target_ids:  # no target, no delivery
            return DeliveryPage([], None)
        if len(target_ids) == 1:
            deliveries = deliveries.filter(target_id=target_ids[0])
        elif connections[deliveries.db].features.supports_slicing_ordering_in_compound:
            deliveries = _per_target(deliveries, target_ids=target_ids, size=size + 1)
    rows = list(deliveries[: size + 1])
    has_more = len(rows) > size
    rows = rows[:size]
    last = rows[-1] if rows and has_more else None
    return DeliveryPage(rows, Cursor(last.created_at, last.pk) if last else None)


def delivery_get_for_publisher(*, publisher, delivery_id: int) -> Delivery | None:
    return (
        Delivery.objects.filter(target__publisher=publisher, pk=delivery_id)
        .select_related("target")
        .first()
    )


def deliveries_of_lead(*, lead, limit: int) -> list[Delivery]:
    """The newest `limit` deliveries of a lead and of the leads merged into it (one query),
    for the lead's timeline. The lead is already scoped to the publisher."""
    rows = Delivery.objects.filter(Q(lead=lead) | Q(lead__merged_into=lead)).select_related(
        "target"
    )
    return list(rows.order_by("-created_at", "-id")[:limit])


# The outbox's reads: what is due, which targets cover a lead, how late the oldest row is.


def due_filter(now) -> Q:
    """Rows a worker may take: pending and due, or sending with an expired lease."""
    return Q(status=Delivery.Status.PENDING, next_attempt_at__lte=now) | Q(
        status=Delivery.Status.SENDING, lease_until__lt=now
    )


def target_has_due(*, target_id: int) -> bool:
    """Whether the (active) target has a delivery due or stuck now."""
    return Delivery.objects.filter(
        due_filter(timezone.now()), target_id=target_id, target__is_active=True
    ).exists()


def due_targets(*, now=None) -> list[int]:
    """Targets with at least one due or stuck delivery (the sweep's question)."""
    now = now or timezone.now()
    return list(
        Delivery.objects.filter(due_filter(now), target__is_active=True)
        .values_list("target_id", flat=True)
        .distinct()
        .order_by()
    )


def oldest_due_age_seconds(*, now=None) -> float | None:
    """How long the oldest due delivery of an active target has waited (/readyz reports
    it); a paused target's rows wait on purpose."""
    now = now or timezone.now()
    oldest = (
        Delivery.objects.filter(due_filter(now), target__is_active=True)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    return (now - oldest).total_seconds() if oldest else None


def outbox_figures(*, now=None) -> list[dict]:
    """For /metrics, per target kind: due or stuck deliveries of active targets, the
    oldest one's wait in seconds, and the paused targets (whose rows wait on purpose);
    two grouped queries, whatever the backlog's size."""
    now = now or timezone.now()
    figures: dict[str, dict] = {
        kind: {"kind": kind, "due": 0, "oldest_due_seconds": 0.0, "paused_targets": 0}
        for kind in CrmTarget.Kind.values
    }
    due = (
        Delivery.objects.filter(due_filter(now), target__is_active=True)
        .values("target__kind")
        .annotate(count=Count("pk"), oldest=Min("next_attempt_at"))
        .order_by()
    )
    for row in due:
        figure = figures[row["target__kind"]]
        figure["due"] = row["count"]
        figure["oldest_due_seconds"] = max((now - row["oldest"]).total_seconds(), 0.0)
    paused = CrmTarget.objects.filter(is_active=False).values("kind").annotate(count=Count("pk"))
    for row in paused.order_by():
        figures[row["kind"]]["paused_targets"] = row["count"]
    return list(figures.values())


def outbox_health() -> dict:
    """For /healthz: how long the oldest due delivery has waited, in seconds."""
    age = oldest_due_age_seconds()
    return {"oldest_due_seconds": round(age, 1) if age is not None else None}


@dataclass(frozen=True)
class Coverage:
    """What deciding coverage needs of a target, read in one query."""

    target_id: int
    publisher_id: int | None
    scope: str
    listing_ids: frozenset[int]

    def covers(self, *, publisher_id: int, listing_id: int | None, field_seller: bool) -> bool:
        if self.publisher_id is None:
            return field_seller
        if self.publisher_id != publisher_id:
            return False
        return self.scope == CrmTarget.Scope.ALL_LISTINGS or listing_id in self.listing_ids


def targets_covering(*, publisher_ids: set[int]) -> list[Coverage]:
    """The publishers' targets and the global field-seller targets, with their chosen
    listings, in one query. Paused targets are included: their deliveries wait, pending,
    until the target resumes."""
    rows = CrmTarget.objects.filter(
        Q(publisher_id__in=publisher_ids) | Q(publisher__isnull=True)
    ).values_list("pk", "publisher_id", "scope", "listings")
    found: dict[int, tuple] = {}
    chosen: dict[int, set[int]] = {}
    for target_id, publisher_id, scope, listing_id in rows:
        found[target_id] = (publisher_id, scope)
        chosen.setdefault(target_id, set())
        if listing_id is not None:
            chosen[target_id].add(listing_id)
    return [
        Coverage(target_id, publisher_id, scope, frozenset(chosen[target_id]))
        for target_id, (publisher_id, scope) in found.items()
    ]


# --- Erasure: who received a lead, and what each erasure delivery achieved ------------

# The deliveries that carry the person to a target.
LEAD_EVENTS = (Delivery.Event.QUALIFIED, Delivery.Event.UPDATED)


def lead_deliveries_received(*, lead) -> list[Delivery]:
    """The lead's deliveries that reached, or may have reached, their target (delivered,
    or attempted at least once), oldest first."""
    return list(
        Delivery.objects.filter(lead=lead, event__in=LEAD_EVENTS)
        .filter(Q(status=Delivery.Status.DELIVERED) | Q(attempts__gt=0))
        .select_related("target")
        .order_by("created_at", "id")
    )


def erased_lead_ids(*, lead_ids: set[int]) -> set[int]:
    """Which of these leads have been erased (they have an erasure delivery)."""
    return set(
        Delivery.objects.filter(lead_id__in=lead_ids, event=Delivery.Event.ERASED).values_list(
            "lead_id", flat=True
        )
    )


def delivery_may_redeliver(*, delivery: Delivery) -> bool:
    """Neither an erasure (its lookup is wiped once settled) nor a delivery of an erased
    lead is ever sent again."""
    if delivery.event == Delivery.Event.ERASED:
        return False
    return not erased_lead_ids(lead_ids={delivery.lead_id}) if delivery.lead_id else True


@dataclass(frozen=True)
class Recipient:
    """A CRM target that received a lead, and what an erasure will do there."""

    target_id: int
    name: str
    kind: str
    kind_label: str
    mode: str  # ErasureMode: notify, delete or event
    mode_label: str
    is_field_seller: bool


def lead_recipients(*, lead) -> list[Recipient]:
    """Every target that received the lead, the field-seller's included, with the erasure
    mode in force (the confirmation page of an erasure names them). One query."""
    targets: dict[int, CrmTarget] = {}
    for delivery in lead_deliveries_received(lead=lead):
        targets.setdefault(delivery.target_id, delivery.target)
    return [
        Recipient(
            target_id=target.pk,
            name=target.name,
            kind=target.kind,
            kind_label=str(target.get_kind_display()),
            mode=target.effective_erasure_mode,
            mode_label=str(ErasureMode(target.effective_erasure_mode).label),
            is_field_seller=target.is_field_seller,
        )
        for target in targets.values()
    ]


@dataclass(frozen=True)
class ErasureOutcome:
    """Where one erasure delivery stands: pending, sending, delivered or failed, and, once
    delivered, its outcome (deleted, absent, notified, converted, signalled)."""

    delivery_id: int
    target_id: int
    target_name: str
    kind: str
    mode: str
    status: str
    outcome: str  # "" until delivered
    outcome_label: str
    error: str
    settled_at: datetime | None

    @property
    def is_settled(self) -> bool:
        return self.status in {Delivery.Status.DELIVERED, Delivery.Status.FAILED}


def erasure_outcomes(*, lead_ids) -> dict[int, list[ErasureOutcome]]:
    """The erasure deliveries of these leads, by lead id: privacy's erasure record reads
    its per-recipient outcomes here. One query."""
    rows = (
        Delivery.objects.filter(lead_id__in=list(lead_ids), event=Delivery.Event.ERASED)
        .select_related("target")
        .defer("lookup")
        .order_by("lead_id", "id")
    )
    outcomes: dict[int, list[ErasureOutcome]] = {}
    for row in rows:
        settled = row.status in {Delivery.Status.DELIVERED, Delivery.Status.FAILED}
        outcomes.setdefault(row.lead_id, []).append(
            ErasureOutcome(
                delivery_id=row.pk,
                target_id=row.target_id,
                target_name=row.target.name,
                kind=row.target.kind,
                mode=row.erasure_mode,
                status=row.status,
                outcome=row.outcome,
                outcome_label=str(row.get_outcome_display()) if row.outcome else "",
                error=row.last_error,
                settled_at=row.updated_at if settled else None,
            )
        )
    return outcomes
