"""The registry of personal data: every store, field and JSON document that can hold a
lead's personal data, what erasure does to it and what the export shows of it.

`privacy.services` (erasure) and `privacy.selectors` (find, export) are driven by it and
name no field themselves. `tests/privacy/test_registry.py` walks every concrete model of
the project's apps and fails when a field that looks personal (a name, an address, free
text, a JSON document, ...) is neither here nor in `NOT_PERSONAL` with the reason: a new
store of personal data is added here, and the completeness test covers it unchanged.

A store is a model and the path from its rows to the lead (`lead_path`). Stores that are
not found by lead (the suppression list, the admin log) have `lead_path` None and are
handled by name in privacy.services. Stores outside the database are in `OTHER_STORES`.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.db.models import CharField, F, Value
from django.db.models.functions import Cast, Concat

ERASED = "[erased]"


class OnErase(StrEnum):
    CLEAR = "clear"  # the field's empty value ("" / {} / [] / NULL)
    PLACEHOLDER = "placeholder"  # a non-identifying value (`Field.placeholder`)
    KEEP_HASH = "keep-hash"  # already a keyed hash: kept so that an opt-out is never lost
    # Encrypted, kept only until the erasure delivery that needs it settles (crm wipes it).
    WIPED_WHEN_DELIVERED = "wiped-when-delivered"
    DELETE_ROW = "delete-row"  # the row goes


@dataclass(frozen=True)
class Field:
    name: str
    on_erase: OnErase
    # A value or a query expression (evaluated per row, in the UPDATE).
    placeholder: Any = None
    # For a JSON field: the paths known to hold personal data ("*": the whole document).
    json_paths: tuple[str, ...] = ()
    # Shown in the export (never for a store's working copy, such as an erasure lookup).
    is_exported: bool = True


@dataclass(frozen=True)
class Store:
    key: str
    model: str  # "app_label.ModelName"
    lead_path: str | None  # the lead's id from a row, as a values() path
    fields: tuple[Field, ...]
    # Further columns the export shows (values() paths); never a secret.
    export: tuple[str, ...] = ()
    description: str = ""

    @property
    def field_names(self) -> set[str]:
        return {field.name for field in self.fields}


def _erased_address() -> Concat:
    """erased-<lead uuid>@erased.invalid: unique per lead (the consolidation constraint)
    and a reserved domain that can never be mailed."""
    parts = (Value("erased-"), Cast("uuid", CharField()), Value("@erased.invalid"))
    return Concat(*parts, output_field=CharField())


def _erased_key() -> Concat:
    """A row's own id in place of a key derived from its content (a SHA-256 of the body)."""
    return Concat(Value("erased:"), Cast(F("id"), CharField()), output_field=CharField())


clear = OnErase.CLEAR

