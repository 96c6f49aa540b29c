"""Working a lead: assign an owner, notes, the next step, merge and undo, and "My leads".

Every view finds the lead through a selector scoped by the current publisher (another
publisher's lead is a 404), then calls one service of `leads.work.services`. A refused
action renders the lead page again, with the form's errors next to their fields.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from leads.lifecycle import selectors as lead_selectors
from leads.views.leads import lead_detail_render
from leads.work import selectors, services
from leads.work.forms import LeadMergeForm, LeadNoteForm, LeadOwnerForm, NextStepForm
from portal.tenancy.decorators import found_or_404, publisher_required

MY_LEADS_PAGE_SIZE = 25


def _lead(request, lead_id):
    lead = lead_selectors.lead_get_for_publisher(
        publisher=request.publisher, lead_uuid=lead_id, with_transitions=True
    )
    return found_or_404(lead, _("No such lead."))


def _to_lead(lead, anchor: str):
    return redirect(reverse("lead-detail", kwargs={"lead_id": lead.uuid}) + f"#{anchor}")


def _lead_form_save(request, lead, form, *, form_name: str, field: str, save, saved: str):
    """Call `save` with a valid form's data and go back to the lead's work section; an
    invalid form, or a save refused with a ValidationError (its message on `field`),
    renders the lead page again with the form (400)."""
    if form.is_valid():
        try:
            save(form.cleaned_data)
        except ValidationError as exc:
            form.add_error(field, exc)
        else:
            messages.success(request, saved)
            return _to_lead(lead, "work")
    return lead_detail_render(request, lead, status=400, **{form_name: form})


@publisher_required
@require_POST
def lead_assign(request, lead_id):
    """Give the lead to a member of the publisher, or to nobody."""
    lead = _lead(request, lead_id)
    return _lead_form_save(
        request,
        lead,
        LeadOwnerForm(request.POST, publisher=request.publisher),
        form_name="owner_form",
        field="owner",
        save=lambda data: services.leads_assign(
            publisher=request.publisher, lead_ids=[lead.pk], owner_id=data["owner"]
        ),
        saved=_("The lead's owner is saved."),
    )


@publisher_required
@require_POST
def lead_next_step(request, lead_id):
    """Set, change or clear the lead's next step and its due date."""
    lead = _lead(request, lead_id)
    return _lead_form_save(
        request,
        lead,
        NextStepForm(request.POST),
        form_name="next_step_form",
        field="next_step",
        save=lambda data: services.next_step_set(
            lead=lead, text=data["next_step"], due=data["next_step_due"]
        ),
        saved=_("The next step is saved."),
    )


@publisher_required
@require_POST
def lead_next_step_done(request, lead_id):
    """Mark the next step done (`done=1`) or not done again (`done=0`)."""
    lead = _lead(request, lead_id)
    try:
        services.next_step_mark(lead=lead, is_done=request.POST.get("done") == "1")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return _to_lead(lead, "work")


@publisher_required
@require_POST
def lead_note_add(request, lead_id):
    """Write a note on the lead."""
    lead = _lead(request, lead_id)
    form = LeadNoteForm(request.POST)
    if form.is_valid():
        services.note_add(lead=lead, author=request.user, body=form.cleaned_data["body"])
        messages.success(request, _("The note is saved."))
        return _to_lead(lead, "notes")
    return lead_detail_render(request, lead, note_form=form, status=400)


def _note(request, lead_id, note_id):
    note = selectors.note_get_for_publisher(
        publisher=request.publisher, lead_uuid=lead_id, note_id=note_id
    )
    return found_or_404(note, _("No such note."))


@publisher_required
@require_http_methods(["GET", "POST"])
def lead_note_edit(request, lead_id, note_id):
    """Change a note's text: its author only."""
    note = _note(request, lead_id, note_id)
    if not services.note_may_edit(note=note, user=request.user):
        raise PermissionDenied(_("Only the note's author can edit it."))
    form = LeadNoteForm(request.POST or None, initial={"body": note.body})
    if request.method == "POST" and form.is_valid():
        services.note_edit(note=note, by=request.user, body=form.cleaned_data["body"])
        messages.success(request, _("The note is saved."))
        return _to_lead(note.lead, "notes")
    status = 400 if request.method == "POST" else 200
    return render(request, "leads/note_edit.html", {"note": note, "form": form}, status=status)


@publisher_required
@require_POST
def lead_note_delete(request, lead_id, note_id):
    """Delete a note: its author, or an owner of the publisher."""
    note = _note(request, lead_id, note_id)
    if not services.note_may_delete(note=note, membership=request.membership):
        raise PermissionDenied(_("Only the note's author or an owner can delete it."))
    services.note_delete(note=note, membership=request.membership)
    messages.success(request, _("The note is deleted."))
    return _to_lead(note.lead, "notes")


@publisher_required
@require_POST
def lead_merge(request, lead_id):
    """Merge this lead and another of the same person; the survivor's page shows both."""
    lead = _lead(request, lead_id)
    form = LeadMergeForm(request.POST)
    if form.is_valid():
        other = selectors.lead_get_by_email(
            publisher=request.publisher, email=form.cleaned_data["other_email"], origin=lead.origin
        )
        if other is None:
            form.add_error("other_email", _("This publisher has no other lead with this address."))
        else:
            keep_this = form.cleaned_data["survivor"] == LeadMergeForm.SURVIVOR_THIS
            survivor, merged = (lead, other) if keep_this else (other, lead)
            try:
                services.lead_merge(
                    publisher=request.publisher,
                    survivor_id=survivor.pk,
                    merged_id=merged.pk,
                    by=request.user,
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(
                    request, _("%(merged)s is merged into this lead.") % {"merged": merged.email}
                )
                return _to_lead(survivor, "merges")
    return lead_detail_render(request, lead, merge_form=form, status=400)


@publisher_required
@require_POST
def lead_merge_undo(request, merge_id):
    """Undo a merge: both leads are again as they were before it."""
    merge = found_or_404(
        selectors.merge_get_for_publisher(publisher=request.publisher, merge_id=merge_id),
        _("No such merge."),
    )
    try:
        services.lead_merge_undo(merge=merge, by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("The merge is undone: %(merged)s is a lead again.") % {"merged": merge.merged},
        )
    return _to_lead(merge.survivor, "merges")


@publisher_required
@require_GET
def leads_mine(request):
    """The current user's leads: overdue next steps first, then by due date."""
    today = timezone.localdate()
    leads = selectors.my_leads(publisher=request.publisher, user=request.user, today=today)
    page = Paginator(leads, MY_LEADS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "leads/my_leads.html", {"page": page, "today": today})
