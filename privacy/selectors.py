"""Reads of a person's data, driven by the registry: find, the export, the erasure plan,
the access log and the erasure records."""

import re
from collections import defaultdict
from dataclasses import dataclass, field

from django.apps import apps
from django.db.models import F, Q, QuerySet

from crm.models import Delivery
from leads.models import Lead
from leads.nurture import address_hash
from portal.models import Publisher
from privacy import registry
from privacy.models import AccessLogEntry, ErasureRecord

ERASED_DOMAIN = "@erased.invalid"
EXPORT_FORMAT = "leadportal.person-export/1"


@dataclass
class PersonRecords:
    """Every row that names one address: leads, and per store the rows of each lead."""

    email: str
    leads: list[dict] = field(default_factory=list)
    # store key -> lead id -> rows (dicts of the registry's fields and export columns)
    rows: dict[str, dict[int, list[dict]]] = field(default_factory=dict)
    suppressions: list[dict] = field(default_factory=list)
    unlinked_inbound: list[dict] = field(default_factory=list)

    @property
    def lead_ids(self) -> list[int]:
        return [lead["id"] for lead in self.leads]

    @property
    def is_empty(self) -> bool:
        return not (self.leads or self.suppressions or self.unlinked_inbound)

    def counts(self) -> dict[str, int]:
        """Rows per store, as the erasure plan names them."""
        counts = {"leads": len(self.leads)}
        for key, by_lead in self.rows.items():
            counts[key] = sum(len(rows) for rows in by_lead.values())
        counts["suppressions"] = len(self.suppressions)
        counts["inbound_items"] = counts.get("inbound_items", 0) + len(self.unlinked_inbound)
        return counts


def _store_values(store: registry.Store) -> list[str]:
    personal = (f.name for f in store.fields if f.is_exported)
    return list(dict.fromkeys([*store.export, *personal]))


def person_leads(*, email: str, publisher: Publisher | None = None) -> QuerySet:
    """The leads with this address: of one publisher, or of all (staff)."""
    leads = Lead.objects.filter(email_normalized=Lead.normalize_email(email))
    return leads if publisher is None else leads.filter(publisher=publisher)


def person_records(*, email: str, publisher: Publisher | None = None) -> PersonRecords:
    """Everything stored about an address, one query per store."""
    records = PersonRecords(email=Lead.normalize_email(email))
    lead_store = registry.STORE_BY_KEY["leads"]
    leads = person_leads(email=email, publisher=publisher)
    records.leads = list(
        leads.order_by("id").values("id", "publisher_id", *_store_values(lead_store))
    )
    ids = records.lead_ids
    publisher_ids = {lead["publisher_id"] for lead in records.leads}
    if publisher is not None:
        publisher_ids.add(publisher.pk)
    for store in registry.STORES:
        if store.lead_path in (None, "id"):
            continue
        model = apps.get_model(store.model)
        by_lead: dict[int, list[dict]] = defaultdict(list)
        if ids:
            query = model.objects.filter(**{f"{store.lead_path}__in": ids}).order_by("pk")
            for row in query.values("pk", *_store_values(store), lead_key=F(store.lead_path)):
                by_lead[row.pop("lead_key")].append(row)
        records.rows[store.key] = dict(by_lead)
    records.suppressions = _suppressions(records.email, publisher)
    records.unlinked_inbound = _unlinked_inbound(records.email, publisher)
    return records


def suppression_hashes(email: str) -> list[str]:
    """The names an address may have on the suppression list (every key, and legacy)."""
    return [*address_hash.address_hashes(email), address_hash.legacy_hash(email)]


def _suppressions(email: str, publisher: Publisher | None) -> list[dict]:
    store = registry.STORE_BY_KEY["suppressions"]
    rows = apps.get_model(store.model).objects.filter(email_hash__in=suppression_hashes(email))
    if publisher is not None:
        rows = rows.filter(publisher=publisher)
    return list(rows.order_by("pk").values("pk", "publisher_id", *store.export))


def unlinked_inbound_items(*, emails: list[str], publisher_id: int | None) -> QuerySet:
    """Inbound items that became no lead (rejected, waiting) whose body names an address."""
    model = apps.get_model(registry.STORE_BY_KEY["inbound_items"].model)
    named = Q()
    for email in emails:
        named |= Q(body__icontains=email)
    items = model.objects.filter(named, activity__isnull=True)
    return items if publisher_id is None else items.filter(publisher_id=publisher_id)


ADDRESS_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def addresses_in(text: str) -> set[str]:
    """The email addresses a raw body names, normalised (for matching by keyed hash)."""
    return {match.strip(".").lower() for match in ADDRESS_RE.findall(text or "")}


def _unlinked_inbound(email: str, publisher: Publisher | None) -> list[dict]:
    store = registry.STORE_BY_KEY["inbound_items"]
    items = unlinked_inbound_items(emails=[email], publisher_id=publisher and publisher.pk)
    return list(items.order_by("pk").values("pk", "publisher_id", *_store_values(store)))


def person_export(*, records: PersonRecords) -> dict:
    """The export (Art. 15/20): one document with every lead and its rows."""
    leads = []
    for lead in records.leads:
        document = dict(lead)
        for key, by_lead in records.rows.items():
            document[key] = by_lead.get(lead["id"], [])
        leads.append(document)
    return {
        "format": EXPORT_FORMAT,
        "email": records.email,
        "leads": leads,
        "suppression": records.suppressions,
        "unlinked_inbound_items": records.unlinked_inbound,
    }


def recipients_for(*, lead_ids: list[int]) -> list[dict]:
    """The CRM targets that received any of these leads: who an erasure must tell."""
    rows = (
        Delivery.objects.filter(lead_id__in=lead_ids, status=Delivery.Status.DELIVERED)
        .exclude(event=Delivery.Event.TEST)
        .values("target_id", "target__name", "target__kind")
        .distinct()
        .order_by("target__name")
    )
    return [
        {"target": row["target_id"], "name": row["target__name"], "kind": row["target__kind"]}
        for row in rows
    ]


def erasures_for_address(*, email: str, publisher: Publisher | None = None) -> QuerySet:
    """The erasure records of an address (by its keyed hash)."""
    # A 64-digit HMAC found in the list's JSON text is that hash (icontains works on
    # SQLite too, where the JSON containment lookup does not).
    hashes = address_hash.address_hashes(email)
    records = ErasureRecord.objects.filter(
        Q.create([("email_hashes__icontains", h) for h in hashes], connector=Q.OR)
    )
    return records if publisher is None else records.filter(publisher=publisher)


def erasure_outcomes(*, record: ErasureRecord) -> list[dict]:
    """Each recipient of an erasure with the current state of its erasure delivery."""
    ids = [r["delivery"] for r in record.recipients if r.get("delivery")]
    now = {
        pk: {"status": status, "outcome": outcome}
        for pk, status, outcome in Delivery.objects.filter(pk__in=ids).values_list(
            "pk", "status", "outcome"
        )
    }
    return [recipient | now.get(recipient.get("delivery"), {}) for recipient in record.recipients]


def access_log_for_publisher(*, publisher: Publisher) -> QuerySet:
    """The access log entries about a publisher's data, newest first."""
    return AccessLogEntry.objects.filter(publisher=publisher).order_by("-created_at", "-id")
