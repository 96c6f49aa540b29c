"""Erasure (Art. 17) and the access log: the writes of the privacy app.

`leads_erase` is the one erasure: the portal, admin, `manage.py erase_person`, the
retention task and the journal replay all come here. In one transaction, per batch of
leads: the CRMs that received them are told first (crm's erasure deliveries, which keep
encrypted only what each target needs to find its record), then every store of the
registry (privacy.registry) is updated in one UPDATE per store, the admin log's entries
of the rows are blanked, the suppression list keeps only its keyed hash, and an
ErasureRecord is written. After the commit the journal file gets its line and the
publisher's cached funnel is recomputed.
"""

import logging
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from crm import services as crm_services
from crm.models import Delivery
from leads.models import CoSellReferral, Lead
from leads.nurture import address_hash
from leads.reporting import rollup
from privacy import journal, registry, selectors
from privacy.models import AccessLogEntry, AccessSource, ErasureRecord

logger = logging.getLogger(__name__)

BATCH_SIZE = 500


class ErasureRefused(ValueError):
    """The leads given cannot be erased together (several publishers)."""


@dataclass
class ErasureReport:
    """What an erasure did: the records written, rows changed per store, recipients told."""

    records: list[ErasureRecord] = field(default_factory=list)
    lead_ids: list[int] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    recipients: list[dict] = field(default_factory=list)
    # An address already erased: nothing was left to do (the earlier records).
    already_erased: list[ErasureRecord] = field(default_factory=list)

    @property
    def is_noop(self) -> bool:
        return not self.lead_ids and not any(self.counts.values())

    def merge(self, other: "ErasureReport") -> None:
        self.records += other.records
        self.lead_ids += other.lead_ids
        self.counts.update(other.counts)
        self.recipients += other.recipients


def access_record(
    *,
    user,
    action: str,
    source: str,
    publisher_id: int | None = None,
    object_type: str = "",
    object_ids: Iterable = (),
) -> AccessLogEntry:
    """Write one access log entry: who, when, what (ids only, never the data)."""
    is_user = user is not None and getattr(user, "is_authenticated", False)
    return AccessLogEntry.objects.create(
        publisher_id=publisher_id,
        user=user if is_user else None,
        username=user.get_username() if is_user else "",
        action=action,
        source=source,
        object_type=object_type,
        object_ids=[str(pk) for pk in object_ids],
    )


def _clear_value(model, name: str):
    model_field = model._meta.get_field(name)
    return None if model_field.null else model_field.get_default()


def _updates(store: registry.Store) -> dict:
    model = apps.get_model(store.model)
    updates = {}
    for spec in store.fields:
        if spec.on_erase == registry.OnErase.CLEAR:
            updates[spec.name] = _clear_value(model, spec.name)
        elif spec.on_erase == registry.OnErase.PLACEHOLDER:
            updates[spec.name] = spec.placeholder
    return updates


def _admin_log_blank(*, ids_by_model: dict[type, list[int]]) -> int:
    """Blank the admin log's entries of these rows (their names and change messages)."""
    blanked = 0
    updates = _updates(registry.STORE_BY_KEY["admin_log"])
    for model, ids in ids_by_model.items():
        if not ids:
            continue
        content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
        blanked += LogEntry.objects.filter(
            content_type=content_type, object_id__in=[str(pk) for pk in ids]
        ).update(**updates)
    return blanked


