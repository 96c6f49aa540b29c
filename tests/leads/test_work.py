"""Working a lead: owner, notes, next step, "My leads", and the list's bulk assign and
owner filter (leads.work)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from leads.models import Lead, LeadNote
from leads.work.services import leads_assign
from portal.tenancy.models import Membership
from tests.factories import make_lead, make_membership, make_publisher, make_user
from tests.leads.portal_leads_support import LEADS, shown

pytestmark = pytest.mark.django_db


def _member(publisher, role=Membership.Role.MEMBER):
    return make_membership(publisher=publisher, role=role).user


# --- Owner ----------------------------------------------------------------------------------


def test_owner_assigns_a_member_from_the_lead_page(publisher, owner_client):
    # Given a lead and a member of the publisher
    lead = make_lead(publisher=publisher)
    member = _member(publisher)

    # When the owner gives the lead to the member
    response = owner_client.post(
        reverse("lead-assign", args=[lead.uuid]), {"owner": str(member.pk)}
    )

    # Then the lead is the member's
    assert response.status_code == 302
    assert response["Location"] == reverse("lead-detail", args=[lead.uuid]) + "#work"
    lead.refresh_from_db()
    assert lead.owner_id == member.pk


def test_a_user_of_another_publisher_is_a_form_error_and_nothing_changes(
    publisher, owner, owner_client
):
    # Given a lead owned by the owner, and a user of another publisher
    lead = make_lead(publisher=publisher, owner=owner)
    foreign = _member(make_publisher())

    # When the owner tries to give the lead to the foreigner
    response = owner_client.post(
        reverse("lead-assign", args=[lead.uuid]), {"owner": str(foreign.pk)}
    )

    # Then the page shows the error next to the owner field and the lead keeps its owner
    assert response.status_code == 400
    assert response.context["owner_form"].errors["owner"] == [
        f"Select a valid choice. {foreign.pk} is not one of the available choices."
    ]
    lead.refresh_from_db()
    assert lead.owner_id == owner.pk


def test_assign_service_refuses_a_non_member(publisher):
    lead = make_lead(publisher=publisher)
    with pytest.raises(ValidationError):
        leads_assign(publisher=publisher, lead_ids=[lead.pk], owner_id=make_user().pk)
    lead.refresh_from_db()
    assert lead.owner_id is None


def test_bulk_assign_gives_the_ticked_leads_to_a_member(publisher, owner_client):
    # Given three leads, two of them ticked, and another publisher's lead smuggled in
    leads = [make_lead(publisher=publisher, email=f"p{n}@contoso.example") for n in range(3)]
    foreign = make_lead(publisher=make_publisher())
    member = _member(publisher)

    # When the owner assigns the ticked leads
    response = owner_client.post(
        LEADS,
        {
            "action": "assign",
            "owner": str(member.pk),
            "lead": [str(leads[0].uuid), str(leads[1].uuid), str(foreign.uuid)],
        },
    )

    # Then exactly the publisher's ticked leads are the member's
    assert response.status_code == 302
    owned = set(Lead.objects.filter(owner=member).values_list("pk", flat=True))
    assert owned == {leads[0].pk, leads[1].pk}
    assert Lead.objects.get(pk=foreign.pk).owner_id is None


def test_bulk_assign_without_a_ticked_lead_is_an_error(publisher, owner_client):
    make_lead(publisher=publisher)
    member = _member(publisher)

    response = owner_client.post(LEADS, {"action": "assign", "owner": str(member.pk)})

    assert response.status_code == 200
    assert response.context["assign_form"].non_field_errors() == ["Select at least one lead."]
    assert not Lead.objects.filter(owner=member).exists()


def test_the_list_filters_by_owner_and_unassigned(publisher, owner, owner_client):
    # Given a lead of the owner, one of a member and one of nobody
    member = _member(publisher)
    make_lead(publisher=publisher, email="mine@contoso.example", owner=owner)
    make_lead(publisher=publisher, email="theirs@contoso.example", owner=member)
    make_lead(publisher=publisher, email="nobody@contoso.example")

    # Then each filter shows its leads
    assert shown(owner_client.get(LEADS, {"owner": str(member.pk)})) == ["theirs@contoso.example"]
    assert shown(owner_client.get(LEADS, {"owner": "none"})) == ["nobody@contoso.example"]
    assert len(shown(owner_client.get(LEADS))) == 3


# --- Notes ----------------------------------------------------------------------------------


def test_a_member_adds_a_note_shown_with_author_and_time(publisher, owner, owner_client):
    lead = make_lead(publisher=publisher)

    response = owner_client.post(
        reverse("lead-note-add", args=[lead.uuid]), {"body": "  Called: wants a demo.  "}
    )

    assert response.status_code == 302
    note = LeadNote.objects.get()
    assert (note.lead_id, note.author_id, note.body) == (lead.pk, owner.pk, "Called: wants a demo.")
    page = owner_client.get(reverse("lead-detail", args=[lead.uuid])).content.decode()
    assert "Called: wants a demo." in page
    assert owner.username in page


def test_an_empty_note_is_a_form_error(publisher, owner_client):
    lead = make_lead(publisher=publisher)

    response = owner_client.post(reverse("lead-note-add", args=[lead.uuid]), {"body": "   "})

    assert response.status_code == 400
    assert response.context["note_form"].errors["body"] == ["This field is required."]
    assert not LeadNote.objects.exists()


def test_only_the_author_edits_a_note_and_an_owner_may_delete_it(publisher, client_of):
    # Given a member's note, an owner and another member
    lead = make_lead(publisher=publisher)
    author = _member(publisher)
    other = _member(publisher)
    owner = _member(publisher, role=Membership.Role.OWNER)
    note = LeadNote.objects.create(lead=lead, author=author, body="First call")
    edit = reverse("lead-note-edit", args=[lead.uuid, note.pk])
    delete = reverse("lead-note-delete", args=[lead.uuid, note.pk])

    # Then another member can neither edit nor delete it, and an owner cannot edit it
    assert client_of(other).post(edit, {"body": "x"}).status_code == 403
    assert client_of(other).post(delete).status_code == 403
    assert client_of(owner).post(edit, {"body": "x"}).status_code == 403
    assert LeadNote.objects.get().body == "First call"

    # And the author edits it, and the owner deletes it
    assert client_of(author).post(edit, {"body": "Second call"}).status_code == 302
    assert LeadNote.objects.get().body == "Second call"
    assert client_of(owner).post(delete).status_code == 302
    assert not LeadNote.objects.exists()


def test_a_note_of_another_publisher_is_404(publisher, owner_client):
    foreign_lead = make_lead(publisher=make_publisher())
    note = LeadNote.objects.create(lead=foreign_lead, author=None, body="theirs")

    url = reverse("lead-note-delete", args=[foreign_lead.uuid, note.pk])

    assert owner_client.post(url).status_code == 404
    assert LeadNote.objects.filter(pk=note.pk).exists()


# --- Next step and "My leads" -----------------------------------------------------------


def test_next_step_is_set_marked_done_and_undone(publisher, owner_client):
    lead = make_lead(publisher=publisher)
    due = timezone.localdate() + timedelta(days=2)

    response = owner_client.post(
        reverse("lead-next-step", args=[lead.uuid]),
        {"next_step": "Send the quote", "next_step_due": due.isoformat()},
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.next_step, lead.next_step_due, lead.next_step_done_at) == (
        "Send the quote",
        due,
        None,
    )

    owner_client.post(reverse("lead-next-step-done", args=[lead.uuid]), {"done": "1"})
    lead.refresh_from_db()
    assert lead.next_step_done_at is not None

    owner_client.post(reverse("lead-next-step-done", args=[lead.uuid]), {"done": "0"})
    lead.refresh_from_db()
    assert lead.next_step_done_at is None


def test_a_due_date_without_a_step_is_a_form_error(publisher, owner_client):
    lead = make_lead(publisher=publisher)

    response = owner_client.post(
        reverse("lead-next-step", args=[lead.uuid]),
        {"next_step": "", "next_step_due": "2030-01-02"},
    )

    assert response.status_code == 400
    assert response.context["next_step_form"].errors["next_step"] == ["Say what the next step is."]
    lead.refresh_from_db()
    assert lead.next_step_due is None


def test_a_bad_date_is_a_form_error(publisher, owner_client):
    lead = make_lead(publisher=publisher)

    response = owner_client.post(
        reverse("lead-next-step", args=[lead.uuid]), {"next_step": "Call", "next_step_due": "31/31"}
    )

    assert response.status_code == 400
    assert response.context["next_step_form"].errors["next_step_due"] == ["Enter a valid date."]


def test_my_leads_lists_overdue_steps_first_then_by_due_date(
    publisher, owner, owner_client, django_assert_max_num_queries
):
    # Given the owner's leads with steps due at various dates, one done, one without a step,
    # a lead of someone else, and a merged lead of the owner
    today = timezone.localdate()

    def lead(email, **fields):
        return make_lead(
            publisher=publisher, email=f"{email}@contoso.example", owner=owner, **fields
        )

    lead("later", next_step="Call", next_step_due=today + timedelta(days=5))
    lead("overdue", next_step="Call", next_step_due=today - timedelta(days=3))
    lead("soon", next_step="Call", next_step_due=today + timedelta(days=1))
    lead(
        "done",
        next_step="Call",
        next_step_due=today - timedelta(days=9),
        next_step_done_at=timezone.now(),
    )
    lead("nostep")
    make_lead(publisher=publisher, email="other@contoso.example", owner=_member(publisher))
    survivor = lead("survivor")
    lead("merged", merged_into=survivor)

    # When the owner opens "My leads"
    with django_assert_max_num_queries(8):
        response = owner_client.get(reverse("leads-mine"))

    # Then the overdue step is first, then open steps by date, then the rest
    emails = [row.email.split("@")[0] for row in response.context["page"].object_list]
    assert emails[:3] == ["overdue", "soon", "later"]
    assert set(emails[3:]) == {"done", "nostep", "survivor"}
    assert "Overdue" in response.content.decode()


def test_my_leads_is_paginated(publisher, owner, owner_client):
    for n in range(27):
        make_lead(publisher=publisher, email=f"p{n}@contoso.example", owner=owner)

    first = owner_client.get(reverse("leads-mine"))
    second = owner_client.get(reverse("leads-mine"), {"page": 2})

    assert len(first.context["page"].object_list) == 25
    assert len(second.context["page"].object_list) == 2


# --- Admin ------------------------------------------------------------------------------


def test_admin_shows_owner_next_step_and_notes_read_only(publisher, owner, client):
    lead = make_lead(publisher=publisher, owner=owner, next_step="Send the quote")
    LeadNote.objects.create(lead=lead, author=owner, body="Wants the Spanish deck")
    client.force_login(make_user(is_staff=True, is_superuser=True))

    response = client.get(reverse("admin:leads_lead_change", args=[lead.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Send the quote" in html
    assert "Wants the Spanish deck" in html
    assert 'name="next_step"' not in html
    assert 'name="notes-0-body"' not in html
