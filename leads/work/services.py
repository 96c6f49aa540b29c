"""Working a lead: its owner, notes and next step, and merging two leads of one person.

Merge. Two leads of one publisher and origin that are one person (two addresses) become
one: the survivor. Activities, status transitions and notes move to it; the merged lead's
nurture enrolments (and their emails) and its CRM deliveries stay on the merged row, which
points at the survivor (`merged_into`), so the survivor's timeline shows them through the
link. The survivor's empty contact fields take the merged lead's values. The merged lead
is kept, hidden from the lists; its active nurture enrolments stop (reason "merged"),
and the survivor is scored again from the activities it now has. A `LeadMerge` row
records the ids that moved and the survivor's fields as they were; Undo moves exactly
those rows back, restores them and scores both leads again (stopped enrolments stay
stopped). Intake sends a merged address's later activities to the survivor
(leads.intake.services), and Undo leaves them there.

Both lead rows are locked with SELECT … FOR UPDATE in id order, whichever is the survivor,
so two merges of the same pair in opposite directions queue instead of deadlocking, and
the second one finds the first one's result and is refused. Intake locks a merged lead
and its survivor in the same order; in the one race where it cannot (it found a lead
merged while it waited for its lock, and then locks the survivor), PostgreSQL may report
a deadlock, and a merge or an Undo is then retried as intake's transactions are
(leads.intake.transactions.run_atomic).
"""

from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.intake.transactions import run_atomic
from leads.lifecycle.services import leads_storefronts_refresh
from leads.models import Enrollment, Lead, LeadActivity, LeadMerge, LeadNote, LeadTransition
from leads.nurture.services import enrollments_stop
from leads.scoring.rescoring import lead_rescore
from portal.tenancy.models import Membership

# The survivor's contact fields that a merge fills in when they are empty.
MERGE_FILLS = ("first_name", "last_name", "phone", "country", "company", "title")
NOTE_MAX_LENGTH = 5000


@transaction.atomic
def leads_assign(*, publisher, lead_ids: list[int], owner_id: int | None) -> int:
    """Give these leads of the publisher to one of its members (None: unassigned)."""
    if owner_id is not None:
        is_member = Membership.objects.filter(publisher=publisher, user_id=owner_id).exists()
        if not is_member:
            raise ValidationError(_("Choose a member of this publisher."), code="not_a_member")
    return Lead.objects.filter(publisher=publisher, pk__in=lead_ids).update(
        owner_id=owner_id, updated_at=timezone.now()
    )


def _note_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise ValidationError(_("Write the note."), code="required")
    if len(body) > NOTE_MAX_LENGTH:
        raise ValidationError(
            _("A note is at most %(max)d characters.") % {"max": NOTE_MAX_LENGTH}, code="max_length"
        )
    return body


def note_add(*, lead: Lead, author, body: str) -> LeadNote:
    """Write a note on a lead, signed by its author."""
    return LeadNote.objects.create(lead=lead, author=author, body=_note_body(body))


def note_may_edit(*, note: LeadNote, user) -> bool:
    """Only a note's author edits it: a note says what its author wrote."""
    return note.author_id is not None and note.author_id == user.pk


def note_may_delete(*, note: LeadNote, membership) -> bool:
    """The author deletes their note; an owner of the publisher deletes any note."""
    return note_may_edit(note=note, user=membership.user) or membership.is_owner


def note_edit(*, note: LeadNote, by, body: str) -> LeadNote:
    """Change a note's text; only its author may."""
    if not note_may_edit(note=note, user=by):
        raise ValidationError(_("Only the note's author can edit it."), code="not_author")
    note.body = _note_body(body)
    note.save(update_fields=["body", "updated_at"])
    return note


def note_delete(*, note: LeadNote, membership) -> None:
    """Delete a note: its author, or an owner of the publisher."""
    if not note_may_delete(note=note, membership=membership):
        raise ValidationError(_("Only the note's author or an owner can delete it."))
    note.delete()


def next_step_set(*, lead: Lead, text: str, due: date | None) -> Lead:
    """Set (or clear, with an empty text) the lead's next step; a new step is not done."""
    text = (text or "").strip()
    if not text and due is not None:
        raise ValidationError(_("Say what the next step is."), code="required")
    lead.next_step, lead.next_step_due = text, (due if text else None)
    lead.next_step_done_at = None
    lead.save(update_fields=["next_step", "next_step_due", "next_step_done_at", "updated_at"])
    return lead


def next_step_mark(*, lead: Lead, is_done: bool) -> Lead:
    """Mark the lead's next step done, or not done again."""
    if not lead.next_step:
        raise ValidationError(_("The lead has no next step."), code="no_step")
    lead.next_step_done_at = timezone.now() if is_done else None
    lead.save(update_fields=["next_step_done_at", "updated_at"])
    return lead


def _locked_pair(*, publisher, ids: tuple[int, int]) -> dict[int, Lead]:
    """Both leads, locked in id order (the fixed order that prevents deadlocks)."""
    rows = Lead.objects.select_for_update().filter(publisher=publisher, pk__in=ids).order_by("pk")
    return {lead.pk: lead for lead in rows}


