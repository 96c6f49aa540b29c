"""The portal's "send a test lead": queued after commit, sent by a worker, and the page
polls a small fragment until the outcome shows. A strict loopback receiver (Standard
Webhooks signatures checked) and the real Redis broker."""

import base64
import json
from datetime import timedelta

import kombu
import pytest
import redis
import time_machine
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from crm import services, tasks
from crm.connectors import http_client, signing
from crm.models import Delivery
from portal.celery import app
from portal.models import Membership
from tests.crm.receivers import Answer, ca_bundle_path
from tests.crm.receivers.https_receiver import HttpsReceiver
from tests.factories import make_membership, make_target

pytestmark = pytest.mark.django_db

SECRET = signing.secret_generate()


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def receiver(monkeypatch, settings):
    monkeypatch.setenv("CRM_EXTRA_CA_BUNDLE", ca_bundle_path())
    with HttpsReceiver(SECRET) as server:
        yield server
    http_client.clients_close()


@pytest.fixture
def target(publisher, receiver):
    return make_target(
        publisher=publisher,
        config={"httpsEndpointUrl": receiver.url("/hook"), "signingSecret": SECRET},
    )


@pytest.fixture
def broker():
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete("celery", "delivery")
    yield client
    client.delete("celery", "delivery")


def queued_tests(broker) -> list[tuple[str, list]]:
    found = []
    for raw in reversed(broker.lrange("celery", 0, -1)):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        found.append((message["headers"]["task"], args))
    return found


def send(client, target, django_capture_on_commit_callbacks, **headers):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(reverse("crm-target-test", args=[target.pk]), **headers)


def poll_url(target, test) -> str:
    return reverse("crm-target-test-result", args=[target.pk, test.pk])


def test_sending_queues_the_test_lead_and_answers_a_polling_fragment(
    owner_client, target, receiver, broker, django_capture_on_commit_callbacks
):
    # When the owner sends a test lead with htmx
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = owner_client.post(
            reverse("crm-target-test", args=[target.pk]), HTTP_HX_REQUEST="true"
        )
    before_commit = queued_tests(broker)
    for callback in callbacks:
        callback()

    # Then the fragment says "Sending…" and polls; nothing was sent in the request, and
    # the worker's task is queued on the default queue only after commit
    test = Delivery.objects.get()
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('id="test-result"') == 1
    assert "Sending…" in html
    assert f'hx-get="{poll_url(target, test)}"' in html
    assert 'hx-trigger="load delay:1s"' in html
    assert (test.event, test.status, test.attempts, test.next_attempt_at) == (
        "test",
        "pending",
        0,
        None,
    )
    assert receiver.requests == []
    assert before_commit == []
    assert queued_tests(broker) == [("crm.send_test_lead", [test.pk])]


def test_the_worker_sends_it_and_the_poll_shows_delivered_and_stops(
    owner_client, target, receiver, broker, django_capture_on_commit_callbacks
):
    # Given a queued test lead
    send(owner_client, target, django_capture_on_commit_callbacks, HTTP_HX_REQUEST="true")
    test = Delivery.objects.get()
    receiver.answer_with(Answer(200, body=b'{"accepted": true}'))

    # When the worker runs the task, and the page polls
    services.send_test_lead.apply(args=[test.pk])
    response = owner_client.get(poll_url(target, test), HTTP_HX_REQUEST="true")

    # Then the fragment shows the delivery with its status and excerpt, stops polling,
    # and refreshes the verified badge; the target is verified
    html = response.content.decode()
    target.refresh_from_db()
    test.refresh_from_db()
    assert response.status_code == 200
    assert "Delivered" in html and "Sending…" not in html
    assert "hx-get" not in html and "hx-trigger" not in html
    assert "<dd>200</dd>" in html
    assert "{&quot;accepted&quot;: true}" in html
    assert 'id="verified-badge"' in html and 'hx-swap-oob="true"' in html
    assert (test.status, test.attempts, test.last_status_code) == ("delivered", 1, 200)
    assert target.verified_at is not None
    assert [r.reason for r in receiver.requests] == [""]
    assert receiver.requests[0].headers["webhook-id"] == str(test.idempotency_key)


def test_a_failing_test_lead_shows_its_status_and_excerpt_and_leaves_it_unverified(
    owner_client, target, receiver, broker, django_capture_on_commit_callbacks
):
    # Given a receiver that fails, and an owner without JavaScript
    receiver.answer_with(Answer(500, body=b"receiver exploded"))
    response = send(owner_client, target, django_capture_on_commit_callbacks)
    page = owner_client.get(response["Location"]).content.decode()
    test = Delivery.objects.get()

    # When the worker sends it, and the page is opened again
    services.send_test_lead.apply(args=[test.pk])
    after = owner_client.get(response["Location"]).content.decode()

    # Then the page said it was on its way (and polled), then shows the failure
    target.refresh_from_db()
    assert response["Location"] == reverse("crm-target-detail", args=[target.pk])
    assert "The test lead is on its way." in page and "Sending…" in page
    assert f'hx-get="{poll_url(target, test)}"' in page
    assert "Failed" in after and "<dd>500</dd>" in after and "receiver exploded" in after
    assert f'hx-get="{poll_url(target, test)}"' not in after
    assert target.verified_at is None


