"""Reads of leads for the publisher API and the portal. Every selector takes its publisher.

Both page with keysets, never OFFSET and never COUNT, so a page costs one index range
scan however deep it is. The API pages over (created_at, id); the portal's list pages
over (sort key…, id) for each sort it offers (`LEAD_SORTS`).

Search (`LeadFilters.search`) is built to stay an index lookup on a million leads:
a term with an "@" is an exact match on the normalized email (index `lead_email`);
any other term is a case-insensitive *prefix* match (`istartswith`, never `icontains`)
on the first name, last name or company, and "Ada Love" matches first name "Ada…" and
last name "Love…". A prefix match can use a `text_pattern_ops` index on UPPER(column);
a contains match would scan every row of the publisher.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from django.db import connection
from django.db.models import (
    Case,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Concat, Lower, Trim

from leads.catalog.storefronts import Storefront
from leads.lifecycle import csv_export
from leads.models import Lead, LeadActivity, LeadTransition, Referral
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
    # Created strictly before this moment (the portal's "created to", a day's end).
    until: datetime | None = None
    search: str | None = None
    # Co-Sell: leads with a referral in this substatus (Accepted, Won, …).
    referral_substatus: str | None = None
    # Owned by this user; or, `is_unassigned`, by nobody.
    owner_id: int | None = None
    is_unassigned: bool = False
    # Keyset pagination: only leads strictly after this position in LEAD_ORDERING.
    after: LeadPosition | None = None


# The filters that are conditions on the lead row, and on one of its activities: each
# filter's name and the lookup it sets when it is given.
LEAD_LOOKUPS = (
    ("status", "status"),
    ("origin", "origin"),
    ("score_min", "score__gte"),
    ("score_max", "score__lte"),
    ("since", "created_at__gte"),
    ("until", "created_at__lt"),
)
ACTIVITY_LOOKUPS = (
    ("listing_id", "listing_id"),
    ("storefront", "storefront"),
    ("campaign_id", "campaign_id"),
)


def _lookups(filters: LeadFilters, lookups: tuple[tuple[str, str], ...]) -> dict:
    """The lookups of the filters that are given (not None)."""
    given = ((lookup, getattr(filters, name)) for name, lookup in lookups)
    return {lookup: value for lookup, value in given if value is not None}


def search_condition(term: str) -> Q:
    """Exact normalized email with an "@", else name or company prefixes (see above)."""
    term = term.strip()
    if "@" in term:
        return Q(email_normalized=Lead.normalize_email(term))
    condition = (
        Q(first_name__istartswith=term)
        | Q(last_name__istartswith=term)
        | Q(company__istartswith=term)
    )
    first, _space, rest = term.partition(" ")
    if rest.strip():
        condition |= Q(first_name__istartswith=first, last_name__istartswith=rest.strip())
    return condition


def leads_matching(*, publisher: Publisher, filters: LeadFilters) -> QuerySet[Lead]:
    """The publisher's leads that match the filters, in no particular order."""
    # A lead merged into another is hidden: its survivor shows both histories.
    leads = Lead.objects.filter(
        publisher=publisher, merged_into__isnull=True, **_lookups(filters, LEAD_LOOKUPS)
    )
    if filters.owner_id is not None:
        leads = leads.filter(owner_id=filters.owner_id)
    elif filters.is_unassigned:
        leads = leads.filter(owner__isnull=True)
    if filters.search and filters.search.strip():
        leads = leads.filter(search_condition(filters.search))
    if filters.referral_substatus:
        referrals = Referral.objects.filter(
            lead=OuterRef("pk"), substatus=filters.referral_substatus
        )
        leads = leads.filter(Exists(referrals))
    activity_conditions = Q(**_lookups(filters, ACTIVITY_LOOKUPS))
    if activity_conditions:
        # Listing, storefront and campaign belong to activities: one activity must match them all.
        leads = leads.filter(
            Exists(LeadActivity.objects.filter(activity_conditions, lead=OuterRef("pk")))
        )
    return leads


def leads_for_publisher(*, publisher: Publisher, filters: LeadFilters) -> QuerySet[Lead]:
    """The publisher's leads that match the filters, newest first, with their campaigns."""
    leads = leads_matching(publisher=publisher, filters=filters)
    if filters.after is not None:
        # (created_at, id) < (after): the bare `created_at <=` bounds the index scan, the OR
        # settles ties on the boundary timestamp.
        position = filters.after
        leads = leads.filter(created_at__lte=position.created_at).filter(
            Q(created_at__lt=position.created_at) | Q(id__lt=position.id)
        )
    return leads.select_related("first_campaign", "latest_campaign").order_by(*LEAD_ORDERING)


