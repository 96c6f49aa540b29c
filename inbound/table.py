"""Partner Center's Azure Table lead destination: the reader, and the parser of its entities.

Partner Center writes each lead as an entity into the `MarketplaceLeads` table of the
publisher's storage account (partner-center-leads.md §3.4). The reader stores each entity
as an InboundItem (store first, then process); the parser turns one into intake's lead.

One read of a source (`table_source_read`):
1. Claim it: a conditional UPDATE sets `read_lease_until` when the source is not paused
   and its lease is free or expired. One worker reads a source at a time; a worker killed
   mid-read leaves a lease that simply expires.
2. Query the entities whose Timestamp is after the watermark less the overlap window
   (INBOUND_TABLE_OVERLAP_SECONDS, for entities that become visible late); a first read
   starts at `read_from` (history) or now. Azure Table answers in (PartitionKey, RowKey)
   order, not by Timestamp, so the watermark cannot move before the whole answer is read.
3. Each page is one transaction: the lease is renewed (guarded by its value, so a worker
   that lost it stops), the entities not stored yet become items with the dedupe key
   "PartitionKey|RowKey" (a re-read never duplicates), and the cursor (the query's lower
   bound, its continuation token, the newest Timestamp seen) is saved. On commit the new
   items are queued for processing.
4. After the last page: the watermark becomes the newest Timestamp seen, the cursor is
   cleared, `last_read_at` set and the lease released. A read cut short (killed, out of
   budget, an error) resumes from the cursor of its last committed page.
An error (credentials, a missing table, the SSRF guard, a timeout) is recorded in
`last_error` in words that hold no secret and no personal data; it never reaches beat.
"""

import base64
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.data.tables import EntityProperty
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crm import pacing
from crm.connectors import azure_table, ssrf
from crm.connectors.base import ConfigurationError
from inbound import parsing
from inbound.models import InboundItem, InboundSource
from leads.intake.schemas import TEST_LEAD_MARKER, canonical_keys, parse_lead_source
from leads.models import Listing

logger = logging.getLogger(__name__)

CONNECTION_KEY = "storageAccountConnectionString"
# The entity's columns (partner-center-leads.md §3.4), matched without regard to case.
ENTITY_KEYS = (
    "PartitionKey",
    "RowKey",
    "Timestamp",
    "ProductId",
    "CustomerInfo",
    "LeadSource",
    "ActionCode",
    "PublisherDisplayName",
    "OfferDisplayName",
    "CreatedTime",
    "Description",
)
DEDUPE_KEY_MAX = 200  # InboundItem.dedupe_key


# --- The reader ---------------------------------------------------------------------------


type StoredHook = Callable[[list[int]], None]


class LeaseLost(Exception):
    """Another worker holds the source now, or it was paused: this read stops."""


