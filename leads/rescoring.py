"""Rescoring a publisher's leads after its rules change, in chunks, with progress.

Each chunk commits on its own, so the run's progress is visible while it goes, and a
lead newly over the threshold is qualified and delivered exactly as intake would.
"""

import logging

from django.db import transaction
from django.utils import timezone

from crm import services as crm_services
from leads.intake import lead_facts, leads_write, qualifies
from leads.models import Lead, LeadActivity, LeadTransition, RescoreRun, ScoringRule
from leads.scoring import RuleSpec, score_lead
from portal.models import Publisher

logger = logging.getLogger(__name__)

CHUNK_SIZE = 500
_WRITTEN = [
    "score",
    "score_breakdown",
    "status",
    "qualified_at",
    "status_changed_at",
    "status_reason",
    "updated_at",
]


def rescore_run_start(*, publisher: Publisher, requested_by=None) -> RescoreRun:
    """Queue a rescoring of the publisher's leads; the worker starts it after commit."""
    from leads import tasks

    run = RescoreRun.objects.create(publisher=publisher, requested_by=requested_by)
    transaction.on_commit(lambda: tasks.rescore_publisher.delay(run.pk), robust=True)
    return run


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
    facts: dict[int, list[tuple]] = {lead.pk: [] for lead in leads}
    latest_listing: dict[int, int | None] = {}
    rows = (
        LeadActivity.objects.filter(lead_id__in=facts)
        .order_by("occurred_at", "pk")
        .values_list("lead_id", "action_code", "storefront", "listing_id", "occurred_at", "is_test")
    )
    for lead_id, *row in rows:
        facts[lead_id].append(tuple(row))
        latest_listing[lead_id] = row[2]
    transitions, events = [], []
    for lead in leads:
        result = score_lead(rules, lead_facts(lead, facts[lead.pk]), now=now)
        lead.score, lead.score_breakdown, lead.updated_at = result.score, result.breakdown, now
        threshold = _threshold(lead, run.publisher)
        if qualifies(lead, facts[lead.pk], threshold):
            was = lead.status
            lead.status = Lead.Status.QUALIFIED
            lead.qualified_at = lead.status_changed_at = now
            lead.status_reason = f"Rescored: score {lead.score} reached the threshold {threshold}."
            transitions.append(
                LeadTransition(
                    lead=lead, from_status=was, to_status=lead.status, reason=lead.status_reason
                )
            )
            events.append((lead, "qualified", latest_listing.get(lead.pk)))
    leads_write(leads=leads, fields=_WRITTEN)
    LeadTransition.objects.bulk_create(transitions)
    crm_services.deliveries_create(events=events)
    return len(leads), len(events), leads[-1].pk


def _threshold(lead: Lead, publisher: Publisher) -> int:
    campaign = lead.latest_campaign
    if campaign is not None and campaign.qualification_threshold is not None:
        return campaign.qualification_threshold
    return publisher.qualification_threshold
