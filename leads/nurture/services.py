"""Nurture sequences: editing steps, starting a sequence, enrolling and stopping leads.

Enrolment (DESIGN §1): a lead joins the sequence of the campaign it is
attributed to when the sequence runs, the lead is a marketplace lead (never Co-Sell,
never a test lead), it may be nurtured, its address is not suppressed for the publisher,
and it is not enrolled yet (the unique (lead, campaign) pair, ON CONFLICT DO NOTHING).
Intake calls `enrollments_create` once per batch.

May be nurtured (leads.consent.policy): the lead stated its consent, or it stated nothing
and the consent policy of the listing its activity came through granted it. Such a
policy grant enrols the lead only in a campaign that contains that listing (contact
about this offer), while the policy is still on, and the enrolment keeps the listing
(`consent_listing`) so that the sender re-checks its policy before each step.

A lead leaves every sequence when it becomes accepted, won, lost or disqualified, when
it acquires the offer (a new INS or Create activity), and when its address is
suppressed (unsubscribe, bounce). The sender re-checks status, consent and suppression
before each message, so a stop missed here still sends nothing.

Sending lives in leads.nurture.send; rendering in leads.nurture.render.
"""

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.models import Campaign, CampaignListing, Lead, LeadActivity
from leads.nurture import address_hash
from leads.nurture.models import EmailSend, Enrollment, NurtureSequence, NurtureStep
from leads.nurture.render import template_errors
from leads.nurture.unsubscribe import suppressed_addresses

logger = logging.getLogger(__name__)

# Lead statuses that end a sequence: the lead is a sales opportunity now, or out.
STOP_STATUSES = frozenset(
    {Lead.Status.ACCEPTED, Lead.Status.WON, Lead.Status.LOST, Lead.Status.DISQUALIFIED}
)
# Action codes that mean the lead acquired the offer.
ACQUIRED_ACTIONS = frozenset({LeadActivity.ActionCode.INS, LeadActivity.ActionCode.CREATE})


# --- Editing --------------------------------------------------------------------------------


def sequence_for(*, campaign: Campaign) -> NurtureSequence:
    """The campaign's sequence row, created as a draft on first use."""
    sequence, _created = NurtureSequence.objects.get_or_create(campaign=campaign)
    return sequence


@transaction.atomic
def step_save(
    *,
    campaign: Campaign,
    step: NurtureStep | None,
    delay_minutes: int,
    subject: str,
    body: str,
    stop_condition: str = "",
) -> NurtureStep:
    """Add a step at the end of the sequence, or edit one; templates are checked first."""
    errors = {}
    for field, text in (("subject", subject), ("body", body)):
        if template_errors(text):
            errors[field] = template_errors(text)
    if errors:
        raise ValidationError(errors)
    if step is None:
        Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
        last = campaign.nurture_steps.aggregate(last=Max("position"))["last"] or 0
        step = NurtureStep(campaign=campaign, position=last + 1)
    elif step.campaign_id != campaign.pk:
        raise ValidationError(_("This step belongs to another campaign."))
    step.delay_minutes, step.subject, step.body = delay_minutes, subject, body
    step.stop_condition = stop_condition
    step.full_clean()
    step.save()
    sequence_for(campaign=campaign)
    return step


@transaction.atomic
def step_delete(*, step: NurtureStep) -> None:
    """Delete a step that was never sent; a sent step keeps its figures and stays."""
    if EmailSend.objects.filter(step=step).exists():
        raise ValidationError(
            _("This step has been sent already; edit it instead of deleting it."),
            code="step_sent",
        )
    step.delete()


@transaction.atomic
def sequence_start(*, campaign: Campaign, by=None) -> NurtureSequence:
    """Start (or resume) a sequence: it needs steps and the publisher's postal address."""
    publisher = campaign.publisher
    if not publisher.postal_address.strip():
        raise ValidationError(
            _(
                "Add your postal address in Settings first: every nurture email must "
                "carry it (CAN-SPAM)."
            ),
            code="postal_address_required",
        )
    if not campaign.nurture_steps.exists():
        raise ValidationError(_("Add at least one step first."), code="no_steps")
    sequence = NurtureSequence.objects.select_for_update().get(
        pk=sequence_for(campaign=campaign).pk
    )
    if sequence.status != NurtureSequence.Status.RUNNING:
        sequence.status = NurtureSequence.Status.RUNNING
        sequence.started_at = sequence.started_at or timezone.now()
        sequence.started_by = sequence.started_by or by
        sequence.save(update_fields=["status", "started_at", "started_by", "updated_at"])
    return sequence


@transaction.atomic
def sequence_pause(*, campaign: Campaign) -> NurtureSequence:
    """Pause a sequence: nothing is sent and nobody is enrolled until it runs again."""
    sequence = NurtureSequence.objects.select_for_update().get(
        pk=sequence_for(campaign=campaign).pk
    )
    if sequence.status == NurtureSequence.Status.RUNNING:
        sequence.status = NurtureSequence.Status.PAUSED
        sequence.save(update_fields=["status", "updated_at"])
    return sequence


