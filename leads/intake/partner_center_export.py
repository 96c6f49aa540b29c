"""Partner Center's leads export (Referrals > Leads > Download), as `csv_import` reads it.

Microsoft documents the download (at most 5,000 rows, the current tab and filters) but
not its column headers (reference: partner-center-inbound.md §2.2). The names below are
therefore assumed, from the co-sell export's documented columns (`Customer Contact First
Name`, `Customer Contact Email Address`, `Customer Name`, …, §2.1) and the lead fields the
Leads page names (`LeadCreationDateTime`, lead source, call to action, lead type, lead
quality, email and phone validity, status, country). docs/import.md lists them; headers
match without regard to case, spaces, `_`, `-`, `.` and `/`.

A file is read as an export when its header has one of SIGNATURE. Each row then becomes
the lead JSON intake takes: the lead source (AppSource, Azure Marketplace, Azure portal)
names the storefront, the call to action the action code, `LeadCreationDateTime` the
time. The export's own judgements (quality, validity, status, …) are kept, verbatim, in
the activity's raw payload under "PartnerCenterExport".

Reconciliation. A lead Lead Portal already received (through the webhook, the Azure
Table, the API) is not imported again: a row matches an activity of the same person
(normalized email) on the same listing, with the same action when both say one, that
occurred within RECONCILE_WINDOW of the row's creation time. Each activity matches one
row at most. The rows that match nothing were missing, and are imported with a stable
external id (external_id), so importing an overlapping export later replays them.
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils.translation import gettext as _

from leads.models import Lead, LeadActivity

MAX_ROWS = 5_000
RECONCILE_WINDOW = timedelta(hours=48)
EXTERNAL_ID_PREFIX = "pc-export:"
EXTRAS_KEY = "PartnerCenterExport"

LEAD_ID, LEAD_SOURCE, CALL_TO_ACTION = "pc lead id", "pc lead source", "pc call to action"
EXTRA = "pc extra:"  # prefix of the columns kept verbatim

# Normalized header -> the canonical field of csv_import, or one of this module's own.
COLUMNS: dict[str, str] = {
    **dict.fromkeys(("leadid", "referralid", "engagementid", "id"), LEAD_ID),
    **dict.fromkeys(("customercontactfirstname", "contactfirstname"), "first name"),
    **dict.fromkeys(("customercontactlastname", "contactlastname"), "last name"),
    **dict.fromkeys(
        ("customercontactemailaddress", "customercontactemail", "contactemailaddress"), "email"
    ),
    **dict.fromkeys(
        ("customercontactphonenumber", "customercontactphone", "contactphonenumber"), "phone"
    ),
    **dict.fromkeys(("customername", "customercompanyname", "customercompany"), "company"),
    **dict.fromkeys(("customercountry", "customercountryregion"), "country"),
    **dict.fromkeys(("customercontacttitle", "customercontactjobtitle"), "title"),
    **dict.fromkeys(("offer", "offername", "offertitle", "productname"), "offer title"),
    **dict.fromkeys(("offerid", "productid"), "offer id"),
    **dict.fromkeys(("leadcreationdatetime", "leadcreationdate", "createddate"), "created time"),
    **dict.fromkeys(("leadsource", "source"), LEAD_SOURCE),
    **dict.fromkeys(("calltoaction", "cta"), CALL_TO_ACTION),
    **dict.fromkeys(("notes", "customerneed", "description"), "description"),
}
# Kept in the raw payload, under their header as written.
EXTRA_COLUMNS = {
    "leadtype",
    "leadquality",
    "emailvalidity",
    "phonevalidity",
    "status",
    "substatus",
    "leadstatus",
    "marketplacepurchaseintent",
}
SIGNATURE = {
    "leadcreationdatetime",
    "customercontactemailaddress",
    "calltoaction",
    "leadquality",
    "emailvalidity",
}

# The Leads page's lead sources and calls to action, normalized, to LeadSource's parts.
SOURCES = {
    "appsource": ("AppSource", "AppSource"),
    "azuremarketplace": ("AzureMarketplace", "Azure Marketplace"),
    "azureportal": ("AzurePortal", "Azure Marketplace"),
}
ACTIONS = {
    "getitnow": "INS",
    "freetrial": "INS",  # INS covers both Get it now and Free trial (Leads FAQ)
    "testdrive": "StartTestDrive",
    "contactme": "PLT",
}
TIME_FORMATS = (
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
)


def normalized(text: str) -> str:
    """A header as both readers compare it: lower case, without spaces and _ - . / TAB."""
    return "".join(c for c in text.lower() if c not in " _-./\ufeff\t")


def recognizes(normalized_headers: list[str]) -> bool:
    """Whether a header row is Partner Center's leads export."""
    return bool(SIGNATURE.intersection(normalized_headers))


