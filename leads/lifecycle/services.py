"""A lead's status changes, and the one door from leads to crm.

Intake and rescoring (a score reached the threshold), Co-Sell referrals (qualified by a
Microsoft seller) and people (the portal's moves) all change a lead's status the same
way: `lead_move` sets the status, when, who and why on the lead in memory, the caller
writes the lead row with its other changes, and `leads_changes_record` records the
transitions, takes the leads that left nurture out of their sequences, and hands the
delivery events to crm, in the caller's transaction. Batches pass many leads at once,
so intake keeps its fixed number of queries. No other module of leads calls crm.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Literal, NamedTuple

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Case, Exists, OuterRef, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from crm import services as crm_services
from leads.catalog.storefronts import STOREFRONT_BITS
from leads.models import Enrollment, Lead, LeadActivity, LeadTransition
from leads.nurture import services as nurture


class LeadEvent(NamedTuple):
    """What crm delivers: a lead that qualified, or a qualified lead's new activity."""

    lead: Lead
    event: Literal["qualified", "updated"]
    listing_id: int | None


def lead_move(lead: Lead, *, to_status: str, reason: str, now: datetime, by=None) -> LeadTransition:
    """Move a lead to a status in memory; returns the transition to record."""
    was = lead.status
    lead.status, lead.status_changed_at, lead.status_changed_by = to_status, now, by
    lead.status_reason = reason
    if to_status == Lead.Status.QUALIFIED:
        lead.qualified_at = now
    return LeadTransition(
        lead=lead, from_status=was, to_status=to_status, changed_by=by, reason=reason
    )


def leads_changes_record(
    *,
    transitions: list[LeadTransition],
    events: Iterable[LeadEvent],
    field_seller: bool = True,
    now: datetime | None = None,
    written: bool = False,
) -> None:
    """Record transitions, stop the nurture of leads that left it, announce events to crm.

    `written`: the caller has inserted the transitions already (intake writes its batch's
    rows set-based, leads.intake.writes)."""
    if not written:
        LeadTransition.objects.bulk_create(transitions)
    nurture.enrollments_stop(
        lead_ids=[t.lead_id for t in transitions if t.to_status in nurture.STOP_STATUSES],
        reason=Enrollment.StopReason.STATUS,
        now=now,
    )
    # Test leads never reach a CRM (Partner Center's validation leads).
    crm_services.deliveries_create(
        events=[event for event in events if not event.lead.is_test], field_seller=field_seller
    )


def leads_write(*, leads: list[Lead], fields: list[str]) -> None:
    """Write these fields of many leads in one statement.

    Django's bulk_update builds a CASE per column and row, and costs seconds for a
    thousand rows; on PostgreSQL one UPDATE … FROM (VALUES …) does the same in
    milliseconds.
    """
    if not leads:
        return
    if connection.vendor != "postgresql":
        Lead.objects.bulk_update(leads, fields)
        return
    columns = [Lead._meta.get_field(name) for name in fields]
    row = "(%s::bigint, " + ", ".join(f"%s::{c.db_type(connection)}" for c in columns) + ")"
    params: list = []
    for lead in leads:
        params.append(lead.pk)
        params.extend(c.get_db_prep_save(getattr(lead, c.attname), connection) for c in columns)
    assignments = ", ".join(f'"{c.column}" = v."{c.column}"' for c in columns)
    names = ", ".join(f'"{c.column}"' for c in columns)
    # Identifiers come from the model's own fields; every value is a bound parameter.
    values = ", ".join([row] * len(leads))
    table = Lead._meta.db_table
    sql = f'UPDATE "{table}" AS t SET {assignments} FROM (VALUES {values}) AS v(id, {names}) '  # noqa: S608
    sql += "WHERE t.id = v.id"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def leads_storefronts_refresh(*, lead_ids: Iterable[int]) -> int:
    """Recount `Lead.storefronts` of these leads from their activities, in one UPDATE; for
    writes that move or remove activities (merge, its undo). Returns the leads updated."""
    ids = list(lead_ids)
    if not ids:
        return 0
    mask = Value(0)
    for storefront, bit in STOREFRONT_BITS.items():
        has_one = Exists(LeadActivity.objects.filter(lead=OuterRef("pk"), storefront=storefront))
        mask = mask + Case(When(has_one, then=Value(bit)), default=Value(0))
    return Lead.objects.filter(pk__in=ids).update(storefronts=mask)


@transaction.atomic
def lead_transition(*, lead: Lead, to_status: str, by, reason: str) -> Lead:
    """Move a lead along its lifecycle by hand, recording who, when and why."""
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if not lead.can_move_to(to_status):
        raise ValidationError(
            _("A %(current)s lead cannot become %(target)s.")
            % {
                "current": lead.get_status_display().lower(),
                "target": str(Lead.Status(to_status).label).lower()
                if to_status in Lead.Status.values
                else to_status,
            },
            code="illegal_transition",
        )
    if not reason.strip():
        raise ValidationError(_("Say why the lead moves."), code="reason_required")
    now = timezone.now()
    transition = lead_move(lead, to_status=to_status, reason=reason.strip()[:500], now=now, by=by)
    lead.save(
        update_fields=[
            "status",
            "status_changed_at",
            "status_changed_by",
            "status_reason",
            "qualified_at",
            "updated_at",
        ]
    )
    events = []
    if to_status == Lead.Status.QUALIFIED:
        listing_id = (
            lead.activities.order_by("-occurred_at").values_list("listing_id", flat=True).first()
        )
        events.append(LeadEvent(lead, "qualified", listing_id))
    leads_changes_record(transitions=[transition], events=events, now=now)
    return lead