STORES: tuple[Store, ...] = (
    # On PostgreSQL, the lead's `search_text` column (leads/0023, not a model field) is
    # generated from its names, company and email: erasing them erases it.
    Store(
        key="leads",
        model="leads.Lead",
        lead_path="id",
        fields=(
            Field("first_name", clear),
            Field("last_name", clear),
            Field("email", OnErase.PLACEHOLDER, _erased_address()),
            Field("email_normalized", OnErase.PLACEHOLDER, _erased_address()),
            Field("phone", clear),
            Field("country", clear),
            Field("company", clear),
            Field("title", clear),
            Field("status_reason", clear),
            Field("next_step", clear),
        ),
        export=(
            "uuid",
            "owner__username",
            "next_step_due",
            "next_step_done_at",
            "merged_into__uuid",
            "publisher__name",
            "origin",
            "status",
            "score",
            "score_breakdown",
            "marketing_consent",
            "marketing_consent_at",
            "first_campaign__name",
            "latest_campaign__name",
            "is_test",
            "created_at",
            "qualified_at",
            "status_changed_at",
            "last_activity_at",
        ),
        description="The lead: contact fields, status, score, campaign attribution.",
    ),
    Store(
        key="activities",
        model="leads.LeadActivity",
        lead_path="lead_id",
        fields=(
            Field("description", clear),
            Field("raw_payload", clear, json_paths=("*",)),
            Field("intake_response", clear, json_paths=("*",)),
            Field("lead_source", clear),
        ),
        export=(
            "occurred_at",
            "storefront",
            "action_code",
            "listing__name",
            "campaign__name",
            "external_id",
            "created_at",
        ),
        description="Storefront activities with the payloads as received.",
    ),
    Store(
        key="transitions",
        model="leads.LeadTransition",
        lead_path="lead_id",
        fields=(Field("reason", clear),),
        export=("from_status", "to_status", "created_at"),
        description="Lifecycle history.",
    ),
    Store(
        key="notes",
        model="leads.LeadNote",
        lead_path="lead_id",
        fields=(Field("body", clear),),
        export=("author__username", "created_at", "updated_at"),
        description="Members' notes on the lead (leads.work).",
    ),
    Store(
        key="merges",
        model="leads.LeadMerge",
        lead_path="survivor_id",
        # The survivor's contact fields as they were before the merge filled them in.
        fields=(Field("survivor_before", clear, json_paths=("*",)),),
        export=("merged__uuid", "moved", "created_at", "undone_at"),
        description="Two leads of the person merged, and what moved (leads.work).",
    ),
    Store(
        key="consent",
        model="leads.ConsentRecord",
        lead_path="lead_id",
        fields=(),
        export=(
            "is_granted",
            "basis",
            "reason",
            "listing__name",
            "activity_id",
            "email_send_id",
            "recorded_at",
        ),
        description="Consent evidence (no personal field: kept as the record of consent).",
    ),
    Store(
        key="enrollments",
        model="leads.Enrollment",
        lead_path="lead_id",
        fields=(),
        export=(
            "campaign__name",
            "state",
            "stop_reason",
            "last_position",
            "enrolled_at",
            "last_sent_at",
            "stopped_at",
        ),
        description="Nurture enrolments.",
    ),
    Store(
        key="email_sends",
        model="leads.EmailSend",
        lead_path="enrollment__lead_id",
        # The rows stay for the campaign figures; no address or content is stored on them.
        fields=(Field("error", clear),),
        export=(
            "step__campaign__name",
            "step__position",
            "step__subject",
            "status",
            "attempts",
            "smtp_code",
            "created_at",
            "sent_at",
        ),
        description="Nurture emails sent: step, time, outcome.",
    ),
    Store(
        key="email_events",
        model="leads.EmailEvent",
        lead_path="send__enrollment__lead_id",
        # No address is kept: the send names the lead. A clicked link may carry its own
        # query string, so it goes on erasure with the ESP's reason.
        fields=(Field("url", clear), Field("detail", clear)),
        export=(
            "send__step__campaign__name",
            "send__step__position",
            "esp",
            "kind",
            "url",
            "occurred_at",
        ),
        description="What happened to a nurture email: delivered, bounced, opened, clicked…",
    ),
    Store(
        key="deliveries",
        model="crm.Delivery",
        lead_path="lead_id",
        fields=(
            Field("last_error", clear),
            Field("response_excerpt", clear),
            Field("lookup", OnErase.WIPED_WHEN_DELIVERED, is_exported=False),
        ),
        export=(
            "target__name",
            "target__kind",
            "event",
            "status",
            "attempts",
            "last_status_code",
            "created_at",
            "delivered_at",
        ),
        description="Deliveries to CRM targets (target name and kind, time, outcome).",
    ),
    Store(
        key="referrals",
        model="leads.Referral",
        lead_path="lead_id",
        fields=(
            Field("name", clear),
            Field("customer_name", clear),
            Field("customer_need", clear),
            Field("seller_name", clear),
            Field("seller_email", clear),
            Field("seller_phone", clear),
            Field("status_reason", clear),
            Field("raw", clear, json_paths=("*",)),
        ),
        export=(
            "partner_center_id",
            "status",
            "substatus",
            "deal_value",
            "currency",
            "close_date",
            "created_at",
            "updated_at",
        ),
        description="Co-Sell referrals from Partner Center.",
    ),
    Store(
        key="inbound_items",
        model="inbound.InboundItem",
        lead_path="activity__lead_id",
        fields=(
            Field("body", clear),
            Field("reason", clear),
            Field("dedupe_key", OnErase.PLACEHOLDER, _erased_key()),
        ),
        export=("received_at", "status", "reason_code", "processed_at"),
        description="Bodies Partner Center handed over (webhook, Azure Table).",
    ),
    Store(
        key="suppressions",
        model="leads.Suppression",
        lead_path=None,  # by the address's keyed hash
        fields=(Field("email_hash", OnErase.KEEP_HASH), Field("detail", clear)),
        export=("publisher__name", "reason", "created_at"),
        description="The suppression list: only a keyed hash of the address stays.",
    ),
    Store(
        key="saved_views",
        model="leads.SavedView",
        lead_path=None,  # a member's search text, by the words of the person's name or address
        fields=(Field("search", clear),),
        export=("publisher__name", "name", "created_at"),
        description="Members' saved views of the lead list: the search text may name a "
        "person; erasure clears it where it holds the address or the name.",
    ),
    Store(
        key="admin_log",
        model="admin.LogEntry",
        lead_path=None,  # by content type and object id of the rows above
        fields=(
            Field("object_repr", OnErase.PLACEHOLDER, ERASED),
            Field("change_message", clear),
        ),
        description="The admin's history of changes to the lead's rows.",
    ),
)

