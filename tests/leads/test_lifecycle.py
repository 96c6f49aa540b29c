"""The lead lifecycle: new, qualified, accepted, then won or lost; disqualified on the way."""

import pytest
from django.core.exceptions import ValidationError

from crm.models import Delivery
from leads.lifecycle import services as lifecycle_services
from leads.models import Lead, LeadTransition
from tests.factories import make_activity, make_lead, make_target, make_user

pytestmark = pytest.mark.sqlite

LEGAL = [
    ("new", "qualified"),
    ("new", "disqualified"),
    ("qualified", "accepted"),
    ("qualified", "disqualified"),
    ("accepted", "won"),
    ("accepted", "lost"),
]
ALL = ["new", "qualified", "accepted", "won", "lost", "disqualified"]


@pytest.mark.parametrize(("start", "end"), LEGAL)
def test_legal_moves_record_who_when_and_why(db, publisher, start, end):
    lead = make_lead(publisher=publisher, status=start)
    seller = make_user()

    moved = lifecycle_services.lead_transition(
        lead=lead, to_status=end, by=seller, reason="  Called them  "
    )

    lead.refresh_from_db()
    assert (lead.status, lead.status_changed_by, lead.status_reason) == (end, seller, "Called them")
    assert lead.status_changed_at is not None
    assert moved.status == end
    transition = LeadTransition.objects.get(lead=lead)
    assert (
        transition.from_status,
        transition.to_status,
        transition.changed_by,
        transition.reason,
    ) == (
        start,
        end,
        seller,
        "Called them",
    )


@pytest.mark.parametrize(
    ("start", "end"), [(a, b) for a in ALL for b in ALL if (a, b) not in LEGAL]
)
def test_illegal_moves_are_refused_with_a_reason(db, publisher, start, end):
    lead = make_lead(publisher=publisher, status=start)

    with pytest.raises(ValidationError) as refused:
        lifecycle_services.lead_transition(lead=lead, to_status=end, by=None, reason="because")

    assert refused.value.code == "illegal_transition"
    assert refused.value.messages[0].startswith(f"A {Lead.Status(start).label.lower()} lead cannot")
    lead.refresh_from_db()
    assert lead.status == start
    assert not LeadTransition.objects.exists()


def test_a_move_needs_a_reason(db, publisher):
    lead = make_lead(publisher=publisher)

    with pytest.raises(ValidationError, match="Say why"):
        lifecycle_services.lead_transition(lead=lead, to_status="disqualified", by=None, reason=" ")
    assert Lead.objects.get().status == "new"


def test_qualifying_by_hand_delivers_to_the_covering_targets(db, publisher):
    lead = make_lead(publisher=publisher)
    activity = make_activity(lead=lead)
    target = make_target(publisher=publisher, scope="chosen")
    target.listings.set([activity.listing])

    lifecycle_services.lead_transition(
        lead=lead, to_status="qualified", by=None, reason="Met at a fair"
    )

    delivery = Delivery.objects.get()
    assert (delivery.lead, delivery.target, delivery.event) == (lead, target, "lead.qualified")
    assert Lead.objects.get().qualified_at is not None


def test_a_test_lead_qualified_by_hand_is_not_delivered(db, publisher):
    lead = make_lead(publisher=publisher, is_test=True)
    make_activity(lead=lead)
    make_target(publisher=publisher)

    lifecycle_services.lead_transition(lead=lead, to_status="qualified", by=None, reason="checking")

    assert not Delivery.objects.exists()
