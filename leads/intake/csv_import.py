"""CSV import: a publisher's spreadsheet of leads goes through the same intake as the API.

The file is read whole before any row is written, so that a file-level problem (too big,
too many rows, no email column, malformed CSV) refuses the import with nothing done.
Each row becomes Partner Center's lead JSON, is validated by `LeadPayload`, and is
ingested by `leads.intake.leads_ingest` in batches grouped by storefront. Cells are
text: nothing is ever evaluated. docs/import.md lists the accepted headers.
"""

import codecs
import csv
import hashlib
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext as _
from pydantic import ValidationError

from leads.catalog.storefronts import Storefront
from leads.intake import partner_center_export as pc_export
from leads.intake.partner_center_export import normalized as _normalized
from leads.intake.schemas import LeadPayload, parse_lead_source
from leads.intake.services import IntakeItem, leads_ingest
from leads.intake.transactions import ItemOutcome
from leads.models import Lead, Listing
from portal.models import Publisher

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
BATCH_SIZE = 500
DELIMITERS = ",;\t|"

# Canonical field -> (the key in Partner Center's JSON, accepted headers once normalized).
FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "first name": ("FirstName", ("firstname", "givenname", "forename", "first")),
    "last name": ("LastName", ("lastname", "surname", "familyname", "last")),
    "email": ("Email", ("email", "emailaddress", "mail", "workemail", "businessemail")),
    "phone": ("Phone", ("phone", "phonenumber", "telephone", "tel", "mobile", "businessphone")),
    "country": ("Country", ("country", "countrycode", "countryregion", "countryorregion")),
    "company": ("Company", ("company", "companyname", "organization", "organisation", "account")),
    "title": ("Title", ("title", "jobtitle", "position", "role")),
    "lead source": ("LeadSource", ("leadsource", "source")),
    "action code": ("ActionCode", ("actioncode", "action")),
    "offer id": ("OfferId", ("offerid", "offer", "productid", "listingid")),
    "offer title": ("OfferTitle", ("offertitle", "offername", "productname", "listingname")),
    "description": ("Description", ("description", "notes", "comments", "message")),
    "lead id": ("LeadId", ("leadid", "externalid")),
    "campaign code": ("CampaignCode", ("campaigncode", "campaign", "campaignid")),
    "marketing consent": ("MarketingConsent", ("marketingconsent", "consent", "optin")),
    "created time": ("CreatedTime", ("createdtime", "created", "createdat", "createdon", "date")),
    "storefront": ("", ("storefront", "marketplace", "store")),
}
USER_DETAILS = ("first name", "last name", "email", "phone", "country", "company", "title")
_FIELD_OF_HEADER = {alias: name for name, (_key, aliases) in FIELDS.items() for alias in aliases}
_FIELD_OF_KEY = {key: name for name, (key, _aliases) in FIELDS.items() if key}

CONSENT = {
    **dict.fromkeys(("yes", "y", "true", "1", "sí", "si", "on"), True),
    **dict.fromkeys(("no", "n", "false", "0", "off"), False),
}
# Storefront names as a column or LeadSource's source part may spell them, normalized.
STOREFRONT_NAMES = {
    "appsource": Storefront.APPSOURCE,
    "microsoftappsource": Storefront.APPSOURCE,
    "spza": Storefront.APPSOURCE,
    "azuremarketplace": Storefront.AZURE_MARKETPLACE,
    "azure": Storefront.AZURE_MARKETPLACE,
    "azureportal": Storefront.AZURE_MARKETPLACE,
}


class ImportRefused(ValueError):
    """The file as a whole cannot be imported; no row was processed."""


@dataclass(frozen=True)
class RowError:
    field: str
    message: str


@dataclass
class RowResult:
    """What became of one data row: created, consolidated, duplicate, received (a
    Partner Center export's lead Lead Portal already had) or error."""

    row: int  # 1-based, counting data rows (blank lines are skipped)
    line: int  # the physical line the row starts on
    status: str = "error"
    errors: list[RowError] = field(default_factory=list)
    lead_id: str | None = None
    score: int | None = None

    @property
    def outcome(self) -> str:
        if self.status != "error":
            return self.status
        return "error: " + "; ".join(f"{e.field}: {e.message}" for e in self.errors)

    def __str__(self) -> str:
        return f"row {self.row} (line {self.line}): {self.outcome}"


@dataclass
class ImportReport:
    rows: list[RowResult]
    ignored_columns: list[str]
    rolled_back: bool = False
    partner_center: bool = False  # the file is Partner Center's leads export

    @property
    def missing(self) -> int:
        """Export rows Lead Portal did not have before: imported now (created or joined)."""
        return self.count("created") + self.count("consolidated") if self.partner_center else 0

    def count(self, status: str) -> int:
        return sum(1 for row in self.rows if row.status == status)

    @property
    def failed(self) -> int:
        return self.count("error")


