"""The CRM admin: targets, pause and resume, and the delivery log."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.models import CrmTarget, Delivery
from crm.targets import targets_pause, targets_resume
from tests import factories
from tests.crm.admin_support import SENTINEL, edit_data, form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- The admin pages --------------------------------------------------------------------


def test_no_target_or_delivery_page_shows_a_stored_secret(staff_client, verified_target):
    # Given a delivery to a target whose secret is the sentinel
    delivery = factories.make_delivery(
        lead=factories.make_lead(publisher=verified_target.publisher), target=verified_target
    )

    # When staff open every page that shows the target or its deliveries
    pages = {
        "targets": reverse("admin:crm_crmtarget_changelist"),
        "target": reverse("admin:crm_crmtarget_change", args=[verified_target.pk]),
        "deliveries": reverse("admin:crm_delivery_changelist"),
        "delivery": reverse("admin:crm_delivery_change", args=[delivery.pk]),
        "lead": reverse("admin:leads_lead_change", args=[delivery.lead_id]),
    }
    responses = {name: staff_client.get(url) for name, url in pages.items()}

    # Then the secret appears nowhere
    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(pages, 200)
    assert {name: r.text.count(SENTINEL) for name, r in responses.items()} == dict.fromkeys(
        pages, 0
    )
    assert "https://crm.example/leads" in responses["target"].text


def test_admin_change_with_a_blank_secret_keeps_it_and_unverifies(staff_client, verified_target):
    # When staff change the URL in admin and leave the secret blank
    response = staff_client.post(
        reverse("admin:crm_crmtarget_change", args=[verified_target.pk]),
        edit_data(verified_target, config_httpsEndpointUrl="https://crm.example/v2"),
    )

    # Then the secret stays and the target is no longer verified
    assert response.status_code == 302
    verified_target.refresh_from_db()
    assert verified_target.config["signingSecret"] == SENTINEL
    assert verified_target.config["httpsEndpointUrl"] == "https://crm.example/v2"
    assert verified_target.verified_at is None


def test_admin_add_page_shows_the_configuration_of_the_chosen_kind(staff_client):
    without_kind = staff_client.get(reverse("admin:crm_crmtarget_add"))
    salesforce = staff_client.get(reverse("admin:crm_crmtarget_add"), {"kind": "salesforce"})

    assert "config_objectIdentifier" not in without_kind.text
    assert "?kind=salesforce" in without_kind.text
    assert 'name="config_objectIdentifier"' in salesforce.text
    assert 'name="config_baseUrl"' in salesforce.text


def test_admin_adds_a_field_seller_target_with_the_kind_defaults(staff_client):
    # When staff add a global Salesforce target, with the limits left empty
    response = staff_client.post(
        reverse("admin:crm_crmtarget_add"),
        form_data(
            kind=CrmTarget.Kind.SALESFORCE,
            name="Microsoft field sellers",
            config_objectIdentifier="00D000000000001",
            config_baseUrl="",
            config_contactEmail="",
        ),
    )

    # Then it exists without a publisher, with the kind's limits
    assert response.status_code == 302
    target = CrmTarget.objects.get()
    assert (target.publisher, target.is_field_seller, target.config) == (
        None,
        True,
        {"objectIdentifier": "00D000000000001"},
    )
    assert (target.rate_limit, target.rate_period_seconds, target.batch_size) == (500, 86_400, 1)


def test_changelist_warns_when_no_active_field_seller_target_exists(staff_client, publisher):
    # Given a publisher target and a paused field-seller target
    factories.make_target(publisher=publisher)
    factories.make_target(publisher=None, is_active=False)

    # When staff open the targets
    response = staff_client.get(reverse("admin:crm_crmtarget_changelist"))

    # Then they are warned
    assert _messages(response) == [
        "No active Microsoft field-seller target: qualified leads are not reaching Microsoft "
        "sellers. Add or resume a CRM target without a publisher."
    ]


def test_changelist_does_not_warn_when_the_field_seller_target_is_active(staff_client):
    factories.make_target(publisher=None)

    response = staff_client.get(reverse("admin:crm_crmtarget_changelist"))

    assert _messages(response) == []


def test_pause_and_resume_actions(staff_client, publisher):
    # Given two active targets
    first = factories.make_target(publisher=publisher)
    second = factories.make_target(publisher=publisher)
    factories.make_target(publisher=None)  # the field seller, so that no warning shows
    url = reverse("admin:crm_crmtarget_changelist")

    # When staff pause both, then resume the first
    paused = staff_client.post(
        url, {"action": "pause", "_selected_action": [first.pk, second.pk]}, follow=True
    )
    pause_state = set(CrmTarget.objects.filter(is_active=False).values_list("pk", flat=True))
    resumed = staff_client.post(
        url, {"action": "resume", "_selected_action": [first.pk]}, follow=True
    )

    # Then each action did what it says
    assert (_messages(paused), pause_state) == (["2 targets paused."], {first.pk, second.pk})
    assert _messages(resumed) == ["1 target resumed."]
    assert set(CrmTarget.objects.filter(is_active=False).values_list("pk", flat=True)) == {
        second.pk
    }


def test_redeliver_action_sends_finished_rows_again_but_not_one_being_sent_or_a_test(
    staff_client, publisher, django_capture_on_commit_callbacks
):
    # Given a failed and a delivered row, one being sent and a failed test lead
    target = factories.make_target(publisher=publisher)
    failed = factories.make_delivery(target=target, status="failed", attempts=5)
    delivered = factories.make_delivery(
        lead=factories.make_lead(publisher=publisher),
        target=target,
        status="delivered",
        attempts=1,
        delivered_at=timezone.now(),
    )
    sending = factories.make_delivery(
        lead=factories.make_lead(publisher=publisher), target=target, status="sending"
    )
    test = Delivery.objects.create(target=target, event="test", status="failed", attempts=1)
    rows = [failed, delivered, sending, test]

    # When staff redeliver all four
    with django_capture_on_commit_callbacks():
        response = staff_client.post(
            reverse("admin:crm_delivery_changelist"),
            {"action": "redeliver", "_selected_action": [row.pk for row in rows]},
            follow=True,
        )

    # Then the two finished rows are due again from a fresh count; the others are untouched,
    # and the page says why, not only how many
    assert sorted(_messages(response)) == sorted(
        [
            f"{sending} was skipped: it is being sent right now.",
            f"{test} was skipped: a test lead is sent again from its CRM target's page.",
            "2 deliveries will be sent again.",
        ]
    )
    states = {
        row.pk: (row.status, row.attempts)
        for row in Delivery.objects.filter(pk__in=[row.pk for row in rows])
    }
    assert states == {
        failed.pk: ("pending", 0),
        delivered.pk: ("pending", 0),
        sending.pk: ("sending", 0),
        test.pk: ("failed", 1),
    }


def test_pause_and_resume_count_only_targets_that_change(publisher):
    active = factories.make_target(publisher=publisher)
    paused = factories.make_target(publisher=publisher, is_active=False)
    both = CrmTarget.objects.filter(pk__in=[active.pk, paused.pk])

    assert targets_pause(targets=both) == 1
    assert targets_resume(targets=both) == 2


# --- The delivery log -------------------------------------------------------------------


def _count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_delivery_changelist_runs_as_many_queries_for_60_rows_as_for_5(staff_client):
    # Given 5 deliveries, each to its own lead, target and publisher
    url = reverse("admin:crm_delivery_changelist")
    for _ in range(5):
        factories.make_delivery()
    queries_for_5 = _count_queries(staff_client, url)

    # When there are 60
    for _ in range(55):
        factories.make_delivery()
    queries_for_60 = _count_queries(staff_client, url)

    # Then the changelist runs the same number of queries
    assert queries_for_60 == queries_for_5


def test_delivery_log_cannot_be_added_or_changed(staff_client, verified_target):
    # Given a failed delivery
    delivery = factories.make_delivery(
        lead=factories.make_lead(publisher=verified_target.publisher),
        target=verified_target,
        status=Delivery.Status.FAILED,
        attempts=3,
        last_error="timeout",
    )

    # When staff try to add one, or to post a change to it
    add = staff_client.get(reverse("admin:crm_delivery_add"))
    change = staff_client.post(
        reverse("admin:crm_delivery_change", args=[delivery.pk]),
        {"status": "delivered", "attempts": "0", "last_error": ""},
    )
    view = staff_client.get(reverse("admin:crm_delivery_change", args=[delivery.pk]))

    # Then both are refused, nothing changes, and the page shows the fields as text
    assert (add.status_code, change.status_code, view.status_code) == (403, 403, 200)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 3, "timeout")
    assert view.context["adminform"].form.fields == {}
    assert str(delivery.idempotency_key) in view.text


def test_delivery_search_finds_a_delivery_by_its_idempotency_key(staff_client):
    delivery = factories.make_delivery()
    factories.make_delivery()

    response = staff_client.get(
        reverse("admin:crm_delivery_changelist"), {"q": str(delivery.idempotency_key)}
    )

    assert [row.pk for row in response.context["cl"].result_list] == [delivery.pk]


def test_lead_page_lists_its_deliveries_read_only(staff_client, verified_target):
    lead = factories.make_lead(publisher=verified_target.publisher)
    delivery = factories.make_delivery(lead=lead, target=verified_target)

    response = staff_client.get(reverse("admin:leads_lead_change", args=[lead.pk]))

    inline = next(
        f for f in response.context["inline_admin_formsets"] if f.formset.model is Delivery
    )
    assert [form.instance.pk for form in inline.formset.forms] == [delivery.pk]
    assert (inline.has_add_permission, inline.has_delete_permission) == (False, False)


def test_send_test_lead_action_queues_one_test_delivery_per_selected_target(
    staff_client, publisher, django_capture_on_commit_callbacks
):
    # Given two targets of the publisher
    first = factories.make_target(publisher=publisher)
    second = factories.make_target(publisher=publisher)
    factories.make_target(publisher=None)  # the field seller, so that no warning shows
    url = reverse("admin:crm_crmtarget_changelist")

    # When staff send a test lead to both
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client.post(
            url, {"action": "send_test_lead", "_selected_action": [first.pk, second.pk]}
        )
    shown = staff_client.get(url)

    # Then each gets one pending test delivery, queued after the commit, and the count shows
    tests = Delivery.objects.filter(event=Delivery.Event.TEST, status=Delivery.Status.PENDING)
    assert response.status_code == 302
    assert sorted(tests.values_list("target_id", flat=True)) == sorted([first.pk, second.pk])
    assert len(callbacks) == 2
    assert _messages(shown) == [
        "2 test leads queued. Their results show in the targets' deliveries (event: test) "
        "within a few seconds."
    ]


def test_retry_now_action_makes_only_the_pending_deliveries_due(
    staff_client, publisher, django_capture_on_commit_callbacks
):
    # Given a pending delivery due in an hour and a delivered one
    later = timezone.now() + timedelta(hours=1)
    pending = factories.make_delivery(
        lead=factories.make_lead(publisher=publisher), next_attempt_at=later
    )
    delivered = factories.make_delivery(
        lead=pending.lead, target=pending.target, event=Delivery.Event.UPDATED,
        status=Delivery.Status.DELIVERED,
        delivered_at=timezone.now(), next_attempt_at=later,
    )  # fmt: skip
    url = reverse("admin:crm_delivery_changelist")

    # When staff retry both now
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client.post(
            url, {"action": "retry_now", "_selected_action": [pending.pk, delivered.pk]},
            follow=True,
        )  # fmt: skip

    # Then only the pending one is due now, its target's workers are woken, and it says so
    pending.refresh_from_db()
    delivered.refresh_from_db()
    assert pending.next_attempt_at <= timezone.now() < delivered.next_attempt_at
    assert len(callbacks) == 1
    assert _messages(response) == ["1 delivery is due now."]
