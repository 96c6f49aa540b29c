"""The publisher API: a publisher's own leads, read with a publisher API token (DESIGN §5).

`GET /api/v1/publisher/leads` pages with an opaque cursor over (created_at, id), newest
first, so a page costs one index range scan however deep it is: no OFFSET, no COUNT.
"""

import base64
import binascii
import dataclasses
import json
import uuid
from datetime import UTC, datetime

from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema, Status
from ninja.errors import ValidationError
from ninja.security import HttpBearer
from pydantic import create_model, field_validator
from pydantic_core import PydanticCustomError

from leads.catalog.storefronts import Storefront
from leads.intake import api_keys
from leads.intake.payload_limits import datetime_text, utc_datetime
from leads.intake.schemas import ErrorAnswer
from leads.lifecycle import selectors as lead_selectors
from leads.lifecycle.selectors import LeadFilters, LeadPosition
from leads.lifecycle.snapshot import LeadSnapshot
from leads.models import Lead, LeadOrigin, LeadStatus, PublisherApiToken
from portal import throttling

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
FIELD_SELLER_NAME = "Microsoft field seller"
NOT_FOUND = {"detail": "Not found."}


class PublisherToken(HttpBearer):
    """`Authorization: Bearer lpt_…`, a token from `create_publisher_token` or the admin."""

    openapi_scheme = "bearer"

    def authenticate(self, request: HttpRequest, token: str) -> PublisherApiToken | None:
        return api_keys.publisher_token_authenticate(
            token=token, client_address=throttling.throttle_address(request)
        )


router = Router(tags=["publisher"], auth=PublisherToken())


# --- The cursor: base64url of the JSON [created_at, id] of a page's last lead ---------------


