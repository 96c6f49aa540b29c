"""What the lead page shows of working the lead: owner, next step, notes and merges, with
the forms to change them (bound ones, when an action was refused, keep their errors)."""

from django.utils import timezone

from leads.models import Lead
from leads.work import selectors
from leads.work.forms import LeadMergeForm, LeadNoteForm, LeadOwnerForm, NextStepForm
from leads.work.services import note_may_delete, note_may_edit


def work_context(request, lead: Lead, forms: dict) -> dict:
    """The lead page's working context; `forms` replaces the blank forms by bound ones."""
    notes = list(selectors.notes_of_lead(lead=lead))
    for note in notes:
        note.may_edit = note_may_edit(note=note, user=request.user)
        note.may_delete = note_may_delete(note=note, membership=request.membership)
    # Active merges, newest first: only the newest can be undone (merge_may_undo).
    merges = selectors.merges_into_lead(lead=lead)
    for position, merge in enumerate(merges):
        merge.may_undo = position == 0
    today = timezone.localdate()
    return {
        "owner_form": forms.get("owner_form")
        or LeadOwnerForm(publisher=request.publisher, initial={"owner": lead.owner_id or ""}),
        "note_form": forms.get("note_form") or LeadNoteForm(),
        "next_step_form": forms.get("next_step_form")
        or NextStepForm(initial={"next_step": lead.next_step, "next_step_due": lead.next_step_due}),
        "merge_form": forms.get("merge_form") or LeadMergeForm(),
        "notes": notes,
        "merges": merges,
        "next_step_overdue": bool(
            lead.next_step_due and not lead.next_step_done_at and lead.next_step_due < today
        ),
    }
