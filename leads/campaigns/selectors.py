"""Reads for campaign pages: each selector takes the publisher (or its campaign).

Attribution (docs/nurture.md): a lead counts for a campaign when it has at least one
non-test storefront activity attributed to that campaign (`LeadActivity.campaign`), it
is a marketplace lead and not a test lead. A lead touched by two campaigns counts in
both, and a campaign's figures never shrink when a later campaign touches its leads
(which `Lead.latest_campaign` would do). Co-Sell referrals and test leads never count.

A campaign's funnel is a GROUP BY over its attributed activities (about a second at 200,000
of them), so it is cached per campaign (`FUNNEL_TTL_SECONDS`) and refreshed for every
campaign by the rollup task (`campaign_funnels_refresh`, every five minutes). The dashboard
and the campaign pages read the same entries, so they always agree; a miss is counted live
for the missing campaigns only, and a cache that is down is read around.
"""

import logging
from dataclasses import dataclass, fields
from datetime import date, timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Exists, F, Min, OuterRef, Q, QuerySet
from django.utils import timezone

from leads.models import (
    Campaign,
    EmailEvent,
    EmailSend,
    Enrollment,
    Lead,
    LeadActivity,
    NurtureSequence,
    NurtureStep,
    Suppression,
)
from portal.models import Publisher

logger = logging.getLogger(__name__)

MAX_CHART_DAYS = 366
# Longer than the rollup task's five minutes, so that a warm cache never runs dry.
FUNNEL_TTL_SECONDS = 15 * 60
_QUALIFIED_OR_LATER = Q(lead__qualified_at__isnull=False) | Q(
    lead__status__in=[
        Lead.Status.QUALIFIED,
        Lead.Status.ACCEPTED,
        Lead.Status.WON,
        Lead.Status.LOST,
    ]
)
_ACCEPTED_OR_LATER = Q(lead__status__in=[Lead.Status.ACCEPTED, Lead.Status.WON, Lead.Status.LOST])


def campaigns_for_publisher(*, publisher: Publisher) -> QuerySet[Campaign]:
    return Campaign.objects.filter(publisher=publisher).select_related("nurture_sequence")


def campaign_get_for_publisher(*, publisher: Publisher, campaign_id: int) -> Campaign | None:
    return (
        Campaign.objects.filter(publisher=publisher, pk=campaign_id)
        .select_related("publisher")
        .first()
    )


def step_get_for_campaign(*, campaign: Campaign, step_id: int) -> NurtureStep | None:
    return NurtureStep.objects.filter(campaign=campaign, pk=step_id).first()


def sequence_status(*, campaign: Campaign) -> str:
    status = (
        NurtureSequence.objects.filter(campaign=campaign).values_list("status", flat=True).first()
    )
    return status or NurtureSequence.Status.DRAFT


def sequence_click_tracking(*, campaign: Campaign) -> bool:
    """Whether the links of the campaign's steps go through the signed redirect."""
    return NurtureSequence.objects.filter(campaign=campaign, click_tracking=True).exists()


def _attributed_activities(campaign_ids) -> QuerySet[LeadActivity]:
    return LeadActivity.objects.filter(
        campaign_id__in=campaign_ids,
        is_test=False,
        lead__origin=Lead.Origin.MARKETPLACE,
        lead__is_test=False,
    )


@dataclass(frozen=True)
class Funnel:
    leads: int = 0
    qualified: int = 0
    accepted: int = 0
    won: int = 0
    goal: int = 0

    @property
    def goal_percent(self) -> int | None:
        """Qualified leads against the goal, past 100% when the goal is beaten ("610 of 500
        (122%)"); only the progress bar stops at full."""
        return round(100 * self.qualified / self.goal) if self.goal else None

    def rate(self, stage: str) -> int | None:
        """Percent of the campaign's leads that reached the stage."""
        return round(100 * getattr(self, stage) / self.leads) if self.leads else None


def _funnel_key(campaign: Campaign) -> str:
    # The creation time keeps a recreated database (tests) from reading another's entry.
    return f"leads:campaign-funnel:{campaign.pk}:{campaign.created_at.timestamp():.6f}"


def _funnel_counts(campaign_ids) -> dict[int, dict[str, int]]:
    """Leads, qualified, accepted and won of each campaign, in one query."""
    rows = (
        _attributed_activities(campaign_ids)
        .values("campaign_id")
        .annotate(
            leads=Count("lead_id", distinct=True),
            qualified=Count("lead_id", distinct=True, filter=_QUALIFIED_OR_LATER),
            accepted=Count("lead_id", distinct=True, filter=_ACCEPTED_OR_LATER),
            won=Count("lead_id", distinct=True, filter=Q(lead__status=Lead.Status.WON)),
        )
        .order_by()
    )
    found = {row.pop("campaign_id"): row for row in rows}
    return {pk: found.get(pk, {}) for pk in campaign_ids}