def cursor_encode(lead: Lead) -> str:
    raw = json.dumps([lead.created_at.isoformat(), lead.pk], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def cursor_decode(cursor: str) -> LeadPosition:
    """The position a cursor names; ValueError when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, pk = json.loads(raw)
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None or type(pk) is not int or not 0 < pk < 2**63:
            raise ValueError("not a cursor")
        return LeadPosition(created_at=moment.astimezone(UTC), id=pk)
    except (binascii.Error, UnicodeDecodeError, TypeError, ValueError, OverflowError) as exc:
        raise ValueError("not a cursor") from exc


# --- Schemas -------------------------------------------------------------------------------


class LeadQuery(Schema):
    status: LeadStatus | None = None
    listing: int | None = Field(None, description="A listing id: leads with an activity on it.")
    storefront: Storefront | None = Field(None, description="Leads with an activity there.")
    origin: LeadOrigin | None = None
    campaign: int | None = Field(None, description="A campaign id: leads with an activity in it.")
    score_min: int | None = Field(None, ge=0, le=100)
    score_max: int | None = Field(None, ge=0, le=100)
    since: datetime | None = Field(
        None,
        description=(
            "ISO 8601: leads created at or after it (UTC if no offset). An offset beyond "
            "±15:59, or a moment out of range in UTC, is a 400."
        ),
    )
    cursor: str | None = Field(
        None, max_length=200, description="`next_cursor` of the previous page; same filters."
    )
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)

    @field_validator("since", mode="before")
    @classmethod
    def _iso_text(cls, value):
        return None if value is None else datetime_text(value)

    @field_validator("since")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else utc_datetime(value)

    @field_validator("cursor")
    @classmethod
    def _cursor(cls, value: str | None) -> str | None:
        if value:
            try:
                cursor_decode(value)
            except ValueError:
                raise PydanticCustomError(
                    "cursor_invalid", "Invalid cursor: pass next_cursor from a previous page."
                ) from None
        return value or None


class CampaignRef(Schema):
    id: int
    code: str
    name: str


def _snapshot_schema_fields() -> dict:
    """LeadSnapshot's fields as pydantic fields, all required in an answer: the API's lead is
    the one lead snapshot, with `id` for `lead_id`; `created_at` is LeadOut's own (a datetime)."""
    schema_fields = {}
    for snapshot_field in dataclasses.fields(LeadSnapshot):
        if snapshot_field.name == "created_at":
            continue
        name = "id" if snapshot_field.name == "lead_id" else snapshot_field.name
        description = snapshot_field.metadata.get("description")
        schema_fields[name] = (snapshot_field.type, Field(description=description))
    return schema_fields


LeadSnapshotOut = create_model("LeadSnapshotOut", __base__=Schema, **_snapshot_schema_fields())


class LeadOut(LeadSnapshotOut):
    marketing_consent: bool
    first_campaign: CampaignRef | None
    latest_campaign: CampaignRef | None
    qualified_at: datetime | None
    last_activity_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_id(lead: Lead) -> str:
        return str(lead.uuid)


class LeadPage(Schema):
    items: list[LeadOut]
    next_cursor: str | None = Field(
        description="Pass it as `cursor` for the next page; null at the end."
    )


class ListingRef(Schema):
    id: int
    offer_id: str
    name: str


class ActivityOut(Schema):
    action_code: str
    storefront: Storefront
    listing: ListingRef | None
    lead_source: str
    occurred_at: datetime
    is_test: bool
    description: str


class TargetRef(Schema):
    name: str
    kind: str
    is_field_seller: bool = Field(description="The Microsoft field-seller CRM (set up by staff).")

    @staticmethod
    def resolve_name(target) -> str:
        return FIELD_SELLER_NAME if target.is_field_seller else target.name


class DeliveryOut(Schema):
    target: TargetRef
    event: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str = Field(description="Empty for the field-seller CRM, which staff run.")
    delivered_at: datetime | None
    created_at: datetime

    @staticmethod
    def resolve_last_error(delivery) -> str:
        # Errors of the staff-run field-seller target may name its endpoint; not the publisher's.
        return "" if delivery.target.is_field_seller else delivery.last_error


class LeadDetail(LeadOut):
    score_breakdown: list | dict
    status_reason: str
    status_changed_at: datetime | None
    activities: list[ActivityOut]
    deliveries: list[DeliveryOut]


# --- Endpoints -----------------------------------------------------------------------------


def _refuse_unknown_parameters(request: HttpRequest) -> None:
    """An unknown query parameter is a 422, as Stripe does: a misspelt filter must not
    quietly return every lead. So is a parameter given twice: each takes one value, and
    which of two values wins must not be a guess."""
    unknown = sorted(set(request.GET) - set(LeadQuery.model_fields))
    repeated = sorted(name for name in request.GET if len(request.GET.getlist(name)) > 1)
    errors = [
        {"loc": ("query", name), "msg": "Unknown query parameter.", "type": "unknown"}
        for name in unknown
    ]
    errors += [
        {"loc": ("query", name), "msg": "Give this parameter once.", "type": "repeated"}
        for name in repeated
        if name not in unknown
    ]
    if errors:
        raise ValidationError(errors)


def _filters(query: LeadQuery) -> LeadFilters:
    if (
        query.score_min is not None
        and query.score_max is not None
        and query.score_min > query.score_max
    ):
        raise ValidationError(
            [
                {
                    "loc": ("query", "score_max"),
                    "msg": "score_max must be at least score_min.",
                    "type": "score_range",
                }
            ]
        )
    return LeadFilters(
        status=query.status,
        origin=query.origin,
        listing_id=query.listing,
        storefront=query.storefront,
        campaign_id=query.campaign,
        score_min=query.score_min,
        score_max=query.score_max,
        since=query.since,
        after=cursor_decode(query.cursor) if query.cursor else None,
    )


@router.get(
    "/leads",
    response={
        200: LeadPage,
        400: ErrorAnswer,
        401: ErrorAnswer,
        422: ErrorAnswer,
        429: ErrorAnswer,
    },
    summary="List your leads, newest first",
)
def list_leads(request: HttpRequest, query: Query[LeadQuery]):
    """Your leads, newest first, `limit` per page (50 by default, at most 200). Follow
    `next_cursor` until it is null. Test leads are included, with `is_test: true`."""
    _refuse_unknown_parameters(request)
    leads = lead_selectors.leads_for_publisher(
        publisher=request.auth.publisher, filters=_filters(query)
    )
    # One row more than the page says whether another page follows, without a COUNT.
    rows = list(leads[: query.limit + 1])
    items = rows[: query.limit]
    next_cursor = cursor_encode(items[-1]) if len(rows) > query.limit else None
    return {"items": items, "next_cursor": next_cursor}


@router.get(
    "/leads/{lead_id}",
    response={200: LeadDetail, 401: ErrorAnswer, 404: ErrorAnswer, 429: ErrorAnswer},
    summary="One of your leads, with its activities and deliveries",
)
def get_lead(
    request: HttpRequest,
    lead_id: str = Path(..., description="The lead's id (a UUID)."),
):
    """A lead with its storefront activities (newest first) and its CRM deliveries."""
    try:
        lead_uuid = uuid.UUID(lead_id)
    except ValueError:
        return Status(404, NOT_FOUND)
    lead = lead_selectors.lead_get_for_publisher(
        publisher=request.auth.publisher, lead_uuid=lead_uuid
    )
    if lead is None:  # unknown, or another publisher's: the caller cannot tell which
        return Status(404, NOT_FOUND)
    return lead