def sequence_click_tracking_set(*, campaign: Campaign, is_on: bool) -> NurtureSequence:
    """Turn the signed click tracking of a campaign's links on or off (docs/email.md)."""
    sequence = sequence_for(campaign=campaign)
    if sequence.click_tracking != is_on:
        sequence.click_tracking = is_on
        sequence.save(update_fields=["click_tracking", "updated_at"])
    return sequence


# --- Enrolling and stopping ---------------------------------------------------------------------

# One statement for a whole intake batch: the candidates come in as VALUES (lead,
# campaign, and the listing whose policy granted consent or NULL), the running sequence,
# its first step, consent and suppression are checked in the join.
_ENROL_SQL = """
INSERT INTO leads_enrollment
    (lead_id, campaign_id, state, stop_reason, last_position, soft_failures,
     enrolled_at, next_send_at, consent_listing_id)
SELECT l.id, v.campaign_id, 'active', '', 0, 0, %s::timestamptz,
       %s::timestamptz + make_interval(mins => first_step.delay_minutes),
       CASE WHEN l.marketing_consent THEN NULL ELSE v.listing_id END
FROM (VALUES {rows}) AS v(lead_id, campaign_id, listing_id)
JOIN leads_lead l ON l.id = v.lead_id
JOIN leads_nurturesequence s ON s.campaign_id = v.campaign_id AND s.status = 'running'
JOIN LATERAL (
    SELECT st.delay_minutes FROM leads_nurturestep st
    WHERE st.campaign_id = v.campaign_id ORDER BY st.position LIMIT 1
) AS first_step ON TRUE
WHERE l.origin = 'marketplace' AND NOT l.is_test
  AND (l.marketing_consent OR (
    l.marketing_consent_at IS NULL AND EXISTS (
      SELECT 1 FROM leads_campaignlisting cl
      JOIN leads_listing li ON li.id = cl.listing_id
      WHERE cl.campaign_id = v.campaign_id AND cl.listing_id = v.listing_id
        AND li.nurture_on_offer_consent)))
  AND l.status NOT IN ('accepted', 'won', 'lost', 'disqualified')
  AND NOT {suppressed}
ON CONFLICT (lead_id, campaign_id) DO NOTHING
"""

# A candidate: (lead id, campaign id), or (lead id, campaign id, the id of the listing
# whose consent policy granted consent, or None).
Candidate = tuple[int, int] | tuple[int, int, int | None]


def _candidates(pairs: Iterable[Candidate]) -> list[tuple[int, int, int | None]]:
    """One (lead, campaign, listing) per pair, sorted; a policy listing wins over none."""
    chosen: dict[tuple[int, int], int | None] = {}
    for lead_id, campaign_id, *listing in pairs:
        key = (lead_id, campaign_id)
        chosen[key] = chosen.get(key) or (listing[0] if listing else None)
    return [
        (lead_id, campaign_id, chosen[lead_id, campaign_id])
        for lead_id, campaign_id in sorted(chosen)
    ]


def enrollments_create(*, pairs: Iterable[Candidate], now: datetime | None = None) -> int:
    """Enrol the candidates that may be nurtured; one query on PostgreSQL."""
    pairs = _candidates(pairs)
    if not pairs:
        return 0
    now = now or timezone.now()
    if connection.vendor != "postgresql":
        return _enrollments_create_portable(pairs, now)
    rows = ", ".join(["(%s::bigint, %s::bigint, %s::bigint)"] * len(pairs))
    suppressed, suppressed_params = address_hash.suppressed_sql(
        publisher_column="l.publisher_id", email_column="l.email_normalized"
    )
    params: list = [now, now]
    for candidate in pairs:
        params.extend(candidate)
    params.extend(suppressed_params)
    # Only placeholders and our own identifiers: see _ENROL_SQL and address_hash.
    sql = _ENROL_SQL.format(rows=rows, suppressed=suppressed)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _enrollments_create_portable(pairs: list[tuple[int, int, int | None]], now: datetime) -> int:
    """The same rules in four ORM queries, for the first-run SQLite database."""
    first_delay: dict[int, int] = {}
    steps = NurtureStep.objects.filter(
        campaign_id__in={c for _l, c, _s in pairs},
        campaign__nurture_sequence__status=NurtureSequence.Status.RUNNING,
    ).order_by("campaign_id", "-position")
    for campaign_id, delay in steps.values_list("campaign_id", "delay_minutes"):
        first_delay[campaign_id] = delay  # the lowest position comes last and wins
    leads = {
        lead.pk: lead
        for lead in Lead.objects.filter(pk__in={lead_id for lead_id, _c, _s in pairs})
        if lead.origin == Lead.Origin.MARKETPLACE
        and not lead.is_test
        and lead.status not in STOP_STATUSES
    }
    policy_links = set(
        CampaignListing.objects.filter(
            listing_id__in={s for _l, _c, s in pairs if s}, listing__nurture_on_offer_consent=True
        ).values_list("campaign_id", "listing_id")
    )
    suppressed = suppressed_addresses(
        pairs={(lead.publisher_id, lead.email_normalized) for lead in leads.values()}
    )
    rows = []
    for lead_id, campaign_id, listing_id in pairs:
        lead = leads.get(lead_id)
        if campaign_id not in first_delay or lead is None:
            continue
        if (lead.publisher_id, lead.email_normalized) in suppressed:
            continue
        if not lead.marketing_consent and (
            lead.marketing_consent_at is not None or (campaign_id, listing_id) not in policy_links
        ):
            continue
        rows.append(
            Enrollment(
                lead_id=lead_id,
                campaign_id=campaign_id,
                enrolled_at=now,
                next_send_at=now + timedelta(minutes=first_delay[campaign_id]),
                consent_listing_id=None if lead.marketing_consent else listing_id,
            )
        )
    return len(Enrollment.objects.bulk_create(rows, ignore_conflicts=True))