def _funnel_counts_cached(campaigns: list[Campaign]) -> dict[int, dict[str, int]]:
    keys = {_funnel_key(c): c.pk for c in campaigns}
    try:
        cached = cache.get_many(list(keys))
    except Exception:
        logger.warning("leads.campaign_funnels.cache_unavailable", exc_info=True)
        return _funnel_counts([c.pk for c in campaigns])
    counts = {keys[key]: value for key, value in cached.items()}
    missing = [c for c in campaigns if c.pk not in counts]
    if missing:
        counted = _funnel_counts([c.pk for c in missing])
        cache.set_many({_funnel_key(c): counted[c.pk] for c in missing}, FUNNEL_TTL_SECONDS)
        counts.update(counted)
    return counts


def campaign_funnels(*, publisher: Publisher, campaigns: list[Campaign]) -> dict[int, Funnel]:
    """Leads → qualified → accepted → won for each campaign: cached per campaign (see the
    module's docstring), the misses counted in one query."""
    own = [c for c in campaigns if c.publisher_id == publisher.pk]
    counts = _funnel_counts_cached(own) if own else {}
    return {c.pk: Funnel(goal=c.goal_qualified_leads, **counts[c.pk]) for c in own}


def campaign_funnels_refresh() -> int:
    """Count every campaign's funnel and leads per day (two queries) and cache them (the
    rollup task)."""
    campaigns = list(Campaign.objects.only("pk", "created_at"))
    counts = _funnel_counts([c.pk for c in campaigns])
    days = _first_days([c.pk for c in campaigns])
    cache.set_many({_funnel_key(c): counts[c.pk] for c in campaigns}, FUNNEL_TTL_SECONDS)
    cache.set_many({_chart_key(c): days[c.pk] for c in campaigns}, FUNNEL_TTL_SECONDS)
    return len(campaigns)


def campaign_goal_progress(*, publisher: Publisher, limit: int) -> list[tuple[Campaign, Funnel]]:
    """The latest running or past campaigns with their funnels: what the dashboard's
    "Campaign goals" shows, from the same selector as the campaign page (two queries)."""
    campaigns = list(
        Campaign.objects.filter(publisher=publisher)
        .exclude(status=Campaign.Status.DRAFT)
        .order_by("-starts_on", "name")[:limit]
    )
    funnels = campaign_funnels(publisher=publisher, campaigns=campaigns)
    return [(campaign, funnels[campaign.pk]) for campaign in campaigns]


def _chart_key(campaign: Campaign) -> str:
    zone = timezone.get_current_timezone_name()
    return f"leads:campaign-chart:{campaign.pk}:{campaign.created_at.timestamp():.6f}:{zone}"


def _first_days(campaign_ids) -> dict[int, dict[str, int]]:
    """Each campaign's attributed leads per day (ISO) of their first activity in it, counted
    by day in the database in one query (in Python on SQLite)."""
    firsts = (
        _attributed_activities(campaign_ids)
        .values("campaign_id", "lead_id")
        .annotate(first=Min("occurred_at"))
        .values_list("campaign_id", "first")
        .order_by()
    )
    counts: dict[int, dict[str, int]] = {pk: {} for pk in campaign_ids}
    if connection.vendor != "postgresql":
        for campaign_id, first in firsts:
            day = timezone.localdate(first).isoformat()
            counts[campaign_id][day] = counts[campaign_id].get(day, 0) + 1
        return counts
    sql, params = firsts.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            # The inner query is Django's own; the zone is a parameter.
            "SELECT f.campaign_id, (f.first AT TIME ZONE %s)::date, count(*) "  # noqa: S608
            f"FROM ({sql}) f GROUP BY 1, 2",
            [timezone.get_current_timezone_name(), *params],
        )
        for campaign_id, day, n in cursor.fetchall():
            counts[campaign_id][day.isoformat()] = n
    return counts


def _first_days_cached(campaign: Campaign) -> dict[str, int]:
    key = _chart_key(campaign)
    try:
        counts = cache.get(key)
    except Exception:
        logger.warning("leads.campaign_chart.cache_unavailable", exc_info=True)
        return _first_days([campaign.pk])[campaign.pk]
    if counts is None:
        counts = _first_days([campaign.pk])[campaign.pk]
        cache.set(key, counts, FUNNEL_TTL_SECONDS)
    return counts


