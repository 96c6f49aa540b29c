"""Erasure deliveries through the outbox: who gets one, the HTTPS event, notify by email,
retries, and the lookup wiped once settled."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from crm import leases, selectors, services
from crm.connectors import signing
from crm.models import CrmTarget, Delivery
from tests.crm.erasure_support import MARKERS, deliver, drain, erase, erasure_of, make_person
from tests.crm.receivers import Answer
from tests.crm.receivers.https_receiver import HttpsReceiver
from tests.factories import make_delivery, make_lead, make_target
from tests.leads.nurture_support import smtp  # noqa: F401  (fixture)

SECRET = signing.secret_generate()
SF_CONFIG = {"objectIdentifier": "00D000000000001", "contactEmail": ["crm-admin@pub.example"]}


pytestmark = [pytest.mark.sqlite, pytest.mark.usefixtures("trusted_loopback")]


@pytest.fixture
def receiver():
    with HttpsReceiver(SECRET) as server:
        yield server


@pytest.fixture
def https_target(publisher, receiver):
    return make_target(
        publisher=publisher,
        name="Webhook",
        config={"httpsEndpointUrl": receiver.url("/in"), "signingSecret": SECRET},
    )


def test_an_https_endpoint_gets_a_signed_event_with_the_lead_id_and_no_personal_data(
    publisher, https_target, receiver
):
    # Given a person delivered to the endpoint
    lead = make_person(publisher=publisher)
    deliver(lead, https_target)

    # When the person is erased and the outbox drains
    (row,) = erase(lead)
    drain(https_target)

    # Then the endpoint verified a lead.erased event naming the lead id and nothing else
    assert receiver.rejections() == []
    event = receiver.effects[str(row.idempotency_key)]
    assert set(event) == {"Event", "LeadId", "ErasedAt"}
    assert (event["Event"], event["LeadId"]) == ("lead.erased", str(lead.uuid))
    erased_request = receiver.requests[-1].body.decode()
    assert not [value for value in MARKERS.values() if value in erased_request]
    row.refresh_from_db()
    assert (row.status, row.outcome, row.erasure_mode) == ("delivered", "signalled", "event")
    assert row.lookup == {}


def test_every_target_that_received_the_lead_gets_one_erasure_the_field_seller_included(
    publisher, https_target
):
    # Given a lead delivered to the publisher's target and to the field-seller target,
    # attempted at a third, and only pending (never sent) at a fourth
    lead = make_person(publisher=publisher)
    field_seller = make_target(publisher=None, kind="salesforce", config=SF_CONFIG)
    tried = make_target(publisher=publisher, name="Tried")
    waiting = make_target(publisher=publisher, name="Waiting")
    answered = make_delivery(
        lead=lead,
        target=https_target,
        status="delivered",
        delivered_at=timezone.now(),
        response_excerpt=f"accepted {MARKERS['email']}",
    )
    make_delivery(lead=lead, target=field_seller, status="delivered", delivered_at=timezone.now())
    make_delivery(lead=lead, target=tried, status="pending", attempts=2)
    unsent = make_delivery(lead=lead, target=waiting, event="lead.updated")
    other = make_delivery(target=https_target, status="delivered", delivered_at=timezone.now())

    # When the lead is erased, twice
    rows = erase(lead)
    again = services.erasure_deliveries_create(lead=lead)

    # Then the three targets that received (or may have received) it get one each
    assert sorted(r.target_id for r in rows) == sorted([https_target.pk, field_seller.pk, tried.pk])
    assert [r.pk for r in again] == [r.pk for r in rows]
    modes = {r.target_id: r.erasure_mode for r in rows}
    assert modes == {https_target.pk: "event", field_seller.pk: "notify", tried.pk: "event"}
    # the unsent delivery and the retrying one are cancelled: they would carry placeholders
    unsent.refresh_from_db()
    assert (unsent.status, unsent.last_error) == ("failed", "Not sent: the lead was erased.")
    assert Delivery.objects.get(lead=lead, target=tried, event="lead.qualified").status == "failed"
    # the answers they kept are blanked: a CRM's answer may quote the person
    answered.refresh_from_db()
    assert (answered.status, answered.response_excerpt, answered.last_error) == (
        "delivered",
        "",
        "",
    )
    other.refresh_from_db()
    assert other.status == "delivered"  # another lead's rows are untouched


def test_the_lookup_is_encrypted_and_holds_only_what_the_crm_needs(publisher):
    lead = make_person(publisher=publisher)
    marketo = make_target(publisher=publisher, kind="marketo", config={"munchkinId": "1-A-2"})
    table = make_target(publisher=publisher, kind="azure-table", config={"tableName": "Leads"})
    sent = [
        make_delivery(lead=lead, target=t, status="delivered", delivered_at=timezone.now())
        for t in (marketo, table)
    ]

    erase(lead)

    assert erasure_of(lead, marketo).lookup == {
        "lead_id": str(lead.uuid),
        "email": MARKERS["email"],
    }
    assert erasure_of(lead, table).lookup == {
        "lead_id": str(lead.uuid),
        "table": "Leads",
        "partition_key": publisher.publisher_id,
        "row_keys": [str(sent[1].idempotency_key)],
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT lookup FROM crm_delivery WHERE event = 'lead.erased'")
        stored = " ".join(value for (value,) in cursor.fetchall())
    assert MARKERS["email"] not in stored
    assert stored.startswith("gAAAA")  # a Fernet token


def test_notify_emails_the_contacts_with_the_lead_id_and_the_record_and_deletes_nothing(
    publisher,
    smtp,  # noqa: F811
):
    # Given a Salesforce target (Web-to-Lead has no delete) that received the person
    target = make_target(publisher=publisher, kind="salesforce", config=SF_CONFIG)
    lead = make_person(publisher=publisher)
    make_delivery(lead=lead, target=target, status="delivered", delivered_at=timezone.now())

    # When the person is erased and the outbox drains
    (row,) = erase(lead)
    drain(target)

    # Then the target's contact and the publisher's lead contact got the request
    (received,) = smtp.received
    assert sorted(received.recipients) == sorted(
        ["crm-admin@pub.example", publisher.lead_contact_email]
    )
    body = received.message.get_content()
    assert str(lead.uuid) in received.message["Subject"]
    assert str(lead.uuid) in body
    assert f"email {MARKERS['email']}" in body  # Web-to-Lead records are found by email
    assert [v for v in MARKERS.values() if v in body] == [MARKERS["email"]]  # and only that
    row.refresh_from_db()
    assert (row.status, row.outcome, row.erasure_mode, row.lookup) == (
        "delivered",
        "notified",
        "notify",
        {},
    )
    assert publisher.lead_contact_email in row.response_excerpt


def test_an_smtp_failure_is_retried_with_the_lookup_kept_until_it_settles(publisher, settings):
    target = make_target(publisher=publisher, kind="salesforce", config=SF_CONFIG)
    lead = make_person(publisher=publisher)
    make_delivery(lead=lead, target=target, status="delivered", delivered_at=timezone.now())
    (row,) = erase(lead)
    settings.MAILERS = {  # nothing listens there
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": 9, "timeout": 2},
        }
    }

    drain(target)

    row.refresh_from_db()
    assert (row.status, row.attempts, row.outcome) == ("pending", 1, "")
    assert row.last_error.startswith("the email was not sent")
    assert row.next_attempt_at > timezone.now()
    assert row.lookup["email"] == MARKERS["email"]


def test_a_failing_endpoint_is_retried_then_delivered_and_the_lookup_wiped(
    publisher, https_target, receiver
):
    lead = make_person(publisher=publisher)
    deliver(lead, https_target)
    (row,) = erase(lead)
    receiver.answer_with(Answer(503))

    with time_machine.travel(timezone.now(), tick=False) as clock:
        drain(https_target)
        row.refresh_from_db()
        assert (row.status, row.attempts, row.lookup["lead_id"]) == ("pending", 1, str(lead.uuid))
        clock.move_to(row.next_attempt_at + timedelta(seconds=1))
        drain(https_target)

    row.refresh_from_db()
    assert (row.status, row.attempts, row.outcome, row.lookup) == ("delivered", 2, "signalled", {})
    assert [r.status for r in receiver.requests[-2:]] == [503, 200]


def test_a_dead_erasure_is_failed_with_its_lookup_wiped_and_is_never_redelivered(
    publisher, https_target, receiver
):
    lead = make_person(publisher=publisher)
    deliver(lead, https_target)
    (row,) = erase(lead)
    receiver.answer_with(Answer(400))

    drain(https_target)
    row.refresh_from_db()
    services.delivery_redeliver(delivery=row)

    row.refresh_from_db()
    assert (row.status, row.outcome, row.lookup, row.last_status_code) == ("failed", "", {}, 400)
    assert selectors.erasure_outcomes(lead_ids=[lead.pk])[lead.pk][0].is_settled


def test_a_delivery_in_flight_when_the_lead_is_erased_is_refused_when_it_comes_back(
    publisher, https_target, receiver
):
    # Given a lead.updated delivery claimed by a worker (sending, leased) before the erasure
    lead = make_person(publisher=publisher)
    deliver(lead, https_target)
    update = make_delivery(lead=lead, target=https_target, event="lead.updated")
    (claimed,) = leases.deliveries_claim(target=https_target, limit=1)
    erase(lead)

    # When its lease ends and the sweep hands it on
    with time_machine.travel(claimed.lease_until + timedelta(seconds=5)):
        drain(https_target)

    # Then it is refused, never sent; the erasure follows it
    update.refresh_from_db()
    assert (update.status, update.last_error) == ("failed", "Not sent: the lead was erased.")
    assert [json.loads(r.body)["Event"] for r in receiver.requests] == [
        "lead.qualified",
        "lead.erased",
    ]
    assert services.delivery_redeliver(delivery=update).status == "failed"


def test_the_selectors_name_the_recipients_and_read_the_outcomes(publisher, https_target):
    lead = make_person(publisher=publisher)
    field_seller = make_target(publisher=None, kind="marketo", name="Field", erasure_mode="delete")
    for target in (https_target, field_seller):
        make_delivery(lead=lead, target=target, status="delivered", delivered_at=timezone.now())
    never = make_lead(publisher=publisher)

    assert selectors.erasure_outcomes(lead_ids=[lead.pk]) == {}  # nothing is erased yet
    recipients = selectors.lead_recipients(lead=lead)
    erase(lead)

    assert [(r.name, r.kind, r.mode, r.is_field_seller) for r in recipients] == [
        ("Webhook", "https", "event", False),
        ("Field", "marketo", "delete", True),
    ]
    outcomes = selectors.erasure_outcomes(lead_ids=[lead.pk, never.pk])
    assert list(outcomes) == [lead.pk]
    assert [(o.target_name, o.status, o.outcome) for o in outcomes[lead.pk]] == [
        ("Webhook", "pending", ""),
        ("Field", "pending", ""),
    ]
    assert selectors.lead_recipients(lead=never) == []
    assert CrmTarget.objects.get(pk=https_target.pk).erasure_mode == "notify"  # the default


def test_writing_the_erasures_for_twelve_targets_takes_a_bounded_number_of_queries(
    publisher, django_assert_max_num_queries
):
    # Given a lead delivered three times to each of twelve targets of every kind
    lead = make_person(publisher=publisher)
    kinds = ["https", "salesforce", "dynamics365", "marketo", "azure-table", "https"] * 2
    for n, kind in enumerate(kinds):
        target = make_target(publisher=publisher, kind=kind, config={}, name=f"T{n}")
        for event in ("lead.qualified", "lead.updated", "lead.updated"):
            make_delivery(
                lead=lead,
                target=target,
                event=event,
                status="delivered",
                delivered_at=timezone.now(),
            )
    lead = type(lead).objects.get(pk=lead.pk)  # nothing cached

    # When the erasures are written: a bounded number of queries, whatever the fan-out
    with django_assert_max_num_queries(7):
        rows = services.erasure_deliveries_create(lead=lead)

    assert len(rows) == 12
