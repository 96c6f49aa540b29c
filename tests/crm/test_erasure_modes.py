"""The erasure modes at the contract receivers (docs/delivery.md, Erasure): notify sends the email
and deletes nothing; delete makes exactly the documented calls; a converted Dynamics lead
is not deleted. Each person is first delivered for real, through the outbox."""

from urllib.parse import urlsplit

import pytest
from azure.data.tables import TableClient
from django.utils import timezone

from crm.connectors import http_client
from crm.connectors.token_cache import default_cache
from crm.models import Delivery
from tests.crm.erasure_support import MARKERS, deliver, drain, erase, make_person
from tests.crm.receivers import dynamics_receiver, marketo_receiver
from tests.crm.receivers.azurite import azurite  # noqa: F401  (fixture)
from tests.crm.receivers.dynamics_receiver import ALTERNATE_KEY, DynamicsReceiver
from tests.crm.receivers.marketo_receiver import MarketoReceiver
from tests.factories import make_delivery, make_target
from tests.leads.nurture_support import smtp  # noqa: F401  (fixture)

CONTACT = "crm-admin@pub.example"


@pytest.fixture(autouse=True)
def _plain_http_loopback(settings):
    # The Dynamics, Marketo and Azurite stand-ins speak plain HTTP on loopback.
    settings.DEBUG = True
    yield
    http_client.clients_close()
    default_cache.clear()


@pytest.fixture
def dynamics():
    with dynamics_receiver.running(DynamicsReceiver()) as started:
        yield started


@pytest.fixture
def marketo():
    with marketo_receiver.running(MarketoReceiver()) as started:
        yield started


def target_for(publisher, kind, config, mode):
    return make_target(
        publisher=publisher,
        kind=kind,
        config={**config, "contactEmail": [CONTACT]},
        erasure_mode=mode,
    )


def test_marketo_notify_sends_the_email_and_deletes_nothing(publisher, marketo, smtp):  # noqa: F811
    target = target_for(publisher, "marketo", marketo.config(), "notify")
    lead = make_person(publisher=publisher)
    deliver(lead, target)

    (row,) = erase(lead)
    drain(target)

    assert MARKERS["email"] in marketo.leads  # still there
    assert (marketo.lookups, marketo.deletes) == ([], [])
    (received,) = smtp.received
    assert CONTACT in received.recipients
    assert f"email {MARKERS['email']}" in received.message.get_content()
    row.refresh_from_db()
    assert (row.status, row.outcome, row.lookup) == ("delivered", "notified", {})


def test_marketo_delete_looks_the_lead_up_by_email_then_deletes_its_id(
    publisher,
    marketo,
    smtp,  # noqa: F811
):
    target = target_for(publisher, "marketo", marketo.config(), "delete")
    lead = make_person(publisher=publisher)
    deliver(lead, target)
    marketo_id = marketo.leads[MARKERS["email"]]["id"]

    (row,) = erase(lead)
    drain(target)

    assert marketo.lookups == [[MARKERS["email"]]]
    assert marketo.deletes == [[marketo_id]]
    assert marketo.leads == {}
    assert marketo.refused == []
    assert smtp.received == []
    row.refresh_from_db()
    assert (row.status, row.outcome, row.lookup) == ("delivered", "deleted", {})


def test_marketo_delete_of_a_lead_already_gone_is_absent(publisher, marketo):
    target = target_for(publisher, "marketo", marketo.config(), "delete")
    lead = make_person(publisher=publisher)
    deliver(lead, target)
    marketo.leads.clear()  # deleted in Marketo by hand meanwhile

    (row,) = erase(lead)
    drain(target)

    assert (marketo.lookups, marketo.deletes) == ([[MARKERS["email"]]], [])
    row.refresh_from_db()
    assert (row.status, row.outcome) == ("delivered", "absent")


def test_dynamics_delete_reads_the_state_then_deletes_by_the_alternate_key(
    publisher,
    dynamics,
    smtp,  # noqa: F811
):
    config = dynamics.config(alternateKey=ALTERNATE_KEY)
    target = target_for(publisher, "dynamics365", config, "delete")
    lead = make_person(publisher=publisher)
    deliver(lead, target)

    (row,) = erase(lead)
    drain(target)

    keyed = f"/api/data/v9.2/leads({ALTERNATE_KEY}='{lead.uuid}')"
    assert dynamics.erasure_calls == [
        ("GET", f"{keyed}?%24select=statecode%2Cstatuscode"),
        ("DELETE", keyed),
    ]
    assert dynamics.records == {}
    assert smtp.received == []
    row.refresh_from_db()
    assert (row.status, row.outcome, row.lookup) == ("delivered", "deleted", {})