def table_sources_due() -> list[int]:
    """The ids of the Azure Table sources a beat tick reads: not paused, not being read."""
    now = timezone.now()
    return list(
        InboundSource.objects.filter(kind=InboundSource.Kind.AZURE_TABLE, paused=False)
        .filter(Q(read_lease_until__isnull=True) | Q(read_lease_until__lt=now))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def table_source_read(
    *, source_id: int, page_size: int | None = None, on_stored: StoredHook | None = None
) -> int | None:
    """Read a source's new entities into items; how many were new, None when not read
    (paused, gone, or another worker reads it). `on_stored(item_ids)` is called inside
    each page's transaction with its new items (the task queues them on commit)."""
    lease = Lease.claim(source_id)
    if lease is None:
        return None
    source = InboundSource.objects.filter(pk=source_id).first()
    if source is None:
        return None
    try:
        return _read_pages(source, lease, page_size or settings.INBOUND_TABLE_PAGE_SIZE, on_stored)
    except LeaseLost:
        logger.info("inbound.table.lease_lost", extra={"source_id": source_id})
        return None
    except Exception as exc:  # never up to beat: the owner sees it on the source's page
        logger.warning(
            "inbound.table.read_failed", extra={"source_id": source_id, "error": type(exc).__name__}
        )
        lease.release(
            last_error=read_error_message(exc, table_name=source.table_name),
            last_error_at=timezone.now(),
        )
        return None


@dataclass
class Lease:
    """A read's hold on its source: claimed when free or expired, renewed at every page,
    and every write under it guarded by its value, so a read that lost it changes nothing."""

    source_id: int
    until: datetime

    @classmethod
    def claim(cls, source_id: int) -> "Lease | None":
        now = timezone.now()
        until = now + timedelta(seconds=settings.INBOUND_TABLE_LEASE_SECONDS)
        claimed = (
            InboundSource.objects.filter(
                pk=source_id, kind=InboundSource.Kind.AZURE_TABLE, paused=False
            )
            .filter(Q(read_lease_until__isnull=True) | Q(read_lease_until__lt=now))
            .update(read_lease_until=until)
        )
        return cls(source_id, until) if claimed else None

    def _held(self):
        return InboundSource.objects.filter(pk=self.source_id, read_lease_until=self.until)

    def renew(self, **fields) -> None:
        """Renew (and write `fields`) while the source is held and not paused."""
        renewed = timezone.now() + timedelta(seconds=settings.INBOUND_TABLE_LEASE_SECONDS)
        if not self._held().filter(paused=False).update(read_lease_until=renewed, **fields):
            raise LeaseLost
        self.until = renewed

    def release(self, **fields) -> None:
        """Let the source go (writing `fields`), if this read still holds it."""
        self._held().update(read_lease_until=None, **fields)


def _read_pages(
    source: InboundSource, lease: Lease, page_size: int, on_stored: StoredHook | None
) -> int:
    cursor = dict(source.read_cursor or {})
    since = _parse_time(cursor.get("since")) or _query_start(source)
    newest = _parse_time(cursor.get("newest"))
    token = cursor.get("token")
    deadline = time.monotonic() + settings.INBOUND_TABLE_READ_BUDGET_SECONDS
    stored = 0
    connection, table_name = azure_table.settings_from(
        {CONNECTION_KEY: source.config.get(CONNECTION_KEY), "tableName": source.table_name}
    )
    with azure_table.service_for(connection, pacing.send_options()) as service:
        table = service.get_table_client(table_name)
        pages = table.query_entities(
            "Timestamp gt @since", parameters={"since": since}, results_per_page=page_size
        ).by_page(continuation_token=token)
        for page in pages:
            entities = list(page)
            token = pages.continuation_token
            for entity in entities:
                moment = entity.metadata.get("timestamp")
                newest = moment if newest is None or (moment and moment > newest) else newest
            cursor = {"since": since.isoformat(), "token": token, "newest": _iso(newest)}
            with transaction.atomic():
                created = _page_store(source, entities)
                changes = {"read_cursor": cursor if token else {}}
                if created:
                    changes["last_received_at"] = created[0].received_at
                if any(item.is_test for item in created):
                    changes["connected_at"] = created[0].received_at  # the validation lead
                # Last, so that a read which lost its lease rolls its page back.
                lease.renew(**changes)
                if created and on_stored is not None:
                    on_stored([item.pk for item in created])
            stored += len(created)
            if token and time.monotonic() > deadline:
                lease.release()  # the next beat tick goes on from the cursor
                return stored
    lease.release(
        watermark=max(filter(None, (source.watermark, newest, since))),
        read_cursor={},
        last_read_at=timezone.now(),
    )
    return stored


def _query_start(source: InboundSource) -> datetime:
    """The watermark less the overlap window, never before the source's start."""
    if source.watermark is None:
        return source.read_from or timezone.now()
    since = source.watermark - timedelta(seconds=settings.INBOUND_TABLE_OVERLAP_SECONDS)
    return max(since, source.read_from) if source.read_from else since


def _page_store(source: InboundSource, entities: list) -> list[InboundItem]:
    """Store the page's entities that are not stored yet; the new items."""
    rows: dict[str, tuple[str, bool]] = {}
    for entity in entities:
        body = entity_body(entity)
        rows.setdefault(entity_dedupe_key(entity), (body, TEST_LEAD_MARKER in body.upper()))
    stored_keys = set(
        InboundItem.objects.filter(source=source, dedupe_key__in=list(rows)).values_list(
            "dedupe_key", flat=True
        )
    )
    now = timezone.now()
    new = [
        InboundItem(
            source=source,
            publisher_id=source.publisher_id,
            received_at=now,
            body=body,
            dedupe_key=key,
            is_test=is_test,
        )
        for key, (body, is_test) in rows.items()
        if key not in stored_keys
    ]
    return InboundItem.objects.bulk_create(new) if new else []


def entity_dedupe_key(entity) -> str:
    """The item's replay key, PartitionKey|RowKey; hashed when longer than the column."""
    key = f"{entity.get('PartitionKey', '')}|{entity.get('RowKey', '')}"
    if len(key) <= DEDUPE_KEY_MAX:
        return key
    return "uuid5:" + str(uuid.uuid5(uuid.NAMESPACE_URL, key))


def entity_body(entity) -> str:
    """The entity as JSON text: its properties, with PartitionKey, RowKey and Timestamp."""
    data = {"PartitionKey": entity.get("PartitionKey"), "RowKey": entity.get("RowKey")}
    data["Timestamp"] = _iso(entity.metadata.get("timestamp"))
    data.update((name, _json_value(value)) for name, value in entity.items())
    return json.dumps(data, ensure_ascii=False)


def _json_value(value):
    if isinstance(value, EntityProperty):
        return _json_value(value.value)
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # a GUID


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def _parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def read_error_message(exc: Exception, *, table_name: str) -> str:
    """What went wrong, for the owner: never the connection string, never an entity."""
    if isinstance(exc, ssrf.TargetRefused):
        return _("The storage account's address is refused: %(reason)s.") % {"reason": exc}
    if isinstance(exc, ConfigurationError):
        return _("The connection string cannot be used: %(reason)s.") % {"reason": exc}
    if isinstance(exc, ClientAuthenticationError) or (
        isinstance(exc, HttpResponseError) and exc.status_code in {401, 403}
    ):
        return _(
            "The storage account refused the credentials (%(code)s): check the connection "
            "string's account key, or paste a new connection string."
        ) % {"code": azure_table.error_code(exc)}
    if isinstance(exc, ResourceNotFoundError):
        return _(
            "The table %(table)s does not exist in this storage account. Partner Center "
            "creates it when it writes its first lead: in Partner Center, open the offer's "
            "Customer leads and validate the connection."
        ) % {"table": table_name}
    if isinstance(exc, HttpResponseError):
        return _("Azure Table answered HTTP %(status)s (%(code)s); the next read tries again.") % {
            "status": exc.status_code,
            "code": azure_table.error_code(exc),
        }
    if isinstance(exc, ServiceRequestTimeoutError | ServiceResponseTimeoutError):
        return _("The storage account did not answer in time; the next read tries again.")
    if isinstance(exc, ServiceRequestError | ServiceResponseError | AzureError):
        return _(
            "The storage account could not be reached (%(error)s); the next read tries again."
        ) % {"error": type(exc).__name__}
    if isinstance(exc, ValueError):
        return _("The account key in the connection string is not valid.")
    return _("The read failed (%(error)s); the next read tries again.") % {
        "error": type(exc).__name__
    }


# --- The parser ---------------------------------------------------------------------------


@parsing.parser(InboundSource.Kind.AZURE_TABLE)
def table_parse(item: InboundItem) -> parsing.ParseResult:
    """A stored entity as intake's lead JSON, or the reject that says why it cannot be."""
    data = parsing.json_object(item.body)
    if isinstance(data, parsing.InboundReject):
        return data
    entity = canonical_keys(data, ENTITY_KEYS)
    customer = customer_info(entity.get("CustomerInfo"))
    if isinstance(customer, parsing.InboundReject):
        return customer
    lead_source = _text(entity.get("LeadSource"))
    found = _listing_for(item.source.publisher_id, entity, lead_source)
    if isinstance(found, parsing.InboundReject):
        return found
    listing, storefront = found
    raw = {
        "UserDetails": customer,
        "LeadSource": lead_source,
        "ActionCode": _text(entity.get("ActionCode")) or parse_lead_source(lead_source)[1],
        "OfferTitle": _text(entity.get("OfferDisplayName")),
        "Description": _text(entity.get("Description")),
        "OfferId": listing.offer_id,
    }
    created = created_time(entity.get("CreatedTime")) or entity.get("Timestamp")
    if created:
        raw["CreatedTime"] = created
    parsing.campaign_code_fill(raw)  # Description's mktcmpid and the like
    return parsing.lead_validate(raw, listing, storefront)


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def customer_info(value) -> dict | parsing.InboundReject:
    """CustomerInfo, Partner Center's UserDetails as a JSON string, as a dict."""
    if not isinstance(value, str) or not value.strip():
        return parsing.InboundReject(
            "no_customer_info", _("The entity has no CustomerInfo: it names no customer.")
        )
    try:
        customer = json.loads(value)
    except (ValueError, RecursionError):
        return parsing.InboundReject(
            "malformed_customer_info", _("The entity's CustomerInfo is not valid JSON.")
        )
    if not isinstance(customer, dict):
        return parsing.InboundReject(
            "malformed_customer_info", _("The entity's CustomerInfo is not a JSON object.")
        )
    return customer


def _listing_for(
    publisher_id: int, entity: dict, lead_source: str
) -> tuple[Listing, str] | parsing.InboundReject:
    """The publisher's listing the entity names (ProductId, else the offer's name) and
    the storefront it came from (LeadSource's source, else the listing's own)."""
    product_id = _text(entity.get("ProductId"))
    listings = Listing.objects.filter(publisher_id=publisher_id)
    if product_id:
        candidates = list(listings.filter(offer_id__iexact=product_id))
        named = _("the offer id %(offer)s (ProductId)") % {"offer": repr(product_id)}
    else:
        name = parse_lead_source(lead_source)[2] or _text(entity.get("OfferDisplayName"))
        candidates = list(listings.filter(name__iexact=name)) if name else []
        named = _("the offer named %(offer)s") % {"offer": repr(name)}
    if not candidates:
        return parsing.InboundReject(
            "unknown_offer",
            _("None of your listings has %(named)s. Add the listing, then retry this item.")
            % {"named": named},
        )
    storefront = parsing.storefront_for(lead_source, candidates[0])
    on_storefront = [listing for listing in candidates if listing.storefront == storefront]
    if len(on_storefront) > 1 or (not on_storefront and len(candidates) > 1):
        return parsing.InboundReject(
            "ambiguous_offer",
            _("Several of your listings have %(named)s; give each a distinct name.")
            % {"named": named},
        )
    listing = on_storefront[0] if on_storefront else candidates[0]
    return listing, listing.storefront


# CreatedTime is a string whose format Microsoft never documented: ISO 8601 (with up to
# seven fractional digits), .NET's JSON "/Date(ms±hhmm)/", or DateTime.ToString()'s.
_DOTNET_JSON_DATE = re.compile(r"^/Date\((?P<ms>-?\d+)(?P<offset>[+-]\d{4})?\)/$")
_DOTNET_FORMATS = (
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y",
)


def created_time(value) -> str | None:
    """CreatedTime as ISO 8601 in UTC (no offset means UTC), or None when unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    match = _DOTNET_JSON_DATE.match(text)
    if match:
        moment = datetime.fromtimestamp(int(match["ms"]) / 1000, tz=UTC)
        return moment.isoformat()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    for pattern in _DOTNET_FORMATS if moment is None else ():
        try:
            moment = datetime.strptime(text, pattern)
            break
        except ValueError:
            continue
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
