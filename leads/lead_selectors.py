"""Reads of leads for the publisher API. Every selector takes the publisher it serves."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from leads.models import Lead, LeadActivity
from portal.models import Publisher

# Newest first, with the id as tie-break: the order of the index (publisher, -created_at, -id).
LEAD_ORDERING = ("-created_at", "-id")


@dataclass(frozen=True)
class LeadPosition:
    """Where a page ended: the (created_at, id) of its last lead."""

    created_at: datetime
    id: int


@dataclass(frozen=True)
class LeadFilters:
    """What a lead list is narrowed to; None means no condition."""

    status: str | None = None
    origin: str | None = None
    listing_id: int | None = None
    storefront: str | None = None
    campaign_id: int | None = None
    score_min: int | None = None
    score_max: int | None = None
    since: datetime | None = None
    # Keyset pagination: only leads strictly after this position in LEAD_ORDERING.
    after: LeadPosition | None = None


def _activity_conditions(filters: LeadFilters) -> Q:
    conditions = Q()
    if filters.listing_id is not None:
        conditions &= Q(listing_id=filters.listing_id)
    if filters.storefront is not None:
        conditions &= Q(storefront=filters.storefront)
    if filters.campaign_id is not None:
        conditions &= Q(campaign_id=filters.campaign_id)
    return conditions


def leads_for_publisher(*, publisher: Publisher, filters: LeadFilters) -> QuerySet[Lead]:
    """The publisher's leads that match the filters, newest first, with their campaigns."""
    leads = Lead.objects.filter(publisher=publisher)
    if filters.status is not None:
        leads = leads.filter(status=filters.status)
    if filters.origin is not None:
        leads = leads.filter(origin=filters.origin)
    if filters.score_min is not None:
        leads = leads.filter(score__gte=filters.score_min)
    if filters.score_max is not None:
        leads = leads.filter(score__lte=filters.score_max)
    if filters.since is not None:
        leads = leads.filter(created_at__gte=filters.since)
    activity_conditions = _activity_conditions(filters)
    if activity_conditions:
        # Listing, storefront and campaign belong to activities: one activity must match them all.
        leads = leads.filter(
            Exists(LeadActivity.objects.filter(activity_conditions, lead=OuterRef("pk")))
        )
    if filters.after is not None:
        # (created_at, id) < (after): the bare `created_at <=` bounds the index scan, the OR
        # settles ties on the boundary timestamp.
        position = filters.after
        leads = leads.filter(created_at__lte=position.created_at).filter(
            Q(created_at__lt=position.created_at) | Q(id__lt=position.id)
        )
    return leads.select_related("first_campaign", "latest_campaign").order_by(*LEAD_ORDERING)


def lead_get_for_publisher(*, publisher: Publisher, lead_uuid: UUID) -> Lead | None:
    """The publisher's lead with this UUID, its activities and deliveries loaded; else None."""
    activities = LeadActivity.objects.select_related("listing").order_by("-occurred_at", "-id")
    # Deliveries are crm's rows; they are read through the reverse relation crm declares,
    # so that leads does not import crm (STYLE: portal ← leads ← crm).
    delivery_model = Lead._meta.get_field("deliveries").related_model
    deliveries = delivery_model.objects.select_related("target").order_by("-created_at", "-id")
    return (
        Lead.objects.filter(publisher=publisher, uuid=lead_uuid)
        .select_related("first_campaign", "latest_campaign")
        .prefetch_related(
            Prefetch("activities", queryset=activities),
            Prefetch("deliveries", queryset=deliveries),
        )
        .first()
    )
