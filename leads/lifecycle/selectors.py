"""Reads of leads for the publisher API and the portal. Every selector takes its publisher.

Both page with keysets, never OFFSET, so a page costs one index range
scan however deep it is. The API pages over (created_at, id); the portal's list pages
over (sort key…, id) for each sort it offers (`LEAD_SORTS`).

Search (`LeadFilters.search`) is `leads.lifecycle.search`: accent- and case-insensitive
parts of names, the company, the email's domain and the listing's name, through a GIN
trigram index on PostgreSQL, so it stays an index lookup on a million leads.

The list's total (`lead_count`) is exact up to `COUNT_EXACT_LIMIT` matching rows (1,000 for
a search), counted over a LIMIT so that it never reads more; past it, PostgreSQL gives the
planner's estimate of the filtered query (EXPLAIN), and the page says "about".
"""

import base64
import binascii
import json
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from uuid import UUID

from django.db import connection
from django.db.models import (
    BigIntegerField,
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
from django.db.models.functions import Cast, Coalesce, Concat, Lower, Trim

from leads.catalog.storefronts import Storefront, storefront_masks_with
from leads.lifecycle import csv_export, search
from leads.lifecycle.referral_sorts import (
    REFERRAL_SORT_DESCENDING,
    REFERRAL_SORT_NAMES,
    referral_sort_keys,
    serial_plan,
    with_latest_referral,
)
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
    # The listings the search term names (search.listings_named), when already looked up.
    search_listing_ids: tuple[int, ...] | None = None
    # Co-Sell: leads with a referral in this substatus (Accepted, Won, …).
    referral_substatus: str | None = None
    # Co-Sell: leads with a referral in this Partner Center status (New, Active, Closed);
    # with a substatus too, one referral must have both.
    referral_status: str | None = None
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
REFERRAL_LOOKUPS = (("referral_status", "status"), ("referral_substatus", "substatus"))
ACTIVITY_LOOKUPS = (
    ("listing_id", "listing_id"),
    ("storefront", "storefront"),
    ("campaign_id", "campaign_id"),
)


def _lookups(filters: LeadFilters, lookups: tuple[tuple[str, str], ...]) -> dict:
    """The lookups of the filters that are given (not None)."""
    given = ((lookup, getattr(filters, name)) for name, lookup in lookups)
    return {lookup: value for lookup, value in given if value is not None}


def leads_matching(*, publisher: Publisher, filters: LeadFilters) -> QuerySet[Lead]:
    """The publisher's leads that match the filters, in no particular order."""
    # A lead merged into another is hidden: its survivor shows both histories.
    # The publisher as a bigint, the column's type: btree_gin's operators (the search's
    # `lead_pub_search_trgm`, leads/0029) have no cross-type `bigint = integer`.
    leads = Lead.objects.filter(
        publisher_id=Cast(Value(publisher.pk), BigIntegerField()),
        merged_into__isnull=True,
        **_lookups(filters, LEAD_LOOKUPS),
    )
    if filters.owner_id is not None:
        leads = leads.filter(owner_id=filters.owner_id)
    elif filters.is_unassigned:
        leads = leads.filter(owner__isnull=True)
    if filters.search and filters.search.strip():
        leads = search.search_filter(
            leads,
            publisher_id=publisher.pk,
            term=filters.search,
            listing_ids=filters.search_listing_ids,
        )
    referral_conditions = _lookups(filters, REFERRAL_LOOKUPS)
    if referral_conditions:
        referrals = Referral.objects.filter(lead=OuterRef("pk"), **referral_conditions)
        leads = leads.filter(Exists(referrals))
    if filters.storefront is not None:
        # The lead's storefront bits (Lead.storefronts): a condition on the row, no EXISTS.
        leads = leads.filter(storefronts__in=storefront_masks_with(filters.storefront))
    activity_conditions = _lookups(filters, ACTIVITY_LOOKUPS)
    if activity_conditions.keys() - {"storefront"}:
        # Listing, storefront and campaign belong to activities: one activity must match them all.
        leads = leads.filter(
            Exists(LeadActivity.objects.filter(Q(**activity_conditions), lead=OuterRef("pk")))
        )
    return leads


def with_search_listings(*, publisher: Publisher, filters: LeadFilters) -> LeadFilters:
    """The filters with the listings their search names looked up once, for a page and its
    count to share."""
    if not (filters.search and filters.search.strip()):
        return filters
    listing_ids = search.listings_named(publisher_id=publisher.pk, term=filters.search)
    return replace(filters, search_listing_ids=listing_ids)


COUNT_EXACT_LIMIT = 10_000
# A search's matches are rechecked on the heap row by row (the trigram index is lossy):
# past a thousand, counting costs more than the page, and the planner's estimate is close.
SEARCH_COUNT_EXACT_LIMIT = 1_000
# A search the planner expects to match this many leads or more shows the estimate alone
# (the column's statistics target of 2,000, leads/0025, keeps it within a few per cent).
SEARCH_ESTIMATE_TRUSTED = 10 * SEARCH_COUNT_EXACT_LIMIT


@dataclass(frozen=True)
class LeadCount:
    """How many leads match: exact, or the planner's estimate (`is_estimate`)."""

    value: int
    is_estimate: bool = False


def lead_count(*, publisher: Publisher, filters: LeadFilters) -> LeadCount:
    """The number of matching leads: exact up to COUNT_EXACT_LIMIT (a search: up to
    SEARCH_COUNT_EXACT_LIMIT), else estimated on PostgreSQL (exact on SQLite, whose
    databases are small)."""
    limit = SEARCH_COUNT_EXACT_LIMIT if filters.search else COUNT_EXACT_LIMIT
    leads = leads_matching(publisher=publisher, filters=filters).order_by()
    estimate = None
    if filters.search and connection.vendor == "postgresql":
        # A word the planner expects on many thousand leads (a company, a domain) is not
        # counted at all: even `LIMIT 1001` reads every candidate of its trigrams first.
        estimate = _estimate(leads)
        if estimate >= SEARCH_ESTIMATE_TRUSTED:
            return LeadCount(estimate, is_estimate=True)
    capped = leads.values("pk")[: limit + 1].count()
    if capped <= limit:
        return LeadCount(capped)
    if connection.vendor != "postgresql":
        return LeadCount(leads.count())
    estimate = _estimate(leads) if estimate is None else estimate
    # The planner can guess below what was just counted: never show fewer than that.
    return LeadCount(max(estimate, capped), is_estimate=True)


def _estimate(leads: QuerySet[Lead]) -> int:
    """The planner's estimate of the rows `leads` has (one EXPLAIN, nothing read)."""
    plan = json.loads(leads.values("pk").explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


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
    keys: tuple[tuple[str, object, str], ...]  # (alias, expression, kind: dt int str date dec)
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


# The Co-Sell list's sorts on its latest referral (leads.lifecycle.referral_sorts).
SORT_DEFAULT_DESCENDING.update(REFERRAL_SORT_DESCENDING)
LEAD_SORTS.update(
    {
        f"{'-' if descending else ''}{name}": LeadSort(name, keys, descending)
        for descending in (True, False)
        for name, keys in referral_sort_keys(descending=descending).items()
    }
)


@dataclass(frozen=True)
class LeadPage:
    """One page of the portal's list, and the cursors of its neighbours (None at an end)."""

    leads: list[Lead]
    next_cursor: str | None
    previous_cursor: str | None


def _json_value(value, kind: str):
    if kind == "dec":
        return str(value)
    return value.isoformat() if kind in ("dt", "date") else value


def _python_value(value, kind: str):
    if kind == "dt":
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment.astimezone(UTC)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "dec":
        try:
            number = Decimal(value)
        except (InvalidOperation, TypeError) as exc:
            raise ValueError("not a decimal") from exc
        if not number.is_finite() or abs(number) >= 10**14:
            raise ValueError("not a deal value")
        return number
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


def _sortable(*, publisher: Publisher, filters: LeadFilters, sort: LeadSort) -> QuerySet[Lead]:
    leads = leads_matching(publisher=publisher, filters=filters)
    if sort.name in REFERRAL_SORT_NAMES:
        leads = with_latest_referral(leads, publisher=publisher)
    return leads


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
    leads = _sortable(publisher=publisher, filters=filters, sort=sort).annotate(
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
    leads = leads.select_related("latest_campaign").order_by(*order, f"{'-' if flip else ''}id")
    if sort.name in REFERRAL_SORT_NAMES:
        with serial_plan():
            rows = list(leads[: size + 1])
    else:
        rows = list(leads[: size + 1])
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
    # "appsource azure-marketplace": read from the lead's storefront bits (Lead.storefronts).
    storefronts = Trim(
        Concat(
            *(
                Case(
                    When(storefronts__in=storefront_masks_with(value), then=Value(f"{value} ")),
                    default=Value(""),
                )
                for value in Storefront.values
            ),
            Value(""),
        )
    )
    latest_listing = activities.order_by("-occurred_at", "-id").values("listing__name")[:1]
    leads = _sortable(publisher=publisher, filters=filters, sort=sort).alias(
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