def campaign_leads_per_day(*, campaign: Campaign) -> list[tuple[date, int]]:
    """New attributed leads per day (by each lead's first activity in the campaign): cached
    with the funnel and refreshed with it (`campaign_funnels_refresh`); a miss is counted
    in one grouped query."""
    today = timezone.localdate()
    end = min(campaign.ends_on or today, today)
    start = max(campaign.starts_on, end - timedelta(days=MAX_CHART_DAYS - 1))
    if end < start:
        return []
    counts = _first_days_cached(campaign)
    days = (start + timedelta(days=n) for n in range((end - start).days + 1))
    return [(day, counts.get(day.isoformat(), 0)) for day in days]


@dataclass(frozen=True)
class StepFigures:
    """A step's messages: `sent` left our server (`sent_at`); delivered, opened, clicked and
    complained come from ESP events and tracked clicks; each count is of messages."""

    step: NurtureStep
    sent: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    bounced: int = 0
    complained: int = 0
    unsubscribed: int = 0
    deferred: int = 0
    interrupted: int = 0
    qualified_after: int = 0  # sent messages whose lead was qualified after receiving it

    @property
    def qualified_rate(self) -> float | None:
        """The share (0–100) of this step's recipients qualified after the email."""
        return round(100 * self.qualified_after / self.sent, 1) if self.sent else None

    @property
    def has_sends(self) -> bool:
        """Whether any message of the step was attempted (then it cannot be deleted)."""
        return bool(self.sent or self.bounced or self.deferred or self.interrupted)


def _event_of(kind: str) -> Exists:
    return Exists(EmailEvent.objects.filter(send=OuterRef("pk"), kind=kind))


def _suppressed_by(reason: str) -> Exists:
    return Exists(Suppression.objects.filter(send=OuterRef("pk"), reason=reason))


def _step_send_counts(sends: QuerySet[EmailSend], group: str) -> QuerySet:
    """Each figure of StepFigures (but the step) for `sends`, per `group`: one query."""
    left = Q(sent_at__isnull=False)
    return (
        sends.values(group)
        .annotate(
            sent=Count("pk", filter=left),
            delivered=Count("pk", filter=Q(delivered_at__isnull=False)),
            opened=Count("pk", filter=Q(_event_of(EmailEvent.Kind.OPENED))),
            clicked=Count("pk", filter=Q(_event_of(EmailEvent.Kind.CLICKED))),
            bounced=Count("pk", filter=Q(status=EmailSend.Status.BOUNCED)),
            complained=Count(
                "pk",
                filter=Q(_event_of(EmailEvent.Kind.COMPLAINED))
                | Q(_suppressed_by(Suppression.Reason.COMPLAINED)),
            ),
            unsubscribed=Count(
                "pk",
                filter=Q(_event_of(EmailEvent.Kind.UNSUBSCRIBED))
                | Q(_suppressed_by(Suppression.Reason.UNSUBSCRIBED)),
            ),
            deferred=Count("pk", filter=Q(status=EmailSend.Status.DEFERRED)),
            interrupted=Count("pk", filter=Q(status=EmailSend.Status.INTERRUPTED)),
            qualified_after=Count(
                "pk", filter=left & Q(enrollment__lead__qualified_at__gt=F("sent_at"))
            ),
        )
        .order_by()
    )


def campaign_step_figures(*, campaign: Campaign) -> list[StepFigures]:
    """Per step: sent, delivered, opened, clicked, bounced, complained, unsubscribed, pending
    retries, and the recipients qualified after the message. Two queries, whatever the
    number of steps (docs/email.md, "Figures per step")."""
    sends = EmailSend.objects.filter(step__campaign=campaign)
    counts = {row.pop("step_id"): row for row in _step_send_counts(sends, "step_id")}
    return [
        StepFigures(step=step, **counts.get(step.pk, {}))
        for step in campaign.nurture_steps.order_by("position")
    ]


def campaign_enrollment_counts(*, campaign: Campaign) -> dict[str, int]:
    counts = dict.fromkeys(Enrollment.State.values, 0)
    rows = (
        Enrollment.objects.filter(campaign=campaign)
        .values("state")
        .annotate(n=Count("pk"))
        .values_list("state", "n")
        .order_by()
    )
    counts.update(rows)
    return counts


def campaign_email_totals(*, campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    """The per-step figures summed per campaign (for the comparison), in one query."""
    names = [field.name for field in fields(StepFigures) if field.name != "step"]
    totals = {pk: dict.fromkeys(names, 0) for pk in campaign_ids}
    sends = EmailSend.objects.filter(step__campaign_id__in=campaign_ids)
    for row in _step_send_counts(sends, "step__campaign_id"):
        totals[row.pop("step__campaign_id")].update(row)
    return totals


def campaign_sample_lead(*, campaign: Campaign) -> Lead | None:
    """The campaign's most recent attributed lead, for previews."""
    lead_ids = _attributed_activities([campaign.pk]).order_by("-occurred_at").values("lead_id")[:1]
    return Lead.objects.filter(pk__in=lead_ids, publisher_id=campaign.publisher_id).first()
