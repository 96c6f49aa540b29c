"""Changing the rules rescores a publisher's leads in the background, with progress."""

import pytest

from crm.models import Delivery
from leads import tasks
from leads.models import Lead, LeadTransition, RescoreRun
from leads.scoring import services as scoring_services
from tests.factories import make_activity, make_lead, make_publisher, make_rule, make_target

pytestmark = pytest.mark.sqlite


def make_scored_lead(publisher, *, action="PLT", **fields):
    lead = make_lead(publisher=publisher, **fields)
    make_activity(lead=lead, action_code=action)
    return lead


def test_a_rule_change_queues_a_rescore_after_commit(
    db, publisher, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        run = scoring_services.scoring_rules_changed(publisher=publisher)

    assert run.status == RescoreRun.Status.QUEUED
    assert len(callbacks) == 1


def test_rescoring_scores_every_lead_and_qualifies_the_ones_over_the_threshold(db, publisher):
    make_rule(
        publisher=publisher, name="Contact me", condition="action_code", value="PLT", points=60
    )
    make_rule(
        publisher=publisher, name="Big title", condition="title_matches", value="CEO", points=10
    )
    hot = [make_scored_lead(publisher, title="CEO") for _ in range(3)]
    cold = [make_scored_lead(publisher, action="DNC") for _ in range(4)]
    accepted = make_scored_lead(publisher, status="accepted")
    test_lead = make_scored_lead(publisher, is_test=True)
    co_sell = make_scored_lead(publisher, origin="co-sell", status="qualified")
    target = make_target(publisher=publisher)
    run = RescoreRun.objects.create(publisher=publisher)

    tasks.rescore_publisher.apply(args=[run.pk])  # runs the task body in process
    run.refresh_from_db()

    assert (run.status, run.total, run.processed, run.requalified) == ("done", 9, 9, 3)
    assert run.percent == 100
    for lead in hot:
        lead.refresh_from_db()
        assert (lead.score, lead.status) == (70, "qualified")
        assert [b["rule"] for b in lead.score_breakdown] == ["Contact me", "Big title"]
    assert {Lead.objects.get(pk=lead.pk).status for lead in cold} == {"new"}
    assert Lead.objects.get(pk=accepted.pk).status == "accepted"
    assert Lead.objects.get(pk=test_lead.pk).status == "new"
    assert Lead.objects.get(pk=co_sell.pk).score == 0  # Co-Sell referrals are never scored
    assert set(Delivery.objects.values_list("lead_id", "target_id", "event")) == {
        (lead.pk, target.pk, "lead.qualified") for lead in hot
    }
    assert LeadTransition.objects.filter(to_status="qualified").count() == 3


def test_rescoring_walks_every_chunk(db, publisher):
    from leads.scoring import rescoring

    make_rule(publisher=publisher, condition="action_code", value="PLT", points=55)
    leads = [make_scored_lead(publisher) for _ in range(7)]
    run = RescoreRun.objects.create(publisher=publisher)

    rescoring.rescore_run_execute(run_id=run.pk, chunk_size=3)

    run.refresh_from_db()
    assert (run.processed, run.requalified) == (7, 7)
    assert set(
        Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list("score", flat=True)
    ) == {55}


def test_rescoring_never_touches_another_publisher(db, publisher):
    other = make_publisher()
    make_rule(publisher=publisher, condition="action_code", value="PLT", points=90)
    foreign = make_scored_lead(other)
    run = RescoreRun.objects.create(publisher=publisher)

    tasks.rescore_publisher.apply(args=[run.pk])

    foreign.refresh_from_db()
    assert (foreign.score, foreign.status) == (0, "new")


def test_a_missing_run_is_ignored(db):
    assert tasks.rescore_publisher.apply(args=[987654]).successful()