def enrollments_stop(*, lead_ids: Iterable[int], reason: str, now: datetime | None = None) -> int:
    """Stop every active enrolment of these leads; one UPDATE."""
    lead_ids = list(set(lead_ids))
    if not lead_ids:
        return 0
    now = now or timezone.now()
    active, stopped = Enrollment.State.ACTIVE, Enrollment.State.STOPPED
    if connection.vendor != "postgresql":
        return Enrollment.objects.filter(lead_id__in=lead_ids, state=active).update(
            state=stopped, stop_reason=reason, stopped_at=now, next_send_at=None
        )
    # Intake calls this for most posts: one fixed statement, no queryset built per call.
    with connection.cursor() as cursor:
        cursor.execute(_STOP_SQL, [stopped, reason, now, lead_ids, active])
        return cursor.rowcount


_STOP_SQL = (
    f'UPDATE "{Enrollment._meta.db_table}" SET "state" = %s, "stop_reason" = %s, '  # noqa: S608
    '"stopped_at" = %s, "next_send_at" = NULL WHERE "lead_id" = ANY(%s) AND "state" = %s'
)


def intake_batch_nurture(
    *, activities: list[LeadActivity], now: datetime, policy_grants: set[int] = frozenset()
) -> None:
    """Intake's hook: stop leads that acquired the offer, enrol the newly attributed
    (`policy_grants`: the ids of activities whose listing's policy granted consent)."""
    acquired = {
        a.lead_id for a in activities if a.action_code in ACQUIRED_ACTIONS and not a.is_test
    }
    enrollments_stop(lead_ids=acquired, reason=Enrollment.StopReason.ACQUIRED, now=now)
    # A lead that has just acquired the offer is not worth a "why not try us" email.
    enrollments_create(
        pairs=(
            (a.lead_id, a.campaign_id, a.listing_id if a.pk in policy_grants else None)
            for a in activities
            if a.campaign_id and not a.is_test and a.lead_id not in acquired
        ),
        now=now,
    )


def lead_status_changed(*, lead: Lead) -> None:
    """lead_transition's hook: an opportunity, a win, a loss or a disqualification stops."""
    if lead.status in STOP_STATUSES:
        enrollments_stop(lead_ids=[lead.pk], reason=Enrollment.StopReason.STATUS)


@transaction.atomic
def enrollment_stop_by_staff(*, enrollment: Enrollment) -> Enrollment:
    """Staff stop one enrolment by hand."""
    enrollments = Enrollment.objects.filter(pk=enrollment.pk, state=Enrollment.State.ACTIVE)
    enrollments.update(
        state=Enrollment.State.STOPPED,
        stop_reason=Enrollment.StopReason.STAFF,
        stopped_at=timezone.now(),
        next_send_at=None,
    )
    enrollment.refresh_from_db()
    return enrollment


@transaction.atomic
def email_send_release(*, send: EmailSend) -> EmailSend:
    """Staff: let an interrupted step go out again (it may then arrive twice)."""
    send = EmailSend.objects.select_for_update().get(pk=send.pk)
    if send.status != EmailSend.Status.INTERRUPTED:
        raise ValidationError(_("Only an interrupted send can be released."))
    if send.enrollment.state == Enrollment.State.STOPPED:
        raise ValidationError(_("Its enrolment was stopped; it stays stopped."))
    send.status = EmailSend.Status.DEFERRED
    send.save(update_fields=["status"])
    Enrollment.objects.filter(pk=send.enrollment_id).update(
        state=Enrollment.State.ACTIVE,
        last_position=send.step.position - 1,
        next_send_at=timezone.now(),
        stop_reason="",
        stopped_at=None,
    )
    return send