def _batch_erase(
    *, leads: list[Lead], publisher_id: int, now, notify: bool
) -> tuple[Counter, list[dict]]:
    ids = [lead.pk for lead in leads]
    emails = [lead.email_normalized for lead in leads]
    recipients = []
    # Only a lead with a delivery can have a recipient (or an unsent delivery to cancel):
    # one query spares the others crm's per-lead call.
    delivered = set(
        Delivery.objects.filter(lead_id__in=ids).values_list("lead_id", flat=True).distinct()
        if notify
        else ()
    )
    # Before the fields go: the targets are told what to look for.
    for lead in (lead for lead in leads if lead.pk in delivered):
        for delivery in crm_services.erasure_deliveries_create(lead=lead, now=now):
            recipients.append(
                {
                    "delivery": delivery.pk,
                    "target": delivery.target_id,
                    "target_name": delivery.target.name,
                    "kind": delivery.target.kind,
                    "status": delivery.status,
                }
            )
    counts: Counter = Counter()
    ids_by_model: dict[type, list[int]] = {Lead: ids, CoSellReferral: ids}
    for store in registry.STORES:
        if store.lead_path is None:
            continue
        model = apps.get_model(store.model)
        rows = model.objects.filter(**{f"{store.lead_path}__in": ids})
        if store.lead_path != "id":
            ids_by_model[model] = list(rows.values_list("pk", flat=True))
        counts[store.key] += rows.update(**_updates(store))
    unlinked = selectors.unlinked_inbound_items(emails=emails, publisher_id=publisher_id)
    counts["inbound_items"] += unlinked.update(**_updates(registry.STORE_BY_KEY["inbound_items"]))
    hashes = [h for email in emails for h in selectors.suppression_hashes(email)]
    suppressions = apps.get_model(registry.STORE_BY_KEY["suppressions"].model).objects
    counts["suppressions"] += suppressions.filter(
        publisher_id=publisher_id, email_hash__in=hashes
    ).update(**_updates(registry.STORE_BY_KEY["suppressions"]))
    counts["admin_log"] += _admin_log_blank(ids_by_model=ids_by_model)
    counts["saved_views"] += _saved_views_clear(leads=leads, publisher_id=publisher_id)
    return counts, recipients


def _saved_views_clear(*, leads: list[Lead], publisher_id: int) -> int:
    """Clear the search text of the publisher's saved views that name one of the leads:
    its address, or its first and last name."""
    if not leads:
        return 0
    named = Q()
    for lead in leads:
        named |= Q(search__icontains=lead.email_normalized)
        full_name = f"{lead.first_name} {lead.last_name}".strip()
        if full_name:
            named |= Q(search__icontains=full_name)
    store = registry.STORE_BY_KEY["saved_views"]
    views = apps.get_model(store.model).objects.filter(named, publisher_id=publisher_id)
    return views.update(**_updates(store))


def _erasable(leads) -> list[Lead]:
    """The leads not yet erased, locked, with what the erasure needs of them (one query,
    whatever the caller loaded): a concurrent erasure of the same lead waits, then finds
    it erased and leaves it alone."""
    ids = [lead.pk for lead in leads] if isinstance(leads, list | tuple) else leads.values("pk")
    return list(
        Lead.objects.select_for_update()
        .filter(pk__in=ids)
        .exclude(email_normalized__endswith=selectors.ERASED_DOMAIN)
        .only("id", "uuid", "publisher_id", "email", "email_normalized", "first_name", "last_name")
        .order_by("pk")
    )


@transaction.atomic
def leads_erase(*, leads, actor=None, reason: str, source: str) -> ErasureReport:
    """Erase these leads (one publisher) everywhere, tell their CRMs, and record it."""
    return _leads_erase(leads=leads, actor=actor, reason=reason, source=source)


def _leads_erase(
    *, leads, actor, reason: str, source: str, record_uuid=None, notify: bool = True
) -> ErasureReport:
    report = ErasureReport()
    erasable = _erasable(leads)
    if not erasable:
        return report
    publisher_ids = {lead.publisher_id for lead in erasable}
    if len(publisher_ids) != 1:
        raise ErasureRefused("leads_erase takes the leads of one publisher.")
    (publisher_id,) = publisher_ids
    now = timezone.now()
    hashes = sorted({address_hash.address_hash(lead.email_normalized) for lead in erasable})
    for start in range(0, len(erasable), BATCH_SIZE):
        batch = erasable[start : start + BATCH_SIZE]
        counts, recipients = _batch_erase(
            leads=batch, publisher_id=publisher_id, now=now, notify=notify
        )
        report.counts.update(counts)
        report.recipients += recipients
    report.lead_ids = [lead.pk for lead in erasable]
    record = _record_write(
        report=report,
        publisher_id=publisher_id,
        hashes=hashes,
        request=_Request(actor=actor, reason=reason, source=source),
        now=now,
        record_uuid=record_uuid,
        object_type="leads.lead",
        object_ids=report.lead_ids,
    )
    logger.info(
        "privacy.erased",
        extra={"erasure": str(record.uuid), "leads": len(report.lead_ids), "source": source},
    )
    return report


@dataclass(frozen=True)
class _Request:
    """Who asked for an erasure (a user, or None for a command or the system), why, and
    through which door (AccessSource)."""

    actor: Any
    reason: str
    source: str