def lead_get_for_publisher(
    *, publisher: Publisher, lead_uuid: UUID, with_transitions: bool = False
) -> Lead | None:
    """The publisher's lead with this UUID, its activities and deliveries (and its status
    history, `with_transitions`) loaded; else None."""
    activities = LeadActivity.objects.select_related("listing", "campaign").order_by(
        "-occurred_at", "-id"
    )
    # Deliveries are crm's rows; they are read through the reverse relation crm declares,
    # so that leads does not import crm (STYLE: portal ← leads ← crm).
    delivery_model = Lead._meta.get_field("deliveries").related_model
    deliveries = delivery_model.objects.select_related("target").order_by("-created_at", "-id")
    prefetches = [
        Prefetch("activities", queryset=activities),
        Prefetch("deliveries", queryset=deliveries),
    ]
    if with_transitions:
        transitions = LeadTransition.objects.select_related("changed_by")
        prefetches.append(
            Prefetch("transitions", queryset=transitions.order_by("-created_at", "-id"))
        )
    return (
        Lead.objects.filter(publisher=publisher, uuid=lead_uuid)
        .select_related("first_campaign", "latest_campaign", "owner", "merged_into")
        .prefetch_related(*prefetches)
        .first()
    )


def leads_by_uuid_for_publisher(*, publisher: Publisher, lead_uuids) -> list[Lead]:
    """The publisher's leads among these UUIDs; another publisher's never match."""
    return list(Lead.objects.filter(publisher=publisher, uuid__in=list(lead_uuids)))


# --- The portal's sorted keyset pages ------------------------------------------------------


@dataclass(frozen=True)
class LeadSort:
    """A whitelisted sort: key columns (alias -> expression), their JSON kind, and direction."""

    name: str
    keys: tuple[tuple[str, object, str], ...]  # (alias, expression, "dt" | "int" | "str")
    descending: bool


_SORT_KEYS = {
    "created": (("k_created", F("created_at"), "dt"),),
    "score": (("k_score", F("score"), "int"),),
    # A lead without a recorded activity counts as last active when it was created.
    "last_activity": (("k_activity", Coalesce("last_activity_at", "created_at"), "dt"),),
    "name": (("k_last", Lower("last_name"), "str"), ("k_first", Lower("first_name"), "str")),
}
# The direction a column sorts in when its header is first clicked.
SORT_DEFAULT_DESCENDING = {"created": True, "score": True, "last_activity": True, "name": False}
DEFAULT_SORT = "-created"
LEAD_SORTS = {
    f"{'-' if descending else ''}{name}": LeadSort(name, keys, descending)
    for name, keys in _SORT_KEYS.items()
    for descending in (True, False)
}


@dataclass(frozen=True)
class LeadPage:
    """One page of the portal's list, and the cursors of its neighbours (None at an end)."""

    leads: list[Lead]
    next_cursor: str | None
    previous_cursor: str | None


def _json_value(value, kind: str):
    return value.isoformat() if kind == "dt" else value


def _python_value(value, kind: str):
    if kind == "dt":
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment.astimezone(UTC)
    if kind == "int" and type(value) is not int:
        raise ValueError("not an int")
    if kind == "str" and not isinstance(value, str):
        raise ValueError("not a str")
    return value