def test_a_converted_dynamics_lead_is_not_deleted_and_the_contact_is_notified(
    publisher,
    dynamics,
    smtp,  # noqa: F811
):
    config = dynamics.config(alternateKey=ALTERNATE_KEY)
    target = target_for(publisher, "dynamics365", config, "delete")
    lead = make_person(publisher=publisher)
    deliver(lead, target)
    (record_id,) = dynamics.records
    dynamics.convert(record_id)

    (row,) = erase(lead)
    drain(target)

    assert [method for method, _path in dynamics.erasure_calls] == ["GET"]
    assert record_id in dynamics.records
    (received,) = smtp.received
    body = received.message.get_content()
    assert f"{ALTERNATE_KEY} = '{lead.uuid}'" in body
    assert "converted" in body
    assert MARKERS["email"] not in body  # the key finds it: the address is not needed
    row.refresh_from_db()
    assert (row.status, row.outcome, row.lookup) == ("delivered", "converted", {})
    assert row.get_outcome_display() == "Converted, not deleted: the contact was notified"


def test_dynamics_without_an_alternate_key_deletes_the_lead_id_it_answered(publisher, dynamics):
    target = target_for(publisher, "dynamics365", dynamics.config(), "delete")
    lead = make_person(publisher=publisher)
    delivery = deliver(lead, target)
    (record_id,) = dynamics.records
    assert delivery.response_excerpt.endswith(f"/leads({record_id})")

    (row,) = erase(lead)
    drain(target)

    path = f"/api/data/v9.2/leads({record_id})"
    assert [(m, urlsplit(p).path) for m, p in dynamics.erasure_calls] == [
        ("GET", path),
        ("DELETE", path),
    ]
    assert dynamics.records == {}
    row.refresh_from_db()
    assert row.outcome == "deleted"


def test_dynamics_throttling_is_retried(publisher, dynamics):
    config = dynamics.config(alternateKey=ALTERNATE_KEY)
    target = target_for(publisher, "dynamics365", config, "delete")
    lead = make_person(publisher=publisher)
    deliver(lead, target)
    dynamics.respond_next(429, {"Retry-After": "60"})

    (row,) = erase(lead)
    drain(target)

    row.refresh_from_db()
    assert (row.status, row.last_status_code, row.outcome) == ("pending", 429, "")
    assert len(dynamics.records) == 1
    assert row.lookup["key_value"] == str(lead.uuid)


def test_azure_table_delete_removes_every_entity_the_deliveries_wrote(publisher, azurite):  # noqa: F811
    target = target_for(
        publisher, "azure-table", {"storageAccountConnectionString": azurite}, "delete"
    )
    lead = make_person(publisher=publisher)
    first = deliver(lead, target)
    second = deliver(lead, target, event="lead.updated")
    table = TableClient.from_connection_string(azurite, table_name="MarketplaceLeads")
    keys = {
        e["RowKey"] for e in table.query_entities(f"PartitionKey eq '{publisher.publisher_id}'")
    }
    assert keys == {str(first.idempotency_key), str(second.idempotency_key)}

    (row,) = erase(lead)
    drain(target)

    assert list(table.query_entities(f"PartitionKey eq '{publisher.publisher_id}'")) == []
    row.refresh_from_db()
    assert (row.status, row.outcome, row.lookup) == ("delivered", "deleted", {})


def test_salesforce_is_always_notified_even_when_set_to_delete(publisher, smtp):  # noqa: F811
    config = {"objectIdentifier": "00D000000000001"}
    target = target_for(publisher, "salesforce", config, "notify")
    target.erasure_mode = "delete"  # not offered for Salesforce; an old row might hold it
    target.save()
    lead = make_person(publisher=publisher)
    make_delivery(lead=lead, target=target, status="delivered", delivered_at=timezone.now())

    (row,) = erase(lead)
    drain(target)

    assert row.erasure_mode == "notify"
    assert len(smtp.received) == 1
    row.refresh_from_db()
    assert row.outcome == "notified"


def test_no_log_line_holds_the_address_while_marketo_is_searched_and_deleted(
    publisher, marketo, caplog
):
    # Given a Marketo target in delete mode that received the person, and a Marketo that
    # refuses the first lookup (a rate limit), then answers
    caplog.set_level("DEBUG")
    target = target_for(publisher, "marketo", marketo.config(), "delete")
    lead = make_person(publisher=publisher)
    deliver(lead, target)
    erase(lead)
    marketo.fail_next("606", "Max rate limit '100' exceeded")

    # When the erasure is tried, and tried again once due
    drain(target)
    Delivery.objects.filter(event="lead.erased").update(next_attempt_at=timezone.now())
    drain(target)

    # Then it was deleted, and no log record, message or extra, names the person
    assert marketo.leads == {}
    logged = caplog.text + " ".join(repr(vars(record)) for record in caplog.records)
    assert "crm.delivery.retrying" in logged
    assert [value for value in MARKERS.values() if value in logged] == []