Rows = list[tuple[int, int, dict[str, str]]]  # (row, line, {field: cell})


# --- Reading the file --------------------------------------------------------------------


def size_check(*, size: int) -> None:
    """Refuse a file above the size cap, before it is read."""
    if size > MAX_BYTES:
        raise ImportRefused(
            _("The file is %(size).1f MB; the limit is 20 MB. Split it and import each part.")
            % {"size": size / 1024 / 1024}
        )


def csv_decode(content: bytes) -> str:
    """The file as text: UTF-8 or UTF-16 by their BOM, else UTF-8, cp1252, latin-1."""
    try:
        if content.startswith(codecs.BOM_UTF8):
            return content[len(codecs.BOM_UTF8) :].decode("utf-8")
        if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return content.decode("utf-16")
    except UnicodeDecodeError as exc:
        raise ImportRefused(_("The file has a Unicode BOM but is not valid Unicode.")) from exc
    for encoding in ("utf-8", "cp1252"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    return content.decode("latin-1")  # every byte is a latin-1 character


def csv_delimiter(text: str) -> str:
    """The delimiter among , ; TAB |: csv.Sniffer on a sample, else the header's commonest."""
    sample = text[:65536]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # whole lines only
    header = sample.split("\n", 1)[0]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        delimiter = ""
    if delimiter and delimiter in header:
        return delimiter
    counts = {candidate: header.count(candidate) for candidate in DELIMITERS}
    best = max(counts, key=lambda candidate: counts[candidate])
    return best if counts[best] else ","


def header_map(header: list[str]) -> tuple[dict[int, str], list[str]]:
    """Column index -> canonical field, and the ignored columns; refuse without email.
    A Partner Center leads export is read by its own column names first."""
    columns: dict[int, str] = {}
    seen: dict[str, str] = {}
    ignored = []
    export = pc_export.recognizes([_normalized(name) for name in header])
    for index, name in enumerate(header):
        canonical = (export and pc_export.column_of(name)) or _FIELD_OF_HEADER.get(
            _normalized(name)
        )
        if canonical is None:
            if name.strip():
                ignored.append(name.strip())
            continue
        if canonical in seen:
            raise ImportRefused(
                _("The columns %(first)r and %(second)r both mean %(field)s; keep one.")
                % {"first": seen[canonical], "second": name.strip(), "field": canonical}
            )
        seen[canonical] = name.strip()
        columns[index] = canonical
    if "email" not in seen:
        raise ImportRefused(
            _("The file has no email column (a header such as Email, E-mail or Email address); ")
            + _("nothing was imported.")
        )
    return columns, ignored


def csv_read(content: bytes) -> tuple[Rows, list[str], bool]:
    """Decode and parse the whole file, refusing it before any row is processed; the
    flag says whether it is Partner Center's leads export."""
    size_check(size=len(content))
    text = csv_decode(content)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=csv_delimiter(text))
    columns: dict[int, str] | None = None
    ignored: list[str] = []
    rows: Rows = []
    export, cap = False, MAX_ROWS
    try:
        while True:
            line = reader.line_num + 1
            cells = next(reader, None)
            if cells is None:
                break
            if not any(cell.strip() for cell in cells):
                continue
            if columns is None:
                columns, ignored = header_map(cells)
                export = pc_export.recognizes([_normalized(name) for name in cells])
                cap = pc_export.MAX_ROWS if export else MAX_ROWS
                continue
            if len(rows) >= cap:
                raise ImportRefused(_too_many_rows(export))
            values = {columns[i]: cell.strip() for i, cell in enumerate(cells) if i in columns}
            rows.append((len(rows) + 1, line, values))
    except csv.Error as exc:
        raise ImportRefused(
            _("Line %(line)s is not valid CSV: %(error)s") % {"line": reader.line_num, "error": exc}
        ) from exc
    if columns is None:
        raise ImportRefused(_("The file is empty."))
    return rows, ignored, export


def _too_many_rows(export: bool) -> str:
    if export:
        return _(
            "The file has more than 5,000 rows, more than a Partner Center leads export "
            "holds: download it again with narrower filters (a shorter date range), "
            "or import it as a plain CSV with your own column names."
        )
    return _("The file has more than 100,000 rows. Split it and import each part.")


# --- From a row to an intake item --------------------------------------------------------


