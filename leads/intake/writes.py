"""Intake's batch reads and writes, one specification with two implementations.

On PostgreSQL each is one statement (`leads.intake.sql`); elsewhere (the embedded SQLite
database of `make run`) the same work goes through the ORM. Callers see one behaviour:
  - `stored_answers` reads the answers already given for a storefront's external ids;
  - `leads_lock` locks the leads of some (publisher, normalized email) people, and the
    survivors of the merged ones, in primary-key order, and returns them;
  - `leads_claim` inserts new people's leads, empty, skipping the people that exist;
  - `leads_insert` inserts new leads whole, once, sorted as given, and sets their ids;
    when a concurrent transaction created one of these people first, it raises
    `LeadRaced` (the caller retries the batch, which then finds and locks that lead);
  - `leads_update` writes some fields of leads the caller has locked;
  - `rows_insert` inserts activities, consent evidence or transitions in their order,
    setting their ids when asked (the foreign keys to leads inserted in the same batch
    are taken from those leads).
"""

from collections.abc import Iterable, Sequence
from uuid import UUID

from django.db import IntegrityError, connection, transaction
from django.db.models import Model, Q

from leads.intake import sql
from leads.models import Lead, LeadActivity


class LeadRaced(Exception):
    """A concurrent transaction created one of the batch's new leads first."""


def set_based() -> bool:
    """Whether the set-based SQL implementation serves this database."""
    return connection.vendor == "postgresql"


def stored_answers(*, storefront: str, keys: set[str]) -> dict[str, dict]:
    """The answers stored for these external ids of the storefront, by external id."""
    if not keys:
        return {}
    if set_based():
        return sql.stored_answers(storefront=storefront, keys=sorted(keys))
    return dict(
        LeadActivity.objects.filter(storefront=storefront, external_id__in=keys).values_list(
            "external_id", "intake_response"
        )
    )


def leads_lock(*, keys: Sequence[tuple[int, str]]) -> list[Lead]:
    """Lock the marketplace leads of these (publisher id, normalized email) people and the
    survivors of those merged into another, all in primary-key order (the order
    lead_merge locks a pair in); return them. Merges do not chain: one hop."""
    if not keys:
        return []
    if set_based():
        return sql.leads_lock(keys=keys, origin=Lead.Origin.MARKETPLACE)
    query = Q(pk__in=[])
    by_publisher: dict[int, list[str]] = {}
    for publisher_id, email in keys:
        by_publisher.setdefault(publisher_id, []).append(email)
    for publisher_id, emails in by_publisher.items():
        query |= Q(publisher_id=publisher_id, email_normalized__in=emails)
    survivors = Lead.objects.filter(
        query, origin=Lead.Origin.MARKETPLACE, merged_into__isnull=False
    ).values("merged_into_id")
    return list(
        Lead.objects.select_for_update()
        .filter(query | Q(pk__in=survivors), origin=Lead.Origin.MARKETPLACE)
        .order_by("pk")
    )


def leads_claim(*, rows: Sequence[dict], now) -> None:
    """Insert new people's leads in this order, skipping each whose person exists already
    (ON CONFLICT DO NOTHING): the columns of `sql.CLAIM_COLUMNS` from each row, the others
    a new marketplace lead's defaults, created now. The caller locks them next."""
    if not rows:
        return
    if set_based():
        sql.leads_claim(rows=rows, now=now)
        return
    origin = Lead.Origin.MARKETPLACE
    Lead.objects.bulk_create(
        [Lead(origin=origin, created_at=now, updated_at=now, **row) for row in rows],
        ignore_conflicts=True,
    )


def leads_insert(*, leads: Sequence[Lead]) -> None:
    """Insert new leads whole, in this order; raise LeadRaced if one's person exists."""
    if not leads:
        return
    if set_based():
        ids = sql.leads_insert(leads=leads)
        if len(ids) < len(leads):
            raise LeadRaced
        for lead in leads:
            lead.pk = ids[lead.uuid]
            lead._state.adding = False
        return
    try:
        with transaction.atomic():
            _leads_insert_portable(leads)
    except IntegrityError:
        if _any_person_exists(leads):
            raise LeadRaced from None
        raise


def leads_update(*, leads: Sequence[Lead], fields: Iterable[str]) -> None:
    """Write these fields of these locked leads."""
    if not leads:
        return
    if set_based():
        sql.leads_update(leads=leads, fields=fields)
    else:
        Lead.objects.bulk_update(leads, list(fields))


def rows_insert(*, objs: Sequence[Model], returning: bool = False) -> None:
    """Insert rows of one model in this order; with `returning`, set their ids."""
    if not objs:
        return
    if set_based():
        sql.rows_insert(objs=objs, returning=returning)
    else:
        type(objs[0]).objects.bulk_create(objs)


def _any_person_exists(leads: Sequence[Lead]) -> bool:
    by_publisher: dict[int, list[str]] = {}
    for lead in leads:
        by_publisher.setdefault(lead.publisher_id, []).append(lead.email_normalized)
    return any(
        Lead.objects.filter(
            publisher_id=publisher_id, origin=Lead.Origin.MARKETPLACE, email_normalized__in=emails
        ).exists()
        for publisher_id, emails in by_publisher.items()
    )


def _leads_insert_portable(leads: Sequence[Lead]) -> None:
    """The ORM's insert of whole rows as they are: bulk_create would stamp updated_at
    (auto_now) with its own clock where the batch's time is kept (`raw`, as loaddata)."""
    fields = [field for field in Lead._meta.concrete_fields if not field.primary_key]
    returning = [Lead._meta.pk]
    size = max(connection.ops.bulk_batch_size(fields, leads), 1)
    for start in range(0, len(leads), size):
        chunk = leads[start : start + size]
        rows = Lead.objects._insert(chunk, fields=fields, returning_fields=returning, raw=True)
        if connection.features.can_return_rows_from_bulk_insert:
            for lead, (pk,) in zip(chunk, rows, strict=True):
                lead.pk = pk
        for lead in chunk:
            lead._state.adding = False
    _ids_sync(leads)


def _ids_sync(leads: Sequence[Lead]) -> None:
    """Set the ids a database without RETURNING on bulk inserts did not hand back."""
    missing: dict[UUID, Lead] = {lead.uuid: lead for lead in leads if lead.pk is None}
    if missing:
        for uuid, pk in Lead.objects.filter(uuid__in=missing).values_list("uuid", "pk"):
            missing[uuid].pk = pk
