"""Rescoring a publisher's leads after its rules change, in chunks, with progress.

Each chunk commits on its own, so the run's progress is visible while it goes, and a
lead newly over the threshold is qualified and delivered exactly as intake would.
"""

import logging

from django.db import transaction
from django.utils import timezone

from leads.lifecycle.services import LeadEvent, lead_move, leads_changes_record, leads_write
from leads.models import Lead, RescoreRun, ScoringRule
from leads.scoring.rules import (
    SCORED_FIELDS,
    RuleSpec,
    activity_facts,
    lead_assess,
    lead_facts,
    score_lead,
)

logger = logging.getLogger(__name__)

CHUNK_SIZE = 500
_WRITTEN = [*SCORED_FIELDS, "updated_at"]


def rescore_run_execute(*, run_id: int, chunk_size: int = CHUNK_SIZE) -> RescoreRun | None:
    """Rescore every marketplace lead of the run's publisher, chunk by chunk."""
    run = RescoreRun.objects.select_related("publisher").filter(pk=run_id).first()
    if run is None or run.status == RescoreRun.Status.DONE:
        return run
    leads = Lead.objects.filter(publisher=run.publisher, origin=Lead.Origin.MARKETPLACE)
    run.status, run.started_at, run.total = RescoreRun.Status.RUNNING, timezone.now(), leads.count()
    run.processed = run.requalified = 0
    run.save(update_fields=["status", "started_at", "total", "processed", "requalified"])
    rules = [
        RuleSpec.from_rule(rule)
        for rule in ScoringRule.objects.filter(publisher=run.publisher, is_active=True)
    ]
    last_pk = 0
    try:
        while True:
            done, qualified, last_pk = _rescore_chunk(run, rules, last_pk, chunk_size)
            if not done:
                break
            RescoreRun.objects.filter(pk=run.pk).update(
                processed=run.processed + done, requalified=run.requalified + qualified
            )
            run.processed += done
            run.requalified += qualified
    except Exception as exc:
        run.status, run.error, run.finished_at = RescoreRun.Status.FAILED, str(exc), timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        logger.exception("leads.rescore.failed", extra={"run_id": run.pk})
        raise
    run.status, run.finished_at = RescoreRun.Status.DONE, timezone.now()
    run.save(update_fields=["status", "finished_at"])
    return run


def lead_rescore(*, lead: Lead, now=None) -> Lead:
    """Score one marketplace lead again under its publisher's active rules, from its
    activities as they are now, and write its score and breakdown (what the lead page
    shows). Its status is left alone: a lead newly over the threshold qualifies at its
    next activity or rescoring run, as delivery follows an activity."""
    if lead.origin != Lead.Origin.MARKETPLACE:
        return lead
    now = now or timezone.now()
    rules = [
        RuleSpec.from_rule(rule)
        for rule in ScoringRule.objects.filter(publisher_id=lead.publisher_id, is_active=True)
    ]
    facts = lead_facts(lead, activity_facts(lead_ids=[lead.pk])[lead.pk])
    result = score_lead(rules, facts, now=now)
    lead.score, lead.score_breakdown, lead.updated_at = result.score, result.breakdown, now
    lead.save(update_fields=["score", "score_breakdown", "updated_at"])
    return lead


@transaction.atomic
def _rescore_chunk(run: RescoreRun, rules, after_pk: int, size: int) -> tuple[int, int, int]:
    now = timezone.now()
    leads = list(
        Lead.objects.select_for_update(of=("self",))
        .filter(publisher=run.publisher, origin=Lead.Origin.MARKETPLACE, pk__gt=after_pk)
        .select_related("latest_campaign")
        .order_by("pk")[:size]
    )
    if not leads:
        return 0, 0, after_pk
    facts = activity_facts(lead_ids=[lead.pk for lead in leads])
    transitions, events = [], []
    for lead in leads:
        assessment = lead_assess(
            lead,
            facts[lead.pk],
            rules,
            publisher_threshold=run.publisher.qualification_threshold,
            campaign=lead.latest_campaign,
            now=now,
        )
        result = assessment.result
        lead.score, lead.score_breakdown, lead.updated_at = result.score, result.breakdown, now
        if lead.status == Lead.Status.NEW and assessment.may_qualify:
            reason = f"Rescored: score {lead.score} reached the threshold {assessment.threshold}."
            transitions.append(
                lead_move(lead, to_status=Lead.Status.QUALIFIED, reason=reason, now=now)
            )
            latest_listing = facts[lead.pk][-1].listing_id
            events.append(LeadEvent(lead, "qualified", latest_listing))
    leads_write(leads=leads, fields=_WRITTEN)
    leads_changes_record(transitions=transitions, events=events, now=now)
    return len(leads), len(events), leads[-1].pk