def row_payload(values: dict[str, str]) -> tuple[dict, list[RowError]]:
    """Partner Center's lead JSON from a row's non-empty cells, and the consent error."""
    payload: dict = {"UserDetails": {}}
    errors = []
    for name, value in values.items():
        key = FIELDS[name][0]
        if not value or not key:
            continue
        if name == "marketing consent":
            if value.lower() not in CONSENT:
                errors.append(RowError(name, _("Use yes or no (or true/false, 1/0, sí).")))
                continue
            payload[key] = CONSENT[value.lower()]
        elif name in USER_DETAILS:
            payload["UserDetails"][key] = value
        else:
            payload[key] = value
    return payload, errors


def _field_of(loc) -> str:
    keys = [part for part in loc if isinstance(part, str) and part != "body"]
    return _FIELD_OF_KEY.get(keys[-1], keys[-1]) if keys else "row"


def _import_key(*, publisher: Publisher, storefront: str, payload: dict) -> str:
    """Without a lead id, the row's content is its id: importing a row again is a replay."""
    content = json.dumps([publisher.pk, storefront, payload], sort_keys=True, default=str)
    return "csv-import:" + hashlib.sha256(content.encode()).hexdigest()


class _Offers:
    """The publisher's listings, to find each row's listing and so its storefront."""

    def __init__(self, publisher: Publisher):
        self.publisher = publisher
        self.listings = list(Listing.objects.filter(publisher=publisher))
        self._elsewhere: dict[str, bool] = {}

    def resolve(self, values: dict[str, str]) -> Listing | RowError:
        """The row's listing: by offer id (or name), narrowed by the storefront column."""
        where, offer = _offer_reference(values)
        if not offer:
            return RowError(where, _("Name the offer: fill in the offer id or offer title."))
        storefront = STOREFRONT_NAMES.get(_normalized(values.get("storefront", "")))
        if values.get("storefront") and storefront is None:
            msg = _("Unknown storefront %(name)r: use appsource or azure-marketplace.")
            return RowError("storefront", msg % {"name": values["storefront"]})
        matches = [
            listing
            for listing in self._named(offer)
            if storefront is None or listing.storefront == storefront
        ]
        if len(matches) > 1:  # the same offer on both storefronts: LeadSource may say which
            hint = STOREFRONT_NAMES.get(
                _normalized(parse_lead_source(values.get("lead source", ""))[0])
            )
            matches = [listing for listing in matches if listing.storefront == hint] or matches
        if len(matches) == 1:
            return matches[0]
        if matches:
            msg = _(
                "%(offer)s is listed on AppSource and Azure Marketplace; add a storefront column."
            )
            return RowError(where, msg % {"offer": offer})
        if self._belongs_elsewhere(offer):
            msg = _("offer %(offer)s does not belong to publisher %(slug)s")
            return RowError(where, msg % {"offer": offer, "slug": self.publisher.slug})
        msg = _("Publisher %(slug)s has no listing with the offer %(offer)s.")
        return RowError(where, msg % {"offer": offer, "slug": self.publisher.slug})

    def _named(self, offer: str) -> list[Listing]:
        wanted = offer.lower()
        by_id = [listing for listing in self.listings if listing.offer_id.lower() == wanted]
        return by_id or [listing for listing in self.listings if listing.name.lower() == wanted]

    def _belongs_elsewhere(self, offer: str) -> bool:
        wanted = offer.lower()
        if wanted not in self._elsewhere:
            others = Listing.objects.exclude(publisher=self.publisher).annotate(
                offer_lower=Lower("offer_id"), name_lower=Lower("name")
            )
            query = Q(offer_lower=wanted) | Q(name_lower=wanted)
            self._elsewhere[wanted] = others.filter(query).exists()
        return self._elsewhere[wanted]


def _offer_reference(values: dict[str, str]) -> tuple[str, str]:
    """(field, offer): the offer id, else LeadSource's offer part, else the offer title."""
    if values.get("offer id"):
        return "offer id", values["offer id"]
    offer = parse_lead_source(values.get("lead source", ""))[2]
    if offer:
        return "lead source", offer
    if values.get("offer title"):
        return "offer title", values["offer title"]
    return "offer id", ""


# --- The import --------------------------------------------------------------------------


class _RolledBack(Exception):
    def __init__(self, report: ImportReport):
        self.report = report


def leads_import(*, publisher: Publisher, content: bytes, atomic: bool = False) -> ImportReport:
    """Import a CSV file of leads for a publisher: one result per data row, in order."""
    rows, ignored, export = csv_read(content)
    if not atomic:
        return ImportReport(_import_rows(publisher, rows, export), ignored, partner_center=export)
    try:
        with transaction.atomic():
            report = ImportReport(
                _import_rows(publisher, rows, export), ignored, partner_center=export
            )
            if report.failed:
                raise _RolledBack(report)
    except _RolledBack as rollback:
        report = rollback.report
        report.rolled_back = True
    return report


