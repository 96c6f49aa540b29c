"""The URL parameters of the tenancy matrix's routes, built from publisher A's rows
(tests/portal/test_tenancy_matrix.py), and where A's actions redirect."""

from collections.abc import Callable

from leads.models import Lead, LeadMerge, LeadNote
from leads.work.services import lead_merge


def _campaign(w):
    return {"campaign_id": w.a.campaigns[0].pk}


def _step(w):
    return {**_campaign(w), "step_id": w.a.step.pk}


def _target(w):
    return {"target_id": w.a.target.pk}


def _to_sequence(w):
    return f"/campaigns/{w.a.campaigns[0].pk}/sequence/"


def _to_target(w):
    return f"/crm/targets/{w.a.target.pk}/"


def _listing(w):
    return {"listing_id": w.a.listing.pk}


def _to_inbound(w):
    return f"/listings/{w.a.listing.pk}/#inbound"


def _table(w):
    return {"source_id": w.a.table_source.pk}


def _to_table(w):
    return f"/inbound/tables/{w.a.table_source.pk}/"


def _lead(w):
    return {"lead_id": w.a.lead.uuid}


def _to_lead(anchor: str) -> Callable:
    return lambda w: f"/leads/{w.a.lead.uuid}/#{anchor}"


def _note(w):
    """A note of A's owner on A's lead (made inside the test's savepoint)."""
    note, _created = LeadNote.objects.get_or_create(
        lead=w.a.lead, author=w.a.owner, defaults={"body": "alphaqz note"}
    )
    return {**_lead(w), "note_id": note.pk}


def _other_lead(w):
    return Lead.objects.filter(publisher=w.a.publisher, origin="marketplace").exclude(
        pk=w.a.lead.pk
    )[0]


def _merge(w):
    """An active merge into A's lead (made inside the test's savepoint)."""
    merge = LeadMerge.objects.filter(survivor=w.a.lead, undone_at__isnull=True).first()
    if merge is None:
        merge = lead_merge(
            publisher=w.a.publisher, survivor_id=w.a.lead.pk, merged_id=_other_lead(w).pk, by=None
        )
    return {"merge_id": merge.pk}


def _saved_view(w):
    return {"view_id": w.a.saved_view.pk}