def column_of(header: str) -> str | None:
    """The field an export's column holds, or None when it is not one of its columns."""
    name = normalized(header)
    if name in EXTRA_COLUMNS:
        return EXTRA + header.strip()
    return COLUMNS.get(name)


def created_time(text: str) -> str | None:
    """The row's creation time as ISO 8601 (UTC when the cell has no offset), or None."""
    text = text.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        for layout in TIME_FORMATS:
            try:
                moment = datetime.strptime(text, layout)  # UTC, as the co-sell export says
                break
            except ValueError:
                continue
        else:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def row_translate(values: dict[str, str]) -> tuple[dict[str, str], dict[str, str], list]:
    """(csv_import's values, the verbatim extras, [(field, message)] errors) of one row."""
    out = {k: v for k, v in values.items() if not k.startswith(("pc ", EXTRA))}
    extras = {k.removeprefix(EXTRA): v for k, v in values.items() if k.startswith(EXTRA) and v}
    errors = []
    if values.get("created time"):
        iso = created_time(values["created time"])
        if iso is None:
            msg = _("Use ISO 8601 or MM/DD/YYYY hh:mm:ss AM/PM (UTC), as Partner Center writes it.")
            errors.append(("created time", msg))
        out["created time"] = iso or ""
    source = SOURCES.get(normalized(values.get(LEAD_SOURCE, "")))
    cta = values.get(CALL_TO_ACTION, "")
    action = ACTIONS.get(normalized(cta), cta[:40])
    if source and not out.get("storefront"):
        out["storefront"] = source[1]
    if action:
        out["action code"] = action
    if source or action:  # csv_import adds "|<listing name>" once it knows the listing
        token = source[0] if source else "PartnerCenter"
        out["lead source"] = f"{token}-{action}" if action else token
    if values.get(LEAD_ID):
        extras["Lead ID"] = values[LEAD_ID]
    return out, extras, errors


def external_id(*, publisher_id: int, lead_id: str, email: str, offer_id: str, created: str):
    """The row's stable id: the export's lead id, else a hash of the person, the offer and
    the creation time (the same row in a later, overlapping export has the same one)."""
    if lead_id:
        key = f"{publisher_id}:{lead_id}"
    else:
        key = f"{publisher_id}|{Lead.normalize_email(email)}|{offer_id.lower()}|{created}"
    return EXTERNAL_ID_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:48]


@dataclass(frozen=True)
class Candidate:
    """A valid row about to be imported: what reconciliation compares."""

    key: int  # the caller's handle on the row
    email: str  # normalized
    listing_id: int
    action: str
    created_at: datetime | None


def activities_received(*, publisher, candidates: list[Candidate]) -> dict[int, tuple[str, str]]:
    """Rows already in Lead Portal: key -> (the lead's uuid, the matched activity's
    external id), in one query. See the module's docstring for the rule."""
    if not candidates:
        return {}
    times = [c.created_at for c in candidates if c.created_at]
    activities = LeadActivity.objects.filter(
        lead__publisher=publisher,
        lead__origin=Lead.Origin.MARKETPLACE,
        lead__email_normalized__in={c.email for c in candidates},
        listing_id__in={c.listing_id for c in candidates},
    )
    if times and len(times) == len(candidates):
        activities = activities.filter(
            occurred_at__range=(min(times) - RECONCILE_WINDOW, max(times) + RECONCILE_WINDOW)
        )
    pool: dict[tuple[str, int], list] = {}
    for row in activities.values_list(
        "pk", "lead__email_normalized", "listing_id", "action_code", "occurred_at",
        "external_id", "lead__uuid",
    ):  # fmt: skip
        pool.setdefault((row[1], row[2]), []).append(row)
    matched: dict[int, tuple[str, str]] = {}
    taken: set[int] = set()
    for candidate in sorted(candidates, key=lambda c: (c.created_at is None, c.created_at)):
        best = _closest(candidate, pool.get((candidate.email, candidate.listing_id), []), taken)
        if best is not None:
            taken.add(best[0])
            matched[candidate.key] = (str(best[6]), best[5] or "")
    return matched


def _closest(candidate: Candidate, rows: list, taken: set[int]):
    def distance(row) -> timedelta:
        return abs(row[4] - candidate.created_at) if candidate.created_at else timedelta(0)

    fitting = [
        row
        for row in rows
        if row[0] not in taken
        and (not candidate.action or not row[3] or row[3] == candidate.action)
        and distance(row) <= RECONCILE_WINDOW
    ]
    return min(fitting, key=distance, default=None)