def _import_rows(publisher: Publisher, rows: Rows, export: bool = False) -> list[RowResult]:
    offers = _Offers(publisher)
    results: list[RowResult] = []
    pending: list[tuple[RowResult, str, IntakeItem]] = []
    candidates: list[pc_export.Candidate] = []
    for number, line, cells in rows:
        result = RowResult(row=number, line=line)
        results.append(result)
        values, extras, export_errors = (
            pc_export.row_translate(cells) if export else (cells, {}, [])
        )
        payload, result.errors = row_payload(values)
        result.errors[:0] = [RowError(name, message) for name, message in export_errors]
        listing = offers.resolve(values)
        if isinstance(listing, RowError):
            result.errors.append(listing)
        else:
            payload["OfferId"] = listing.offer_id  # intake then finds exactly this listing
            if export and payload.get("LeadSource"):
                payload["LeadSource"] += "|" + listing.name  # Source-Action|Offer
        try:
            validated = LeadPayload.model_validate(payload)
        except ValidationError as exc:
            result.errors[:0] = [
                RowError(_field_of(e["loc"]), e["msg"]) for e in exc.errors(include_url=False)
            ]
        if result.errors:
            continue
        key = _import_key(publisher=publisher, storefront=listing.storefront, payload=payload)
        raw = payload
        if export:
            key = pc_export.external_id(
                publisher_id=publisher.pk,
                lead_id=cells.get(pc_export.LEAD_ID, ""),
                email=validated.UserDetails.Email,
                offer_id=listing.offer_id,
                created=values.get("created time", ""),
            )
            raw = {**payload, pc_export.EXTRAS_KEY: extras}
            candidates.append(_candidate(len(pending), validated, listing))
        item = IntakeItem(payload=validated, raw=raw, idempotency_key=key, is_imported=True)
        pending.append((result, listing.storefront, item))
    if export:
        pending = _reconcile(publisher, pending, candidates)
    for start in range(0, len(pending), BATCH_SIZE):
        _ingest_chunk(pending[start : start + BATCH_SIZE])
    return results


def _candidate(key: int, payload: LeadPayload, listing: Listing) -> pc_export.Candidate:
    email = Lead.normalize_email(payload.UserDetails.Email)
    return pc_export.Candidate(key, email, listing.pk, payload.ActionCode, payload.CreatedTime)


def _reconcile(publisher: Publisher, pending: list, candidates: list) -> list:
    """Keep only the export's rows Lead Portal lacks; mark the others as received (or as
    a duplicate when an earlier import of the export brought them)."""
    received = pc_export.activities_received(publisher=publisher, candidates=candidates)
    for index, (lead_uuid, external_id) in received.items():
        result, _storefront, item = pending[index]
        result.lead_id = lead_uuid
        result.status = "duplicate" if external_id == item.idempotency_key else "received"
    return [entry for index, entry in enumerate(pending) if index not in received]


def _ingest_chunk(chunk: list[tuple[RowResult, str, IntakeItem]]) -> None:
    by_storefront: dict[str, list[tuple[RowResult, IntakeItem]]] = defaultdict(list)
    for result, storefront, item in chunk:
        by_storefront[storefront].append((result, item))
    for storefront, entries in by_storefront.items():
        outcomes = leads_ingest(storefront=storefront, items=[item for _r, item in entries])
        for (result, _item), outcome in zip(entries, outcomes, strict=True):
            _record(result, outcome)
    # Grouping by storefront may ingest a person's later row first; the earliest row of
    # a lead created in this chunk is the one that created it.
    rows_of_lead: dict[str, list[RowResult]] = defaultdict(list)
    for result, _storefront, _item in chunk:
        if result.status in {"created", "consolidated"}:
            rows_of_lead[result.lead_id].append(result)
    for rows in rows_of_lead.values():
        if any(row.status == "created" for row in rows):
            for row in rows:
                row.status = "consolidated"
            rows[0].status = "created"


def _record(result: RowResult, outcome: ItemOutcome) -> None:
    if outcome.errors:
        result.errors = [RowError(_field_of(e["loc"]), e["msg"]) for e in outcome.errors]
        return
    answer = outcome.answer or {}
    result.lead_id, result.score = answer.get("id"), answer.get("score")
    if outcome.status_code == 200:
        result.status = "duplicate"
    else:
        result.status = "consolidated" if answer.get("consolidated") else "created"
