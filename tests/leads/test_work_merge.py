"""Merging two leads of one person, and Undo (leads.work.services.lead_merge)."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from crm import payloads as crm_payloads
from leads.models import Lead, LeadActivity, LeadMerge, LeadNote, LeadTransition
from leads.work.services import lead_merge, lead_merge_undo
from privacy import selectors as privacy_selectors
from privacy import services as privacy_services
from tests.factories import (
    make_activity,
    make_delivery,
    make_lead,
    make_publisher,
    make_target,
)
from tests.leads.portal_leads_support import LEADS, shown


def _state(*leads) -> list:
    """Everything a merge may change, to compare before and after Undo."""
    rows = []
    for lead in leads:
        lead.refresh_from_db()
        rows.append(
            (
                lead.pk,
                lead.first_name,
                lead.last_name,
                lead.phone,
                lead.company,
                lead.title,
                lead.country,
                lead.owner_id,
                lead.last_activity_at,
                lead.merged_into_id,
                sorted(lead.activities.values_list("pk", flat=True)),
                sorted(lead.transitions.values_list("pk", flat=True)),
                sorted(lead.notes.values_list("pk", flat=True)),
                sorted(lead.deliveries.values_list("pk", flat=True)),
            )
        )
    return rows


def _pair(publisher, owner=None):
    now = timezone.now()
    survivor = make_lead(
        publisher=publisher,
        email="ada@contoso.example",
        phone="",
        title="",
    )
    merged = make_lead(
        publisher=publisher,
        email="ada.lovelace@gmail.example",
        phone="+44 20 7946 0000",
        title="CTO",
        owner=owner,
    )
    Lead.objects.filter(pk=survivor.pk).update(last_activity_at=now - timedelta(days=3))
    Lead.objects.filter(pk=merged.pk).update(last_activity_at=now)
    make_activity(lead=survivor)
    make_activity(lead=merged, action_code="PLT")
    LeadTransition.objects.create(lead=merged, from_status="new", to_status="qualified")
    LeadNote.objects.create(lead=merged, author=owner, body="Met at the fair")
    make_delivery(lead=merged)
    return survivor, merged


@pytest.mark.django_db
def test_merge_moves_histories_fills_fields_and_hides_the_merged_lead(
    publisher, owner, owner_client
):
    # Given two leads of one person, the second with more facts and history
    survivor, merged = _pair(publisher, owner)
    merged_activities = list(merged.activities.values_list("pk", flat=True))

    # When the owner merges the second into the first from the first's page
    response = owner_client.post(
        reverse("lead-merge", args=[survivor.uuid]),
        {"other_email": "Ada.Lovelace@gmail.example", "survivor": "this"},
    )

    # Then the survivor has both histories and the missing facts
    assert response.status_code == 302
    survivor.refresh_from_db()
    merged.refresh_from_db()
    assert (survivor.phone, survivor.title, survivor.owner_id) == (
        "+44 20 7946 0000",
        "CTO",
        owner.pk,
    )
    assert survivor.last_activity_at == merged.last_activity_at
    assert survivor.activities.count() == 2
    assert survivor.transitions.count() == 1
    assert survivor.notes.get().body == "Met at the fair"
    # The merged lead stays, hidden from the list, with its delivery linked to the survivor
    assert merged.merged_into_id == survivor.pk
    assert merged.deliveries.count() == 1
    assert shown(owner_client.get(LEADS)) == ["ada@contoso.example"]
    record = LeadMerge.objects.get()
    assert record.moved["activities"] == merged_activities
    assert record.survivor_before == {
        "phone": "",
        "title": "",
        "last_activity_at": record.survivor_before["last_activity_at"],
        "owner_id": None,
    }


@pytest.mark.django_db
def test_undo_restores_exactly_the_previous_state(publisher, owner, owner_client):
    survivor, merged = _pair(publisher, owner)
    before = _state(survivor, merged)
    record = lead_merge(publisher=publisher, survivor_id=survivor.pk, merged_id=merged.pk, by=owner)
    assert _state(survivor, merged) != before

    response = owner_client.post(reverse("lead-merge-undo", args=[record.pk]))

    assert response.status_code == 302
    assert _state(survivor, merged) == before
    record.refresh_from_db()
    assert record.undone_at is not None and record.undone_by_id == owner.pk
    # Undo is once only
    with pytest.raises(ValidationError):
        lead_merge_undo(merge=record, by=owner)
    assert _state(survivor, merged) == before


@pytest.mark.django_db
def test_the_other_lead_may_be_the_survivor(publisher, owner, owner_client):
    survivor, merged = _pair(publisher, owner)

    owner_client.post(
        reverse("lead-merge", args=[merged.uuid]),
        {"other_email": survivor.email, "survivor": "other"},
    )

    merged.refresh_from_db()
    assert merged.merged_into_id == survivor.pk


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("email", "error"),
    [
        ("nobody@contoso.example", "This publisher has no other lead with this address."),
        ("ada@contoso.example", "A lead cannot be merged with itself."),
        ("not an address", "Enter a valid email address."),
    ],
)
def test_a_refused_merge_says_why_and_changes_nothing(publisher, owner, owner_client, email, error):
    survivor, merged = _pair(publisher, owner)
    make_lead(publisher=make_publisher(), email="nobody@contoso.example")
    before = _state(survivor, merged)

    response = owner_client.post(
        reverse("lead-merge", args=[survivor.uuid]), {"other_email": email, "survivor": "this"}
    )

    assert response.status_code == 400
    assert error in response.content.decode()
    assert _state(survivor, merged) == before
    assert not LeadMerge.objects.exists()


@pytest.mark.django_db
def test_a_merged_lead_cannot_be_merged_again_and_only_the_latest_merge_is_undone(publisher, owner):
    survivor, merged = _pair(publisher, owner)
    third = make_lead(publisher=publisher, email="a.l@contoso.example")
    first = lead_merge(publisher=publisher, survivor_id=survivor.pk, merged_id=merged.pk, by=owner)
    with pytest.raises(ValidationError):
        lead_merge(publisher=publisher, survivor_id=third.pk, merged_id=merged.pk, by=owner)
    with pytest.raises(ValidationError):  # a survivor with merged leads is merged as survivor
        lead_merge(publisher=publisher, survivor_id=third.pk, merged_id=survivor.pk, by=owner)
    second = lead_merge(publisher=publisher, survivor_id=survivor.pk, merged_id=third.pk, by=owner)

    with pytest.raises(ValidationError):
        lead_merge_undo(merge=first, by=owner)
    lead_merge_undo(merge=second, by=owner)
    lead_merge_undo(merge=first, by=owner)

    assert Lead.objects.filter(merged_into__isnull=False).count() == 0


@pytest.mark.django_db
def test_another_publishers_merge_is_404(publisher, owner, owner_client):
    other = make_publisher()
    survivor, merged = _pair(other)
    record = lead_merge(publisher=other, survivor_id=survivor.pk, merged_id=merged.pk, by=None)

    assert owner_client.post(reverse("lead-merge-undo", args=[record.pk])).status_code == 404
    record.refresh_from_db()
    assert record.undone_at is None


@pytest.mark.django_db
def test_the_person_of_either_address_includes_both_merged_leads(publisher, owner):
    survivor, merged = _pair(publisher, owner)
    lead_merge(publisher=publisher, survivor_id=survivor.pk, merged_id=merged.pk, by=owner)

    for email in (survivor.email, merged.email):
        leads = privacy_selectors.person_leads(email=email, publisher=publisher)
        assert sorted(leads.values_list("pk", flat=True)) == sorted([survivor.pk, merged.pk])
        exported = privacy_selectors.person_export(
            records=privacy_selectors.person_records(email=email, publisher=publisher)
        )
        notes = [note["body"] for lead in exported["leads"] for note in lead["notes"]]
        assert notes == ["Met at the fair"]


# --- Concurrency ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_merges_of_one_pair_in_opposite_orders_neither_deadlock_nor_corrupt(publisher):
    # Given two leads, and two requests merging them in opposite directions at once
    survivor, merged = _pair(publisher)
    activity_ids = sorted(LeadActivity.objects.values_list("pk", flat=True))
    barrier = threading.Barrier(2)
    outcomes: list = []

    def merge(into, other):
        try:
            barrier.wait()
            lead_merge(publisher=publisher, survivor_id=into.pk, merged_id=other.pk, by=None)
            outcomes.append("merged")
        except ValidationError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=merge, args=(survivor, merged)),
        threading.Thread(target=merge, args=(merged, survivor)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Then one merge won, the other was refused (no deadlock error), and the rows agree
    assert sorted(outcomes) == ["already_merged", "merged"]
    record = LeadMerge.objects.get()
    winner = Lead.objects.get(pk=record.survivor_id)
    loser = Lead.objects.get(pk=record.merged_id)
    assert loser.merged_into_id == winner.pk and winner.merged_into_id is None
    assert sorted(winner.activities.values_list("pk", flat=True)) == activity_ids


@pytest.mark.django_db
def test_erasing_either_address_erases_both_leads_notes_and_next_step(publisher, owner):
    # Given a merged pair with a note from each side and a next step
    survivor, merged = _pair(publisher, owner)
    LeadNote.objects.create(lead=survivor, author=owner, body="Ada prefers calls")
    Lead.objects.filter(pk=survivor.pk).update(next_step="Call Ada back")
    lead_merge(publisher=publisher, survivor_id=survivor.pk, merged_id=merged.pk, by=owner)

    # When the person is erased by the merged lead's address
    privacy_services.person_erase(
        email=merged.email, publisher=publisher, actor=owner, reason="Art. 17", source="portal"
    )

    # Then both leads are erased, every note's text is gone, and the note rows stay
    survivor.refresh_from_db()
    merged.refresh_from_db()
    assert survivor.email.endswith("@erased.invalid") and merged.email.endswith("@erased.invalid")
    assert survivor.next_step == ""
    assert sorted(LeadNote.objects.values_list("body", flat=True)) == ["", ""]


@pytest.mark.django_db
def test_the_survivors_next_delivery_carries_the_merged_facts(publisher, owner):
    # Given a merged pair: the merged lead has the phone, the title and the latest activity
    survivor, merged = _pair(publisher, owner)
    lead_merge(publisher=publisher, survivor_id=survivor.pk, merged_id=merged.pk, by=owner)
    target = make_target(publisher=publisher)
    delivery = make_delivery(lead=survivor, target=target, event="lead.updated")

    # When crm builds the survivor's next payload
    [payload] = crm_payloads.payloads_for([delivery], target)

    # Then it carries the merged lead's facts under the survivor's identity
    assert (payload.lead_id, payload.email) == (str(survivor.uuid), "ada@contoso.example")
    assert (payload.phone, payload.title, payload.action_code) == ("+44 20 7946 0000", "CTO", "PLT")