STORE_BY_KEY = {store.key: store for store in STORES}

# Every field of the project's models that looks personal but is not a lead's personal
# data, with the reason. The registry test reads it.
NOT_PERSONAL: dict[str, dict[str, str]] = {
    "portal.Publisher": {
        "name": "the publisher's business name",
        "slug": "derived from the business name",
        "lead_contact_email": "the publisher's business contact",
        "postal_address": "the publisher's business address (CAN-SPAM footer)",
    },
    "leads.Lead": {"score_breakdown": "scoring rule names and points"},
    "leads.LeadMerge": {"moved": "row ids only"},
    "leads.LeadActivity": {"external_id": "the storefront's opaque lead id (or a replay key)"},
    "leads.ConsentRecord": {"policy": "the listing's consent policy as it was"},
    "leads.Referral": {
        "partner_center_id": "Partner Center's opaque id",
        "engagement_id": "Partner Center's opaque id",
        "push_error": "the Referrals API's error text, about the request",
        "pending_change": "JSON Patch of status and substatus only",
    },
    "leads.Listing": {"name": "the publisher's offer name"},
    "leads.Campaign": {"name": "the publisher's campaign name"},
    "leads.NurtureStep": {
        "subject": "a template with placeholders, not a rendered email",
        "body": "a template with placeholders, not a rendered email",
    },
    "leads.ScoringRule": {"name": "the rule's name"},
    "leads.EmailSend": {"message_id": "a random Message-ID or the ESP's opaque id"},
    "leads.SendingIdentity": {
        "from_email": "the publisher's own sending address, a business address, not a lead's",
        "domain": "the publisher's sending domain",
        "dkim_selector": "a DNS label",
        "dkim_key": "the publisher's encrypted DKIM private key, a secret, not personal data",
        "dkim_public_key": "the public half of the publisher's DKIM key",
        "check_results": "the publisher's DNS TXT records as found, public data",
    },
    "leads.RescoreRun": {"error": "a job's error"},
    "retention.RetentionRunPublisher": {"error": "an exception's class name, never its text"},
    "leads.ApiKey": {"name": "the key's label"},
    "leads.PublisherApiToken": {"name": "the token's label"},
    "leads.NotificationPreference": {"time_zone": "a member's setting"},
    "leads.NotificationEmail": {"error": "SMTP error of a member's email, not the lead's"},
    "leads.LeadDailyStat": {},
    "leads.LeadRollupState": {},
    "leads.LeadCohortStat": {},
    "leads.LeadCohortDirty": {},
    "leads.SavedView": {
        "name": "the member's label for a view of the list",
        "filters": "codes and ids of the list's filters; the search text is `search`",
        "columns": "keys of the list's columns",
    },
    "crm.CrmTarget": {
        "name": "the target's name",
        "config": "encrypted connection settings and secrets",
        "extra_fields": "constant fields added to every payload",
        "paused_reason": "why the target was paused",
    },
    "crm.ReferralConnection": {
        "username": "the publisher's Partner Center service user",
        "secrets": "encrypted credentials",
        "last_error": "the Referrals API's error text",
        "last_counts": "counts of the last sync",
    },
    "inbound.InboundSource": {
        "config": "encrypted storage account settings",
        "table_name": "the Azure table's name",
        "last_error": "the source's last read error, about the connection",
        "read_cursor": "the Azure Table read's continuation token",
    },
    "inbound.InboundItem": {"reason_code": "a code, such as unknown-offer"},
    "privacy.AccessLogEntry": {
        "username": "the staff member or owner who acted",
        "object_ids": "row ids only",
    },
    "privacy.ErasureRecord": {
        "requested_by_name": "the staff member or owner who asked",
        "reason": "why the erasure was asked for, written by staff",
        "email_hashes": "keyed hashes (HMAC-SHA256), never an address",
        "lead_ids": "row ids only",
        "recipients": "target names, kinds and outcomes",
        "counts": "row counts per store",
    },
}