def lead_merge(*, publisher, survivor_id: int, merged_id: int, by) -> LeadMerge:
    """Merge one lead into another of the same person; see the module's docstring."""
    return run_atomic(
        lambda: _lead_merge(
            publisher=publisher, survivor_id=survivor_id, merged_id=merged_id, by=by
        )
    )


def _lead_merge(*, publisher, survivor_id: int, merged_id: int, by) -> LeadMerge:
    if survivor_id == merged_id:
        raise ValidationError(_("A lead cannot be merged with itself."), code="same_lead")
    leads = _locked_pair(publisher=publisher, ids=(survivor_id, merged_id))
    if len(leads) != 2:
        raise ValidationError(_("No such lead."), code="not_found")
    survivor, merged = leads[survivor_id], leads[merged_id]
    if survivor.merged_into_id or merged.merged_into_id:
        raise ValidationError(_("One of these leads is already merged."), code="already_merged")
    if survivor.origin != merged.origin:
        raise ValidationError(
            _("A Co-Sell referral and a marketplace lead cannot be merged."), code="origin"
        )
    if Lead.objects.filter(merged_into=merged).exists():
        raise ValidationError(
            _("Other leads were merged into this one: merge it as the survivor instead."),
            code="has_merged",
        )
    moved = {
        "activities": list(merged.activities.values_list("pk", flat=True)),
        "transitions": list(merged.transitions.values_list("pk", flat=True)),
        "notes": list(merged.notes.values_list("pk", flat=True)),
    }
    LeadActivity.objects.filter(pk__in=moved["activities"]).update(lead=survivor)
    LeadTransition.objects.filter(pk__in=moved["transitions"]).update(lead=survivor)
    LeadNote.objects.filter(pk__in=moved["notes"]).update(lead=survivor)
    before = {}
    for name in MERGE_FILLS:
        if not getattr(survivor, name) and getattr(merged, name):
            before[name] = getattr(survivor, name)
            setattr(survivor, name, getattr(merged, name))
    if merged.last_activity_at and (
        survivor.last_activity_at is None or merged.last_activity_at > survivor.last_activity_at
    ):
        before["last_activity_at"] = (
            survivor.last_activity_at.isoformat() if survivor.last_activity_at else None
        )
        survivor.last_activity_at = merged.last_activity_at
    if survivor.owner_id is None and merged.owner_id is not None:
        before["owner_id"] = None
        survivor.owner_id = merged.owner_id
    survivor.save(update_fields=[*before, "updated_at"])
    leads_storefronts_refresh(lead_ids=[survivor.pk, merged.pk])
    merged.merged_into = survivor
    merged.save(update_fields=["merged_into", "updated_at"])
    enrollments_stop(lead_ids=[merged.pk], reason=Enrollment.StopReason.MERGED)
    lead_rescore(lead=survivor)
    return LeadMerge.objects.create(
        publisher=publisher,
        survivor=survivor,
        merged=merged,
        merged_by=by,
        moved=moved,
        survivor_before=before,
    )


def merge_may_undo(*, merge: LeadMerge) -> bool:
    """Only the survivor's latest merge is undone, so that the fields it restores are its own."""
    latest = LeadMerge.objects.filter(survivor_id=merge.survivor_id, undone_at__isnull=True).first()
    return merge.is_active and latest is not None and latest.pk == merge.pk


def lead_merge_undo(*, merge: LeadMerge, by) -> LeadMerge:
    """Undo a merge: the rows that moved go back and the survivor's fields are restored."""
    return run_atomic(lambda: _lead_merge_undo(merge=merge, by=by))


def _lead_merge_undo(*, merge: LeadMerge, by) -> LeadMerge:
    _locked_pair(publisher=merge.publisher_id, ids=(merge.survivor_id, merge.merged_id))
    merge = LeadMerge.objects.select_for_update().get(pk=merge.pk)
    if not merge_may_undo(merge=merge):
        raise ValidationError(
            _("Only the latest merge into this lead can be undone, once."), code="not_undoable"
        )
    survivor = Lead.objects.get(pk=merge.survivor_id)
    moved = merge.moved
    LeadActivity.objects.filter(pk__in=moved.get("activities", [])).update(lead=merge.merged_id)
    LeadTransition.objects.filter(pk__in=moved.get("transitions", [])).update(lead=merge.merged_id)
    LeadNote.objects.filter(pk__in=moved.get("notes", [])).update(lead=merge.merged_id)
    for name, value in merge.survivor_before.items():
        if name == "last_activity_at" and value is not None:
            value = datetime.fromisoformat(value)
        setattr(survivor, name, value)
    survivor.save(update_fields=[*merge.survivor_before, "updated_at"])
    leads_storefronts_refresh(lead_ids=[merge.survivor_id, merge.merged_id])
    merged = Lead.objects.get(pk=merge.merged_id)
    merged.merged_into = None
    merged.save(update_fields=["merged_into", "updated_at"])
    lead_rescore(lead=survivor)
    lead_rescore(lead=merged)
    merge.undone_at, merge.undone_by = timezone.now(), by
    merge.save(update_fields=["undone_at", "undone_by"])
    return merge
