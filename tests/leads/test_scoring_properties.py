"""Properties of scoring (hypothesis): bounded, explained, monotonic in positive rules."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from leads.models import ScoringRule
from leads.scoring.rules import LeadFacts, RuleSpec, score_lead

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CONDITIONS = [c.value for c in ScoringRule.Condition]
CODES = ["INS", "PLT", "DNC", "Create", "StartTestDrive", "Other"]

rules = st.builds(
    RuleSpec,
    id=st.integers(1, 10_000),
    name=st.text(max_size=20),
    condition=st.sampled_from(CONDITIONS),
    value=st.one_of(
        st.sampled_from(["INS", "PLT,DNC", "US,DE", "CEO,CTO", "2", "30", "appsource", ""]),
        st.text(max_size=15),
    ),
    points=st.integers(-100, 100),
    listing_id=st.one_of(st.none(), st.integers(1, 5)),
)
facts = st.builds(
    LeadFacts,
    email=st.sampled_from(["a@gmail.com", "b@contoso.example", "c@outlook.com", "x"]),
    country=st.sampled_from(["", "US", "DE", "ES"]),
    title=st.text(max_size=30),
    company=st.text(max_size=30),
    phone=st.sampled_from(["", "+1 555 0100"]),
    action_codes=st.frozensets(st.sampled_from(CODES)),
    storefronts=st.frozensets(st.sampled_from(["appsource", "azure-marketplace"])),
    listing_ids=st.frozensets(st.integers(1, 5)),
    activity_count=st.integers(0, 20),
    last_activity_at=st.one_of(
        st.none(), st.integers(0, 400).map(lambda days: NOW - timedelta(days=days))
    ),
)


@given(st.lists(rules, max_size=12), facts)
def test_the_score_always_lies_in_0_to_100(rule_list, lead):
    assert 0 <= score_lead(rule_list, lead, now=NOW).score <= 100


@given(st.lists(rules, max_size=12), facts)
def test_the_breakdown_sums_to_the_unclamped_score(rule_list, lead):
    result = score_lead(rule_list, lead, now=NOW)

    assert sum(item["points"] for item in result.breakdown) == result.unclamped
    assert result.score == max(0, min(100, result.unclamped))


@given(st.lists(rules, max_size=12), rules, facts)
def test_adding_a_positive_rule_never_lowers_a_score(rule_list, extra, lead):
    positive = RuleSpec(
        extra.id, extra.name, extra.condition, extra.value, abs(extra.points), extra.listing_id
    )

    before = score_lead(rule_list, lead, now=NOW).score
    after = score_lead([*rule_list, positive], lead, now=NOW).score

    assert after >= before
