"""Lead scoring (DESIGN §1, practice 1): rules over facts, a 0–100 score, a breakdown.

Pure Python over plain data, so it is cheap to call for a whole batch and easy to
property-test. The breakdown lists each rule that fired with its points; it sums to
the unclamped score, and the score is that sum clamped to 0–100.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from leads.models import Campaign, Lead, LeadActivity, ScoringRule
from leads.scoring.freemail import is_free_mail

Condition = ScoringRule.Condition
# Partner Center's do-not-contact action: on its own it never qualifies a lead.
DO_NOT_CONTACT = "DNC"
# The lead's columns a scoring pass changes: the score, and the status when the lead qualifies.
SCORED_FIELDS = (
    "score",
    "score_breakdown",
    "status",
    "qualified_at",
    "status_changed_at",
    "status_reason",
)


@dataclass(frozen=True)
class RuleSpec:
    """What scoring needs of a ScoringRule, detached from the ORM."""

    id: int | None
    name: str
    condition: str
    value: str
    points: int
    listing_id: int | None = None

    @classmethod
    def from_rule(cls, rule: ScoringRule) -> "RuleSpec":
        return cls(rule.pk, rule.name, rule.condition, rule.value, rule.points, rule.listing_id)


@dataclass(frozen=True)
class LeadFacts:
    """Everything a rule may look at: the lead's contact fields and its activities."""

    email: str
    country: str = ""
    title: str = ""
    company: str = ""
    phone: str = ""
    action_codes: frozenset[str] = field(default_factory=frozenset)
    storefronts: frozenset[str] = field(default_factory=frozenset)
    listing_ids: frozenset[int] = field(default_factory=frozenset)
    activity_count: int = 0
    last_activity_at: datetime | None = None


class ActivityFact(NamedTuple):
    """What scoring and qualification read of one storefront interaction."""

    action_code: str
    storefront: str
    listing_id: int | None
    occurred_at: datetime
    is_test: bool


@dataclass(frozen=True)
class ScoreResult:
    score: int
    unclamped: int
    breakdown: list[dict]


def _values(value: str) -> list[str]:
    return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]


def _words_match(text: str, value: str) -> bool:
    words = set(text.lower().replace(",", " ").replace("/", " ").split())
    phrase = text.lower()
    for needle in _values(value):
        needle = needle.lower()
        if " " in needle and needle in phrase:
            return True
        if needle in words:
            return True
    return False


def _number(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        return 0


def rule_matches(rule: RuleSpec, facts: LeadFacts, now: datetime) -> bool:
    """True when the rule's condition holds for the lead."""
    condition = rule.condition
    if condition == Condition.ACTION_CODE:
        wanted = {code.lower() for code in _values(rule.value)}
        return any(code.lower() in wanted for code in facts.action_codes)
    if condition == Condition.STOREFRONT:
        return bool(set(_values(rule.value)) & facts.storefronts)
    if condition == Condition.LISTING:
        return rule.listing_id in facts.listing_ids
    if condition == Condition.COUNTRY_IN:
        return facts.country.upper() in {c.upper() for c in _values(rule.value)}
    if condition == Condition.TITLE_MATCHES:
        return _words_match(facts.title, rule.value)
    if condition == Condition.COMPANY_MATCHES:
        return _words_match(facts.company, rule.value)
    if condition == Condition.BUSINESS_EMAIL:
        return "@" in facts.email and not is_free_mail(facts.email)
    if condition == Condition.FREE_EMAIL:
        return is_free_mail(facts.email)
    if condition == Condition.PHONE_PRESENT:
        return bool(facts.phone.strip())
    if condition == Condition.ACTIVITY_COUNT_AT_LEAST:
        return facts.activity_count >= _number(rule.value)
    if condition == Condition.DAYS_SINCE_LAST_ACTIVITY_AT_MOST:
        if facts.last_activity_at is None:
            return False
        return (now - facts.last_activity_at).days <= _number(rule.value)
    return False


def score_lead(rules: Iterable[RuleSpec], facts: LeadFacts, *, now: datetime) -> ScoreResult:
    """Score a lead: the sum of the points of every matching rule, clamped to 0–100."""
    breakdown = [
        {"rule_id": rule.id, "rule": rule.name, "points": rule.points}
        for rule in rules
        if rule_matches(rule, facts, now)
    ]
    unclamped = sum(item["points"] for item in breakdown)
    return ScoreResult(score=max(0, min(100, unclamped)), unclamped=unclamped, breakdown=breakdown)


def activity_facts(*, lead_ids: Iterable[int]) -> dict[int, list[ActivityFact]]:
    """Each lead's activity facts, oldest first, in one query."""
    facts: dict[int, list[ActivityFact]] = {lead_id: [] for lead_id in lead_ids}
    rows = (
        LeadActivity.objects.filter(lead_id__in=facts)
        .order_by("occurred_at", "pk")
        .values_list("lead_id", "action_code", "storefront", "listing_id", "occurred_at", "is_test")
    )
    for lead_id, *row in rows:
        facts[lead_id].append(ActivityFact(*row))
    return facts


def lead_facts(lead: Lead, activities: list[ActivityFact]) -> LeadFacts:
    """The scoring facts of a lead and its activities."""
    return LeadFacts(
        email=lead.email,
        country=lead.country,
        title=lead.title,
        company=lead.company,
        phone=lead.phone,
        action_codes=frozenset(a.action_code for a in activities if a.action_code),
        storefronts=frozenset(a.storefront for a in activities),
        listing_ids=frozenset(a.listing_id for a in activities if a.listing_id),
        activity_count=len(activities),
        last_activity_at=max((a.occurred_at for a in activities), default=None),
    )


def qualification_threshold(*, publisher_threshold: int, campaign: Campaign | None) -> int:
    """The campaign's own threshold when it sets one, else the publisher's."""
    if campaign is not None and campaign.qualification_threshold is not None:
        return campaign.qualification_threshold
    return publisher_threshold


def may_qualify(
    *, score: int, is_test: bool, activities: list[ActivityFact], threshold: int
) -> bool:
    """Score at the threshold, not a test lead, and more than do-not-contact activity."""
    return (
        not is_test
        and score >= threshold
        and any(a.action_code != DO_NOT_CONTACT and not a.is_test for a in activities)
    )


class Assessment(NamedTuple):
    """A lead scored under rules: its score, its threshold, and whether it may qualify."""

    result: ScoreResult
    threshold: int
    may_qualify: bool


def lead_assess(
    lead: Lead,
    activities: list[ActivityFact],
    rules: Iterable[RuleSpec],
    *,
    publisher_threshold: int,
    campaign: Campaign | None,
    now: datetime,
) -> Assessment:
    """Score a lead and say whether it may qualify under its campaign's or publisher's threshold
    (the one scoring step of intake, rescoring and the rules preview)."""
    result = score_lead(rules, lead_facts(lead, activities), now=now)
    threshold = qualification_threshold(publisher_threshold=publisher_threshold, campaign=campaign)
    qualifies = may_qualify(
        score=result.score, is_test=lead.is_test, activities=activities, threshold=threshold
    )
    return Assessment(result, threshold, qualifies)