def sort_cursor_encode(sort: LeadSort, lead: Lead) -> str:
    values = [_json_value(getattr(lead, alias), kind) for alias, _expr, kind in sort.keys]
    raw = json.dumps({"s": sort.name, "v": values, "id": lead.pk}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def sort_cursor_decode(sort: LeadSort, cursor: str) -> tuple[list, int]:
    """The key values and id a cursor names; ValueError when it is not one of this sort."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        values, pk = raw["v"], raw["id"]
        if raw["s"] != sort.name or len(values) != len(sort.keys):
            raise ValueError("another sort")
        if type(pk) is not int or not 0 < pk < 2**63:
            raise ValueError("bad id")
        keys = [_python_value(v, kind) for v, (_a, _e, kind) in zip(values, sort.keys, strict=True)]
        return keys, pk
    except (binascii.Error, UnicodeDecodeError, TypeError, KeyError, ValueError) as exc:
        raise ValueError("not a cursor") from exc


def _beyond(sort: LeadSort, values: list, pk: int, *, forward: bool) -> Q:
    """Rows strictly beyond (values…, pk) in the sort's order (or before it, backwards)."""
    later = "lt" if sort.descending == forward else "gt"
    aliases = [alias for alias, _expr, _kind in sort.keys]
    condition = Q(**{f"{aliases[0]}__{later}e": values[0]})  # bounds the index range scan
    expanded = Q()
    equal = Q()
    for alias, value in zip(aliases, values, strict=True):
        expanded |= equal & Q(**{f"{alias}__{later}": value})
        equal &= Q(**{alias: value})
    expanded |= equal & Q(**{f"id__{later}": pk})
    return condition & expanded


def lead_page(
    *,
    publisher: Publisher,
    filters: LeadFilters,
    sort: LeadSort,
    cursor: str = "",
    backwards: bool = False,
    size: int = 50,
) -> LeadPage:
    """A page of `size` leads after `cursor` (or before it, `backwards`), in `sort` order."""
    leads = leads_matching(publisher=publisher, filters=filters).annotate(
        **{alias: expression for alias, expression, _kind in sort.keys}
    )
    position = None
    if cursor:
        try:
            position = sort_cursor_decode(sort, cursor)
        except ValueError:
            backwards = False  # a stale or forged cursor starts again from the first page
    if position is not None:
        leads = leads.filter(_beyond(sort, *position, forward=not backwards))
    flip = sort.descending != backwards
    order = [f"{'-' if flip else ''}{alias}" for alias, _expr, _kind in sort.keys]
    rows = list(
        leads.select_related("latest_campaign").order_by(*order, f"{'-' if flip else ''}id")[
            : size + 1
        ]
    )
    more = len(rows) > size
    rows = rows[:size]
    if backwards and position is not None:
        rows.reverse()
        has_next, has_previous = True, more
    else:
        has_next, has_previous = more, position is not None
    return LeadPage(
        leads=rows,
        next_cursor=sort_cursor_encode(sort, rows[-1]) if rows and has_next else None,
        previous_cursor=sort_cursor_encode(sort, rows[0]) if rows and has_previous else None,
    )


def latest_activities(*, leads: list[Lead]) -> dict[int, LeadActivity]:
    """Each lead's latest activity with its listing, in one query (for a page of leads)."""
    latest_ids = (
        Lead.objects.filter(pk__in=[lead.pk for lead in leads])
        .annotate(
            latest=Subquery(
                LeadActivity.objects.filter(lead=OuterRef("pk"))
                .order_by("-occurred_at", "-id")
                .values("pk")[:1]
            )
        )
        .values("latest")
    )
    activities = LeadActivity.objects.filter(pk__in=latest_ids).select_related("listing")
    return {activity.lead_id: activity for activity in activities}


def leads_for_export(*, publisher: Publisher, filters: LeadFilters, sort: LeadSort):
    """The matching leads in `sort` order as tuples of the export's columns, for streaming."""
    activities = LeadActivity.objects.filter(lead=OuterRef("pk"))
    # "appsource azure-marketplace": one EXISTS per storefront, portable to SQLite too.
    storefronts = Trim(
        Concat(
            *(
                Case(
                    When(Exists(activities.filter(storefront=value)), then=Value(f"{value} ")),
                    default=Value(""),
                )
                for value in Storefront.values
            ),
            Value(""),
        )
    )
    latest_listing = activities.order_by("-occurred_at", "-id").values("listing__name")[:1]
    leads = leads_matching(publisher=publisher, filters=filters).alias(
        **{alias: expression for alias, expression, _kind in sort.keys}
    )
    direction = "-" if sort.descending else ""
    order = [f"{direction}{alias}" for alias, _expr, _kind in sort.keys]
    return (
        leads.annotate(export_storefronts=storefronts, export_listing=Subquery(latest_listing))
        .order_by(*order, f"{direction}id")
        .values_list(*csv_export.EXPORT_COLUMNS)
    )


def campaigns_for_filter(*, publisher: Publisher) -> QuerySet:
    """The publisher's campaigns, for the lead list's campaign filter."""
    return publisher.campaigns.order_by("name", "id")


def leads_with_latest_activity(*, lead_ids) -> dict[int, tuple]:
    """For delivery payloads: each lead (with publisher and latest campaign) and its
    latest activity (with listing and campaign), in two queries."""
    leads = Lead.objects.filter(pk__in=lead_ids).select_related("publisher", "latest_campaign")
    latest: dict[int, LeadActivity] = {}
    activities = (
        LeadActivity.objects.filter(lead_id__in=lead_ids)
        .select_related("listing", "campaign")
        .order_by("lead_id", "-occurred_at", "-id")
        .distinct("lead_id")
        if _supports_distinct_on()
        else LeadActivity.objects.filter(lead_id__in=lead_ids)
        .select_related("listing", "campaign")
        .order_by("-occurred_at", "-id")
    )
    for activity in activities:
        latest.setdefault(activity.lead_id, activity)
    return {lead.pk: (lead, latest.get(lead.pk)) for lead in leads}


def _supports_distinct_on() -> bool:
    return connection.features.can_distinct_on_fields
