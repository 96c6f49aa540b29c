"""The lead's timeline (portal/shell/lead_timeline.py): every kind in time order, the
leads merged into it, a constant number of queries, and "Show more"."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.models import EmailEvent, EmailSend, Enrollment, LeadNote, LeadTransition, NurtureStep
from leads.work.services import lead_merge, lead_merge_undo
from tests.factories import make_activity, make_campaign, make_delivery, make_lead, make_publisher

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def _history(lead, *, start, count: int = 1):
    """`count` entries of every kind on the lead, one minute apart per kind, from `start`."""
    campaign = make_campaign(publisher=lead.publisher, name=f"Campaign {lead.pk}")
    step = NurtureStep.objects.create(
        campaign=campaign, position=1, delay_minutes=0, subject="Welcome aboard", body="Hi"
    )
    enrollment = Enrollment.objects.create(lead=lead, campaign=campaign, enrolled_at=start)
    for n in range(count):
        at = start + timedelta(minutes=10 * n)
        make_activity(lead=lead, occurred_at=at)
        transition = LeadTransition.objects.create(
            lead=lead, from_status="new", to_status="qualified", reason=f"Score {n}"
        )
        note = LeadNote.objects.create(lead=lead, author=None, body=f"Note {n}")
        delivery = make_delivery(lead=lead, event="lead.updated")
        LeadTransition.objects.filter(pk=transition.pk).update(created_at=at + timedelta(minutes=1))
        LeadNote.objects.filter(pk=note.pk).update(created_at=at + timedelta(minutes=2))
        type(delivery).objects.filter(pk=delivery.pk).update(created_at=at + timedelta(minutes=4))
    send = EmailSend.objects.create(
        enrollment=enrollment, step=step, status="sent", sent_at=start + timedelta(minutes=3)
    )
    EmailEvent.objects.create(
        send=send,
        esp="test",
        event_id=f"e{lead.pk}",
        kind="opened",
        occurred_at=start + timedelta(minutes=5),
    )


def test_every_kind_shows_in_time_order(publisher, owner_client):
    lead = make_lead(publisher=publisher)
    start = timezone.now() - timedelta(days=1)
    _history(lead, start=start)

    response = owner_client.get(reverse("lead-timeline", args=[lead.uuid]))

    assert response.status_code == 200
    kinds = [entry.kind for entry in response.context["entries"]]
    assert kinds == ["email-event", "delivery", "email", "note", "status", "activity"]
    html = response.content.decode()
    assert "Email opened: Welcome aboard" in html
    assert "Note 0" in html
    assert "Status: New → Qualified" in html


def test_the_timeline_shows_the_history_of_a_merged_lead(publisher, owner, owner_client):
    survivor = make_lead(publisher=publisher, email="a@contoso.example")
    merged = make_lead(publisher=publisher, email="b@contoso.example")
    _history(merged, start=timezone.now() - timedelta(hours=2))
    lead_merge(publisher=publisher, survivor_id=survivor.pk, merged_id=merged.pk, by=owner)

    response = owner_client.get(reverse("lead-timeline", args=[survivor.uuid]))

    kinds = sorted(entry.kind for entry in response.context["entries"])
    assert kinds == sorted(
        ["email-event", "delivery", "email", "note", "status", "activity", "merge"]
    )
    assert "Merged from b@contoso.example" in response.content.decode()


@pytest.mark.parametrize("count", [1, 40])
def test_the_timeline_costs_a_constant_number_of_queries(
    publisher, owner_client, django_assert_max_num_queries, count
):
    # Given a lead with a short or a long history
    lead = make_lead(publisher=publisher)
    _history(lead, start=timezone.now() - timedelta(days=2), count=count)

    # Then the timeline costs the same bounded number of queries
    with django_assert_max_num_queries(12):
        response = owner_client.get(reverse("lead-timeline", args=[lead.uuid]))
    assert len(response.context["entries"]) == min(30, count * 4 + 2)


def test_show_more_lengthens_the_page(publisher, owner_client):
    lead = make_lead(publisher=publisher)
    _history(lead, start=timezone.now() - timedelta(days=2), count=20)
    url = reverse("lead-timeline", args=[lead.uuid])

    first = owner_client.get(url)
    assert len(first.context["entries"]) == 30
    assert first.context["next_limit"] == 60
    second = owner_client.get(url, {"limit": 60})
    assert len(second.context["entries"]) == 60
    third = owner_client.get(url, {"limit": 90})
    assert len(third.context["entries"]) == 82
    assert third.context["next_limit"] is None
    assert owner_client.get(url, {"limit": "lots"}).status_code == 200


def test_the_timeline_fragment_for_htmx(publisher, owner_client):
    lead = make_lead(publisher=publisher)

    response = owner_client.get(reverse("lead-timeline", args=[lead.uuid]), HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="timeline"')
    assert "Nothing has happened to this lead yet." in html


def test_another_publishers_timeline_is_404(owner_client):
    lead = make_lead(publisher=make_publisher())

    assert owner_client.get(reverse("lead-timeline", args=[lead.uuid])).status_code == 404


def test_a_merge_and_its_undo_show_on_the_survivors_timeline(publisher, owner, owner_client):
    survivor = make_lead(publisher=publisher, email="a@contoso.example")
    merged = make_lead(publisher=publisher, email="b@contoso.example")
    record = lead_merge(publisher=publisher, survivor_id=survivor.pk, merged_id=merged.pk, by=owner)
    lead_merge_undo(merge=record, by=owner)

    response = owner_client.get(reverse("lead-timeline", args=[survivor.uuid]))

    titles = [(entry.kind, entry.title, entry.by) for entry in response.context["entries"]]
    assert titles == [
        ("merge", "Merge with b@contoso.example undone", owner.username),
        ("merge", "Merged from b@contoso.example", owner.username),
    ]
