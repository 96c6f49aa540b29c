"""A lead's timeline: its storefront activities, status changes, notes and nurture emails
(sends and their ESP events), and those of the leads merged into it, newest first.

One query per kind, each limited to the page's size, whatever the lead's history: the
newest `limit` entries of the union are among the newest `limit` of each kind. The CRM
deliveries are crm's rows: the portal shell adds them (portal/shell/lead_timeline.py).
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from leads.models import (
    EmailEvent,
    EmailSend,
    Lead,
    LeadActivity,
    LeadMerge,
    LeadNote,
    LeadTransition,
)


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the timeline: when, what kind, a title and a detail (plain text)."""

    at: datetime
    kind: str  # activity, status, note, email, email-event, merge, delivery
    title: str
    detail: str = ""
    by: str = ""


def of_lead(lead: Lead, path: str = "lead") -> Q:
    """Rows of the lead or of a lead merged into it."""
    return Q(**{path: lead}) | Q(**{f"{path}__merged_into": lead})


_ACTION_LABELS = dict(LeadActivity.ActionCode.choices)


def _username(user) -> str:
    return user.get_username() if user is not None else _("Lead Portal")


def lead_timeline_entries(*, lead: Lead, limit: int) -> list[TimelineEntry]:
    """The newest `limit` entries of each of leads' kinds (six queries)."""
    entries = []
    activities = LeadActivity.objects.filter(of_lead(lead)).select_related("listing")
    for row in activities.order_by("-occurred_at", "-id")[:limit]:
        label = _ACTION_LABELS.get(row.action_code) or row.action_code or _("Storefront activity")
        listing = row.listing.name if row.listing else ""
        entries.append(TimelineEntry(row.occurred_at, "activity", str(label), listing))
    transitions = LeadTransition.objects.filter(of_lead(lead)).select_related("changed_by")
    for row in transitions.order_by("-created_at", "-id")[:limit]:
        title = _("Status: %(from)s → %(to)s") % {
            "from": row.get_from_status_display(),
            "to": row.get_to_status_display(),
        }
        entries.append(
            TimelineEntry(row.created_at, "status", title, row.reason, _username(row.changed_by))
        )
    notes = LeadNote.objects.filter(of_lead(lead)).select_related("author")
    for row in notes.order_by("-created_at", "-id")[:limit]:
        entries.append(
            TimelineEntry(row.created_at, "note", _("Note"), row.body, _username(row.author))
        )
    sends = (
        EmailSend.objects.filter(of_lead(lead, "enrollment__lead"))
        .annotate(at=Coalesce("sent_at", "created_at"))
        .select_related("step")
    )
    for row in sends.order_by("-at", "-id")[:limit]:
        title = _("Email %(status)s: %(subject)s") % {
            "status": row.get_status_display().lower(),
            "subject": row.step.subject,
        }
        entries.append(TimelineEntry(row.at, "email", title))
    events = EmailEvent.objects.filter(of_lead(lead, "send__enrollment__lead")).select_related(
        "send__step"
    )
    for row in events.order_by("-occurred_at", "-id")[:limit]:
        title = _("Email %(kind)s: %(subject)s") % {
            "kind": row.get_kind_display().lower(),
            "subject": row.send.step.subject,
        }
        entries.append(TimelineEntry(row.occurred_at, "email-event", title))
    merges = LeadMerge.objects.filter(survivor=lead).select_related(
        "merged", "merged_by", "undone_by"
    )
    for row in merges.order_by("-created_at", "-id")[:limit]:
        email = row.merged.email
        title = _("Merged from %(merged)s") % {"merged": email}
        entries.append(TimelineEntry(row.created_at, "merge", title, by=_username(row.merged_by)))
        if row.undone_at:
            title = _("Merge with %(merged)s undone") % {"merged": email}
            entries.append(
                TimelineEntry(row.undone_at, "merge", title, by=_username(row.undone_by))
            )
    return entries


def timeline_page(entries: list[TimelineEntry], *, limit: int) -> tuple[list[TimelineEntry], bool]:
    """The newest `limit` entries of all kinds, and whether there are more."""
    ordered = sorted(entries, key=lambda entry: entry.at, reverse=True)
    return ordered[:limit], len(ordered) > limit
