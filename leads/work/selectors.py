"""Reads for working leads. Every selector takes the publisher (or a lead already scoped to it)."""

from datetime import date
from uuid import UUID

from django.db.models import BooleanField, Case, F, Q, QuerySet, Value, When

from leads.models import Lead, LeadMerge, LeadNote
from portal.tenancy.models import Membership


def member_choices(*, publisher) -> list[tuple[int, str]]:
    """The publisher's members as (user id, name) for an owner picker, by name."""
    memberships = Membership.objects.filter(publisher=publisher).select_related("user")
    users = [membership.user for membership in memberships]
    return sorted(
        ((user.pk, user.get_full_name() or user.get_username()) for user in users),
        key=lambda choice: choice[1].lower(),
    )


def notes_of_lead(*, lead: Lead) -> QuerySet[LeadNote]:
    """The lead's notes, newest first, with their authors."""
    return (
        LeadNote.objects.filter(lead=lead).select_related("author").order_by("-created_at", "-id")
    )


def note_get_for_publisher(*, publisher, lead_uuid: UUID, note_id: int) -> LeadNote | None:
    """One note of one of the publisher's leads; another publisher's is None."""
    return (
        LeadNote.objects.filter(pk=note_id, lead__uuid=lead_uuid, lead__publisher=publisher)
        .select_related("lead", "author")
        .first()
    )


def merges_into_lead(*, lead: Lead) -> list[LeadMerge]:
    """The merges whose survivor is this lead and that are not undone, newest first."""
    return list(
        LeadMerge.objects.filter(survivor=lead, undone_at__isnull=True)
        .select_related("merged", "merged_by")
        .order_by("-created_at", "-id")
    )


def merge_get_for_publisher(*, publisher, merge_id: int) -> LeadMerge | None:
    return (
        LeadMerge.objects.filter(publisher=publisher, pk=merge_id)
        .select_related("survivor", "merged")
        .first()
    )


def lead_get_by_email(*, publisher, email: str, origin: str) -> Lead | None:
    """The publisher's lead of this origin with this address (normalized), merged or not."""
    return Lead.objects.filter(
        publisher=publisher, origin=origin, email_normalized=Lead.normalize_email(email)
    ).first()


def my_leads(*, publisher, user, today: date) -> QuerySet[Lead]:
    """The user's leads of the publisher: overdue next steps first, then by due date (open
    steps before done ones and leads without a step), then newest."""
    open_step = Q(next_step_due__isnull=False, next_step_done_at__isnull=True)
    return (
        Lead.objects.filter(publisher=publisher, owner=user, merged_into__isnull=True)
        .annotate(
            is_overdue=Case(
                When(open_step & Q(next_step_due__lt=today), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
            has_open_step=Case(
                When(open_step, then=Value(True)), default=Value(False), output_field=BooleanField()
            ),
        )
        .order_by(
            "-is_overdue",
            "-has_open_step",
            F("next_step_due").asc(nulls_last=True),
            "-created_at",
            "-id",
        )
    )
