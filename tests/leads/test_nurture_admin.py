"""Smoke tests of the nurture admins, and their service-backed actions."""

import pytest
from django.urls import reverse

from leads.models import EmailSend, Enrollment, Suppression
from leads.nurture.unsubscribe import email_hash
from tests.factories import make_lead
from tests.leads.admin_support import messages_of, run_action
from tests.leads.nurture_support import Sequence

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def sent_once():
    sequence = Sequence()
    lead = make_lead(publisher=sequence.publisher, marketing_consent=True)
    enrollment = Enrollment.objects.create(
        lead=lead, campaign=sequence.campaign, enrolled_at=lead.created_at, last_position=1
    )
    send = EmailSend.objects.create(
        enrollment=enrollment, step=sequence.steps[0], status="interrupted"
    )
    Suppression.objects.create(
        publisher=sequence.publisher, email_hash=email_hash("x@y.example"), reason="bounced"
    )
    return sequence, enrollment, send


@pytest.mark.parametrize(
    "model", ["nurturestep", "nurturesequence", "enrollment", "emailsend", "suppression"]
)
def test_changelist_and_change_pages_load(admin_client, sent_once, model):
    changelist = admin_client.get(reverse(f"admin:leads_{model}_changelist"))
    assert changelist.status_code == 200
    obj = {
        "nurturestep": sent_once[0].steps[0],
        "nurturesequence": sent_once[0].campaign.nurture_sequence,
        "enrollment": sent_once[1],
        "emailsend": sent_once[2],
        "suppression": Suppression.objects.get(),
    }[model]
    change = admin_client.get(reverse(f"admin:leads_{model}_change", args=[obj.pk]))
    assert change.status_code == 200


def test_staff_add_a_suppression_by_address_and_only_its_hash_is_kept(admin_client, sent_once):
    publisher = sent_once[0].publisher
    response = admin_client.post(
        reverse("admin:leads_suppression_add"),
        {
            "publisher": publisher.pk,
            "email": "Eve@Example.com",
            "reason": "complained",
            "detail": "",
        },
    )
    assert response.status_code == 302
    suppression = Suppression.objects.get(reason="complained")
    assert suppression.email_hash == email_hash("eve@example.com")
    found = admin_client.get(reverse("admin:leads_suppression_changelist") + "?q=EVE@example.com")
    assert list(found.context["cl"].result_list) == [suppression]


def test_a_step_with_template_syntax_is_refused_in_admin(admin_client, sent_once):
    sequence = sent_once[0]
    response = admin_client.post(
        reverse("admin:leads_nurturestep_add"),
        {
            "campaign": sequence.campaign.pk,
            "position": 9,
            "delay_minutes": 60,
            "subject": "{% debug %}",
            "body": "{{ settings.SECRET_KEY }}",
            "stop_condition": "",
        },
    )
    assert response.status_code == 200
    assert sequence.campaign.nurture_steps.count() == 3


def test_releasing_an_interrupted_send_makes_the_step_due_again(admin_client, sent_once):
    _sequence, enrollment, send = sent_once
    admin_client.post(
        reverse("admin:leads_emailsend_changelist"),
        {"action": "release", "_selected_action": [send.pk]},
    )
    send.refresh_from_db()
    enrollment.refresh_from_db()
    assert send.status == "deferred"
    assert (enrollment.state, enrollment.last_position) == ("active", 0)


def test_stopping_enrolments_in_admin_stops_and_counts_the_active_ones_only(
    admin_client, sent_once
):
    # Given an active enrolment and one that completed
    sequence, active, _send = sent_once
    other = make_lead(publisher=sequence.publisher, marketing_consent=True)
    completed = Enrollment.objects.create(
        lead=other, campaign=sequence.campaign, enrolled_at=other.created_at, state="completed"
    )

    # When staff stop both
    response = run_action(
        admin_client,
        reverse("admin:leads_enrollment_changelist"),
        "stop",
        [active.pk, completed.pk],
    )

    # Then the active one is stopped by staff, the completed one stays, and only one is counted
    assert messages_of(response) == ["1 enrolment stopped."]
    active.refresh_from_db()
    completed.refresh_from_db()
    assert (active.state, active.stop_reason, active.next_send_at) == ("stopped", "staff", None)
    assert (completed.state, completed.stop_reason) == ("completed", "")