def _record_write(
    *,
    report: ErasureReport,
    publisher_id: int,
    hashes: list[str],
    request: _Request,
    now: datetime,
    record_uuid: uuid.UUID | None,
    object_type: str,
    object_ids: list[int],
) -> ErasureRecord:
    """Write the erasure record of one publisher's part (on replay, rewrite it under its
    uuid), add it to the report and log the access; after the commit, journal it and
    refresh the publisher's funnel."""
    actor = request.actor
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    fields = {
        "publisher_id": publisher_id,
        "requested_by": actor if is_user else None,
        "requested_by_name": actor.get_username() if is_user else "",
        "source": request.source,
        "reason": request.reason[:300],
        "email_hashes": hashes,
        "lead_ids": report.lead_ids,
        "recipients": report.recipients,
        "counts": dict(report.counts),
        "created_at": now,
    }
    if record_uuid is None:
        record = ErasureRecord.objects.create(**fields)
    else:
        record, _created = ErasureRecord.objects.update_or_create(uuid=record_uuid, defaults=fields)
    report.records.append(record)
    access_record(
        user=actor,
        action=AccessLogEntry.Action.ERASE,
        source=request.source,
        publisher_id=publisher_id,
        object_type=object_type,
        object_ids=object_ids,
    )
    transaction.on_commit(lambda: _after_commit(record, publisher_id))
    return record


def _after_commit(record: ErasureRecord, publisher_id: int) -> None:
    if record.source != AccessSource.REPLAY:
        journal.journal_append(entry=journal_entry(record=record))
    try:
        rollup.status_counts_refresh(publisher_ids=[publisher_id])
    except Exception:  # a cache outage must not fail a committed erasure
        logger.warning("privacy.funnel_refresh_failed", exc_info=True)


def journal_entry(*, record: ErasureRecord) -> dict:
    """The journal's line for an erasure: ids and keyed hashes only."""
    return {
        "erasure": str(record.uuid),
        "at": record.created_at.isoformat(),
        "publisher": record.publisher_id,
        "email_hashes": record.email_hashes,
        "lead_ids": record.lead_ids,
        "source": record.source,
    }


def person_erase(*, email: str, publisher=None, actor, reason: str, source: str) -> ErasureReport:
    """Erase every lead with this address (of one publisher, or of all for staff)."""
    leads = list(
        selectors.person_leads(email=email, publisher=publisher).only(
            "id", "uuid", "publisher_id", "email", "email_normalized"
        )
    )
    report = ErasureReport()
    with transaction.atomic():
        by_publisher: dict[int, list[Lead]] = {}
        for lead in leads:
            by_publisher.setdefault(lead.publisher_id, []).append(lead)
        for publisher_leads in by_publisher.values():
            report.merge(
                _leads_erase(leads=publisher_leads, actor=actor, reason=reason, source=source)
            )
        # What never became a lead (a rejected or waiting inbound item) goes too.
        report.merge(
            _unlinked_erase(
                email=email, publisher=publisher, actor=actor, reason=reason, source=source
            )
        )
    if report.is_noop:
        report.already_erased = list(
            selectors.erasures_for_address(email=email, publisher=publisher)
        )
    return report


def _unlinked_erase(*, email: str, publisher, actor, reason: str, source: str) -> ErasureReport:
    """Erase the inbound items that name the address and became no lead, per publisher,
    each publisher's with an erasure record of its own (no lead ids, the keyed hash)."""
    report = ErasureReport()
    store = registry.STORE_BY_KEY["inbound_items"]
    items = selectors.unlinked_inbound_items(
        emails=[email], publisher_id=publisher and publisher.pk
    )
    by_publisher: dict[int, list[int]] = {}
    for item_id, publisher_id in items.values_list("pk", "publisher_id"):
        by_publisher.setdefault(publisher_id, []).append(item_id)
    now = timezone.now()
    hashes = [address_hash.address_hash(Lead.normalize_email(email))]
    request = _Request(actor=actor, reason=reason, source=source)
    for publisher_id, item_ids in by_publisher.items():
        part = ErasureReport()
        model = apps.get_model(store.model)
        part.counts["inbound_items"] = model.objects.filter(pk__in=item_ids).update(
            **_updates(store)
        )
        _record_write(
            report=part,
            publisher_id=publisher_id,
            hashes=hashes,
            request=request,
            now=now,
            record_uuid=None,
            object_type=store.model.lower(),
            object_ids=item_ids,
        )
        report.merge(part)
    return report