# Stores outside the project's tables (docs/privacy.md lists them for the DPO).
OTHER_STORES: dict[str, str] = {
    "cache": "Redis holds counts only (the dashboard's funnel, delivery health); erasure "
    "recomputes the publisher's funnel.",
    "journal": "The erasure journal file (PRIVACY_JOURNAL_PATH): keyed hashes and lead ids.",
    "crm": "Every CRM target that received the lead gets an erasure delivery (Art. 19).",
    "axes": "Sign-in attempts (usernames and addresses of staff and members), not leads; "
    "kept by django-axes' own retention.",
    "csv_import": "A CSV import keeps no file: its rows become activities (raw payload) "
    "and replay keys, erased with them.",
    "backups": "Database dumps (deploy/restore_drill.py backup) hold the leads as they were; "
    "every restore is followed by replay_erasures. Their manifests hold row counts and one "
    "checksum per table.",
}

PERSONAL_HINTS = (
    "name",
    "email",
    "phone",
    "address",
    "title",
    "company",
    "description",
    "notes",
    "body",
    "payload",
    "message",
    "reason",
    "detail",
    "error",
    "excerpt",
    "raw",
    "need",
    "source",
    "repr",
    "comment",
    "ip",
)


def looks_personal(field) -> bool:
    """A model field that could hold a person's data: a text or JSON column, or a name
    that says so. Keys, booleans, numbers and times never do."""
    from django.db import models

    if not getattr(field, "concrete", False) or field.is_relation:
        return False
    if isinstance(field, models.TextField | models.JSONField | models.EmailField):
        return True
    if isinstance(field, models.CharField) and not field.choices:
        return any(hint in field.name for hint in PERSONAL_HINTS)
    return False


def registered_fields() -> dict[str, set[str]]:
    """Model label -> the fields the registry covers, personal or not."""
    covered: dict[str, set[str]] = {}
    for store in STORES:
        covered.setdefault(store.model, set()).update(store.field_names)
    for label, fields in NOT_PERSONAL.items():
        covered.setdefault(label, set()).update(fields)
    return covered