def test_a_redelivered_message_sends_the_test_lead_once(
    owner_client, target, receiver, broker, django_capture_on_commit_callbacks
):
    send(owner_client, target, django_capture_on_commit_callbacks)
    test = Delivery.objects.get()

    services.send_test_lead.apply(args=[test.pk])
    services.send_test_lead.apply(args=[test.pk])

    test.refresh_from_db()
    assert (test.status, test.attempts) == ("delivered", 1)
    assert len(receiver.requests) == 1


def test_the_sweep_never_takes_a_test_lead(owner_client, target, broker):
    # Given a test lead waiting for its worker
    Delivery.objects.create(target=target, event="test", status="pending")

    # When the sweep runs
    tasks.sweep.apply()

    # Then it wakes nothing for it (its one attempt belongs to its own task)
    assert broker.llen("delivery") == 0


def test_a_test_lead_no_worker_took_shows_as_lost_and_stops_polling(owner_client, target):
    # Given a test lead queued three minutes ago that no worker has taken
    with time_machine.travel(timezone.now() - timedelta(minutes=3)):
        test = Delivery.objects.create(target=target, event="test", status="pending")

    # When the page polls
    html = owner_client.get(poll_url(target, test)).content.decode()

    # Then it says no worker sent it, and polls no more
    assert "Not sent" in html
    assert "Check that a Celery worker is running" in html
    assert "hx-get" not in html


def test_a_broker_outage_fails_the_test_lead_at_once(
    owner_client, target, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    # Given a broker that is down
    down = kombu.Connection("redis://127.0.0.1:1/0", transport_options={"max_retries": 0})
    monkeypatch.setattr(app, "connection_for_write", lambda **options: down)

    # When the owner sends a test lead
    response = send(owner_client, target, django_capture_on_commit_callbacks)
    test = Delivery.objects.get()
    html = owner_client.get(poll_url(target, test)).content.decode()

    # Then the request still answers, and the test lead shows as failed, with the reason
    assert response.status_code == 302
    assert test.status == "failed"
    assert "The task queue is unavailable." in html
    assert receiver.requests == []


def test_members_read_the_result_but_cannot_send(client, publisher, target, broker):
    # Given a member, and a test lead of the target
    client.force_login(make_membership(publisher=publisher, role=Membership.Role.MEMBER).user)
    test = Delivery.objects.create(target=target, event="test", status="pending")

    # When the member polls the result, then tries to send a test lead
    polled = client.get(poll_url(target, test))
    sent = client.post(reverse("crm-target-test", args=[target.pk]))

    # Then the result shows, and the send is refused with nothing queued
    assert polled.status_code == 200
    assert sent.status_code == 403
    assert Delivery.objects.count() == 1
    assert queued_tests(broker) == []


def test_a_test_lead_of_another_target_or_a_real_delivery_is_404(owner_client, publisher, target):
    # Given another target of the same publisher with a test lead
    other = make_target(publisher=publisher)
    foreign_test = Delivery.objects.create(target=other, event="test", status="failed")

    # When the owner polls it under the first target's URL
    response = owner_client.get(
        reverse("crm-target-test-result", args=[target.pk, foreign_test.pk])
    )

    # Then it is not found
    assert response.status_code == 404


def test_the_admin_action_queues_one_test_lead_per_target_and_sends_nothing_itself(
    client, staff_user, publisher, target, receiver, broker, django_capture_on_commit_callbacks
):
    # Given two targets selected in admin
    other = make_target(
        publisher=publisher,
        name="Second hook",
        config={"httpsEndpointUrl": receiver.url("/other"), "signingSecret": SECRET},
    )
    client.force_login(staff_user)

    # When staff run "Send a test lead"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:crm_crmtarget_changelist"),
            {"action": "send_test_lead", "_selected_action": [target.pk, other.pk]},
            follow=True,
        )

    # Then two pending test deliveries are queued on a worker, nothing was sent in the
    # request, and the message says where the results show
    tests = list(Delivery.objects.filter(event="test").order_by("target_id"))
    assert response.status_code == 200
    assert "2 test leads queued." in response.content.decode()
    assert [(t.target_id, t.status) for t in tests] == [
        (target.pk, "pending"),
        (other.pk, "pending"),
    ]
    assert receiver.requests == []
    assert sorted(queued_tests(broker)) == sorted([("crm.send_test_lead", [t.pk]) for t in tests])