@dataclass
class ReplayReport:
    entries: int = 0
    erasures_applied: int = 0
    leads_erased: int = 0
    inbound_items_erased: int = 0


def erasures_replay(*, entries: Iterable[dict]) -> ReplayReport:
    """Apply the journal's erasures again (after a restore). Idempotent: a lead already
    erased is left alone; the record of each erasure is put back if the restore lost it.
    The CRMs are not told again: they were told when the erasure first ran."""
    report = ReplayReport()
    for entry in entries:
        report.entries += 1
        with transaction.atomic():
            by_hash = _lead_ids_by_hash(
                publisher_id=entry["publisher"], hashes=entry["email_hashes"]
            )
            leads = Lead.objects.filter(
                publisher_id=entry["publisher"], pk__in=[*entry["lead_ids"], *by_hash]
            )
            erasable = _erasable(leads)
            items = _unlinked_replay(publisher_id=entry["publisher"], hashes=entry["email_hashes"])
            report.inbound_items_erased += items
            done = _leads_erase(
                leads=erasable,
                actor=None,
                reason=f"journal replay of {entry['erasure']}",
                source=AccessSource.REPLAY,
                record_uuid=entry["erasure"],
                notify=False,
            )
            if done.lead_ids or items:
                report.erasures_applied += 1
                report.leads_erased += len(done.lead_ids)
                ErasureRecord.objects.filter(uuid=entry["erasure"]).update(
                    lead_ids=sorted(set(entry["lead_ids"]) | set(done.lead_ids)),
                    email_hashes=entry["email_hashes"],
                    replayed_at=timezone.now(),
                )
    return report


def _unlinked_replay(*, publisher_id: int, hashes: list[str]) -> int:
    """Erase again the publisher's inbound items that became no lead and name an address
    with one of these keyed hashes. The journal holds no address, so each body's
    addresses are hashed here (unlinked items are few: rejects and waiting items)."""
    wanted = set(hashes)
    if not wanted:
        return 0
    store = registry.STORE_BY_KEY["inbound_items"]
    model = apps.get_model(store.model)
    items = model.objects.filter(publisher_id=publisher_id, activity__isnull=True).exclude(body="")
    matched = [
        pk
        for pk, body in items.values_list("pk", "body").iterator(chunk_size=500)
        if wanted.intersection(
            digest
            for address in selectors.addresses_in(body)
            for digest in address_hash.address_hashes(address)
        )
    ]
    if not matched:
        return 0
    return model.objects.filter(pk__in=matched).update(**_updates(store))


def _lead_ids_by_hash(*, publisher_id: int, hashes: list[str]) -> list[int]:
    """The publisher's leads whose address has one of these keyed hashes (a person the
    restored backup holds under a lead id the journal does not know)."""
    if not hashes:
        return []
    conditions, params = [], []
    placeholders = ", ".join(["%s"] * len(hashes))
    for key in address_hash.hash_keys():
        sql, key_params = address_hash.hmac_sql("email_normalized", key)
        conditions.append(f"{sql} IN ({placeholders})")
        params += [*key_params, *hashes]
    # Only our own column name and placeholders go into the text (address_hash.hmac_sql).
    matched = RawSQL(  # noqa: S611
        f"({' OR '.join(conditions)})", params, output_field=BooleanField()
    )
    return list(
        Lead.objects.filter(publisher_id=publisher_id)
        .alias(matched=matched)
        .filter(matched=True)
        .values_list("pk", flat=True)
    )


def person_access_record(
    *, records: selectors.PersonRecords, user, source: str, action: str
) -> None:
    """Write a search or export of a person to the access log (lead ids only), one entry
    per publisher whose leads it showed."""
    lead_ids: dict[int | None, list[int]] = {}
    for lead in records.leads:
        lead_ids.setdefault(lead["publisher_id"], []).append(lead["id"])
    for publisher_id, ids in (lead_ids or {None: []}).items():
        access_record(
            user=user,
            action=action,
            source=source,
            publisher_id=publisher_id,
            object_type="leads.lead",
            object_ids=ids,
        )
