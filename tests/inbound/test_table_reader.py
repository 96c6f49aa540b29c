"""The Azure Table reader against Azurite: incremental, de-duplicated, leased, and quiet
about errors and personal data (inbound.table)."""

import json
import logging
import socket
from datetime import timedelta

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.data.tables import AccountSasPermissions, ResourceTypes, generate_account_sas
from django.utils import timezone

from crm.connectors import ssrf
from crm.models import Delivery
from inbound import table, table_sources, tasks
from inbound.models import InboundItem, InboundSource
from leads.models import Lead
from portal.celery import app
from tests.crm.connectors.ssrf_support import Canary, address_info
from tests.crm.receivers.azurite import ACCOUNT_KEY, ACCOUNT_NAME, running_azurite
from tests.factories import make_publisher, make_target
from tests.inbound.table_support import (
    customer,
    entity_keys,
    pc_entity,
    process_pending,
    published_offer,
    table_source,
    write,
)

pytestmark = pytest.mark.django_db
AN_HOUR_AGO = timedelta(hours=1)


@pytest.fixture(scope="module")
def azurite():
    with running_azurite() as connection_string:
        yield connection_string


@pytest.fixture(autouse=True)
def plain_http(settings):
    settings.DEBUG = True  # Azurite speaks plain http on loopback


@pytest.fixture
def publisher(db):
    publisher = make_publisher(name="Contoso", publisher_id="contoso")
    published_offer(publisher)
    return publisher


def history_source(publisher, azurite, table_name, **fields) -> InboundSource:
    return table_source(
        publisher, azurite, table_name, read_from=timezone.now() - AN_HOUR_AGO, **fields
    )


def items(source) -> list[InboundItem]:
    return list(InboundItem.objects.filter(source=source).order_by("dedupe_key"))


def test_each_entity_becomes_one_item_and_a_reread_stores_nothing(publisher, azurite):
    # Given five entities, read two per page
    written = write(azurite, "LeadsOnce", [pc_entity(n) for n in range(5)])
    source = history_source(publisher, azurite, "LeadsOnce")

    # When the source is read, then read again
    first = table.table_source_read(source_id=source.pk, page_size=2)
    again = table.table_source_read(source_id=source.pk, page_size=2)

    # Then each entity is one item, keyed by PartitionKey|RowKey, with the entity as JSON
    assert (first, again) == (5, 0)
    stored = items(source)
    assert [item.dedupe_key for item in stored] == sorted(entity_keys(written))
    body = json.loads(stored[0].body)
    entity = written[0]
    assert {key: body[key] for key in entity} == entity
    assert body["Timestamp"].endswith("+00:00")
    # And the watermark is the newest Timestamp read; the read is finished and released
    source.refresh_from_db()
    newest = max(json.loads(item.body)["Timestamp"] for item in stored)
    assert source.watermark.isoformat() == newest
    assert source.last_read_at is not None
    assert (source.read_cursor, source.read_lease_until, source.last_error) == ({}, None, "")
    assert source.last_received_at is not None


def test_the_overlap_window_reads_an_entity_that_shows_up_behind_the_watermark(
    publisher, azurite, settings
):
    # Given a source that has read one entity
    source = history_source(publisher, azurite, "LeadsLate")
    write(azurite, "LeadsLate", [pc_entity(1)])
    table.table_source_read(source_id=source.pk)
    # And an entity that becomes visible with a Timestamp a minute behind the watermark
    (late,) = write(azurite, "LeadsLate", [pc_entity(2)])
    stored_late = InboundSource.objects.filter(pk=source.pk)
    late_at = timezone.now() + timedelta(minutes=1)
    stored_late.update(watermark=late_at)

    # When it is read without an overlap window, then with the default five minutes
    settings.INBOUND_TABLE_OVERLAP_SECONDS = 0
    without = table.table_source_read(source_id=source.pk)
    settings.INBOUND_TABLE_OVERLAP_SECONDS = 300
    with_overlap = table.table_source_read(source_id=source.pk)

    # Then only the overlap window finds it, and the watermark never goes back
    assert (without, with_overlap) == (0, 1)
    assert entity_keys([late]) <= {item.dedupe_key for item in items(source)}
    source.refresh_from_db()
    assert source.watermark == late_at


def test_a_paused_source_is_not_read_until_it_resumes(publisher, azurite):
    write(azurite, "LeadsPaused", [pc_entity(1), pc_entity(2)])
    source = history_source(publisher, azurite, "LeadsPaused")
    table_sources.table_source_pause(source=source)

    assert source.pk not in table.table_sources_due()
    assert table.table_source_read(source_id=source.pk) is None
    assert items(source) == []

    table_sources.table_source_resume(source=source)
    assert source.pk in table.table_sources_due()
    assert table.table_source_read(source_id=source.pk) == 2


def test_a_first_read_starts_at_the_import_date_or_else_now(publisher, azurite, settings):
    # Given entities written before both sources exist: one imports history, one does not
    settings.INBOUND_TABLE_OVERLAP_SECONDS = 0  # "now" is the moment the source is added
    history = write(azurite, "LeadsHistory", [pc_entity(1), pc_entity(2)])
    importing = history_source(publisher, azurite, "LeadsHistory")
    from_now = table_source(publisher, azurite, "LeadsHistory")
    # (an import date after the entities were written reads none of them)
    later = table_source(
        publisher, azurite, "LeadsHistory", read_from=timezone.now() + timedelta(minutes=10)
    )

    # When each is read, then a new entity is written and each is read again
    first = [table.table_source_read(source_id=s.pk) for s in (importing, from_now, later)]
    (new,) = write(azurite, "LeadsHistory", [pc_entity(3)])
    second = [table.table_source_read(source_id=s.pk) for s in (importing, from_now)]

    # Then the import reads the history; the other reads only what came after it started
    assert first == [2, 0, 0]
    assert second == [1, 1]
    assert {i.dedupe_key for i in items(importing)} == entity_keys([*history, new])
    assert {i.dedupe_key for i in items(from_now)} == entity_keys([new])


def test_a_change_of_import_date_reads_again_without_storing_twice(publisher, azurite, settings):
    settings.INBOUND_TABLE_OVERLAP_SECONDS = 0  # "now" is the moment the source is added
    write(azurite, "LeadsReimport", [pc_entity(1), pc_entity(2)])
    source = table_source(publisher, azurite, "LeadsReimport")
    assert table.table_source_read(source_id=source.pk) == 0

    table_sources.table_source_update(
        source=source, table_name="LeadsReimport", read_from=timezone.now() - AN_HOUR_AGO
    )
    assert table.table_source_read(source_id=source.pk) == 2
    table_sources.table_source_update(
        source=source, table_name="LeadsReimport", read_from=timezone.now() - 2 * AN_HOUR_AGO
    )
    assert table.table_source_read(source_id=source.pk) == 0
    assert len(items(source)) == 2


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"account_key": "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5"},
            "The storage account refused the credentials",
        ),
        ({"table_name": "NoSuchTable"}, "The table NoSuchTable does not exist"),
    ],
)
def test_an_error_is_recorded_for_the_owner_without_the_secret(
    publisher, azurite, change, expected
):
    # Given a source with a wrong account key, or a table Partner Center never created
    write(azurite, "LeadsErrors", [pc_entity(1)])
    connection = azurite
    if "account_key" in change:
        connection = azurite.replace(
            azurite.split("AccountKey=")[1].split(";")[0], change["account_key"]
        )
    source = history_source(publisher, connection, change.get("table_name", "LeadsErrors"))

    # When it is read
    result = table.table_source_read(source_id=source.pk)

    # Then the read stops, the error says what to do, and names no secret
    assert result is None
    source.refresh_from_db()
    assert source.last_error.startswith(expected)
    assert source.last_error_at is not None
    assert "AccountKey" not in source.last_error
    assert connection.split("AccountKey=")[1][:20] not in source.last_error
    assert (source.watermark, source.read_lease_until, items(source)) == (None, None, [])


def test_the_ssrf_guard_refuses_an_account_whose_name_resolves_inward(
    publisher, settings, monkeypatch
):
    # Given the production policy, and an account name that resolves to loopback
    settings.DEBUG = False
    settings.CRM_ALLOW_PRIVATE_TARGETS = False
    host = f"{ACCOUNT_NAME}.table.core.rebind.example"
    with Canary() as canary:
        real = socket.getaddrinfo

        def getaddrinfo(name, port, *args, **kwargs):
            if name == host:
                return [address_info("127.0.0.1", canary.port)]
            return real(name, port, *args, **kwargs)

        monkeypatch.setattr(ssrf.socket, "getaddrinfo", getaddrinfo)
        connection = (
            f"DefaultEndpointsProtocol=https;AccountName={ACCOUNT_NAME};"
            f"AccountKey=a2V5;TableEndpoint=https://{host}"
        )
        source = history_source(publisher, connection, "MarketplaceLeads")

        # When it is read
        assert table.table_source_read(source_id=source.pk) is None

    # Then nothing connected to the address, and the owner reads why
    assert canary.connections == 0
    source.refresh_from_db()
    assert source.last_error == (
        "The storage account's address is refused: "
        f"{host} resolves to 127.0.0.1, a loopback address: refused."
    )


def test_a_test_lead_marks_the_source_connected(publisher, azurite):
    marker = "MSFT_TEST_636737558587117715"
    info = customer(0, FirstName=marker, LastName=marker, Email=f"{marker}@test.com")
    write(azurite, "LeadsValidate", [pc_entity(0, customer_info=json.dumps(info))])
    source = history_source(publisher, azurite, "LeadsValidate")

    table.table_source_read(source_id=source.pk)
    process_pending()

    source.refresh_from_db()
    assert source.connected_at is not None
    (item,) = items(source)
    assert item.is_test
    assert item.status == InboundItem.Status.PROCESSED
    assert item.activity.is_test


def test_a_table_lead_fans_out_to_the_publishers_targets_and_the_field_seller(
    publisher, azurite, django_capture_on_commit_callbacks
):
    # Given two CRM targets of the publisher, the field-seller CRM, and another publisher's
    publisher.qualification_threshold = 0
    publisher.save()
    mine = {make_target(publisher=publisher).name, make_target(publisher=publisher).name}
    field_seller = make_target(publisher=None, name="Microsoft field sellers")
    make_target(publisher=make_publisher(), name="Someone else's")
    write(azurite, "LeadsFanOut", [pc_entity(1)])
    source = history_source(publisher, azurite, "LeadsFanOut")

    # When the beat's read task reads it, and the worker processes what it queued
    with django_capture_on_commit_callbacks(execute=False) as queued:
        tasks.read_table(source.pk)
    assert len(queued) == 1
    process_pending()

    # Then the lead is qualified, with one delivery per target that covers it
    lead = Lead.objects.get()
    assert lead.status == "qualified"
    assert set(lead.deliveries.values_list("target__name", "event", "status")) == {
        (name, Delivery.Event.QUALIFIED, Delivery.Status.PENDING)
        for name in (*mine, field_seller.name)
    }


def test_no_log_line_holds_the_customers_details(publisher, azurite, caplog):
    caplog.set_level(logging.DEBUG)
    marker = customer(0, FirstName="Zq7Marker", Email="zq7.marker@leak.example")
    write(
        azurite,
        "LeadsQuiet",
        [
            pc_entity(0, customer_info=json.dumps(marker)),
            pc_entity(1, customer_info=json.dumps(marker), product_id="contoso.unknown"),
        ],
    )
    source = history_source(publisher, azurite, "LeadsQuiet")
    caplog.clear()

    table.table_source_read(source_id=source.pk)
    process_pending()

    logged = " ".join(repr(record.__dict__) for record in caplog.records)
    assert "inbound.rejected" in logged
    assert "Zq7Marker" not in logged
    assert "zq7.marker" not in logged


def test_a_page_costs_the_same_queries_whatever_its_size(
    publisher, azurite, django_assert_max_num_queries
):
    write(azurite, "LeadsQueries", [pc_entity(n) for n in range(40)])
    source = history_source(publisher, azurite, "LeadsQueries")

    # One page of 40: claim, load, renew, look up, insert, update the source, finish
    with django_assert_max_num_queries(8):
        assert table.table_source_read(source_id=source.pk, page_size=40) == 40


def test_a_read_that_fails_midway_keeps_its_pages_and_goes_on_from_them(
    publisher, azurite, monkeypatch
):
    # Given five entities, and a failure injected once the first page is committed
    written = write(azurite, "LeadsMidway", [pc_entity(n) for n in range(5)])
    source = history_source(publisher, azurite, "LeadsMidway")
    store, calls = table._page_store, []

    def store_then_fail(source, entities):
        calls.append(len(entities))
        if len(calls) == 2:
            raise RuntimeError("injected")
        return store(source, entities)

    monkeypatch.setattr(table, "_page_store", store_then_fail)

    # When it is read
    assert table.table_source_read(source_id=source.pk, page_size=2) is None

    # Then the first page stays, the error is recorded, the lease is released
    source.refresh_from_db()
    assert len(items(source)) == 2
    assert source.last_error == "The read failed (RuntimeError); the next read tries again."
    assert (source.read_lease_until, source.watermark) == (None, None)
    assert source.read_cursor["token"]

    # When the next read runs without the failure, it goes on from the committed page
    monkeypatch.setattr(table, "_page_store", store)
    assert table.table_source_read(source_id=source.pk, page_size=2) == 3
    assert {item.dedupe_key for item in items(source)} == entity_keys(written)
    source.refresh_from_db()
    assert (source.read_cursor, source.read_lease_until) == ({}, None)
    assert source.last_read_at > source.last_error_at


def test_a_read_out_of_time_hands_over_to_the_next_tick(publisher, azurite, settings):
    write(azurite, "LeadsBudget", [pc_entity(n) for n in range(5)])
    source = history_source(publisher, azurite, "LeadsBudget")
    settings.INBOUND_TABLE_READ_BUDGET_SECONDS = 0  # one page per read

    reads = []
    for _tick in range(3):
        assert source.pk in table.table_sources_due()  # released at once, not leased
        reads.append(table.table_source_read(source_id=source.pk, page_size=2))
        source.refresh_from_db()
        reads.append(source.watermark is not None)

    assert reads == [2, False, 2, False, 1, True]


def test_beat_reads_every_table_that_is_not_paused(publisher, azurite, settings):
    # Given two sources on one table, one of them paused
    write(azurite, "LeadsBeat", [pc_entity(1)])
    reading = history_source(publisher, azurite, "LeadsBeat")
    paused = history_source(publisher, azurite, "LeadsBeat")
    table_sources.table_source_pause(source=paused)

    # When beat's task runs (its read tasks run at once, in this process)
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        tasks.read_tables()
    finally:
        app.conf.task_always_eager = eager

    # Then the one not paused was read, every minute by default
    assert (len(items(reading)), len(items(paused))) == (1, 0)
    assert settings.CELERY_BEAT_SCHEDULE["inbound-read-tables"] == {
        "task": "inbound.read_tables",
        "schedule": 60.0,
    }


def test_the_validation_lead_is_read_whether_it_came_before_or_after_the_table(publisher, azurite):
    # Given Partner Center's validation lead, written just before the table is added here
    marker = "MSFT_TEST_636737558587117715"
    info = json.dumps(customer(0, FirstName=marker, Email=f"{marker}@test.com"))
    (before,) = write(azurite, "LeadsSetUp", [pc_entity(0, customer_info=info)])
    early = table_source(publisher, azurite, "LeadsSetUp")
    # And a table added before Partner Center created its table: its first read fails
    late = table_source(publisher, azurite, "LeadsNotYet")
    assert table.table_source_read(source_id=late.pk) is None

    # When Partner Center creates that table with its validation lead, and both are read
    (after,) = write(azurite, "LeadsNotYet", [pc_entity(1, customer_info=info)])
    reads = [table.table_source_read(source_id=s.pk) for s in (early, late)]

    # Then each has its validation lead, and is connected
    assert reads == [1, 1]
    for source, entity in ((early, before), (late, after)):
        source.refresh_from_db()
        assert {item.dedupe_key for item in items(source)} == entity_keys([entity])
        assert source.connected_at is not None


def test_a_read_only_shared_access_signature_is_enough(publisher, azurite):
    # Given a connection string whose SAS may only read and list (no account key)
    written = write(azurite, "LeadsSas", [pc_entity(1)])
    sas = generate_account_sas(
        AzureNamedKeyCredential(ACCOUNT_NAME, ACCOUNT_KEY),
        resource_types=ResourceTypes(service=True, container=True, object=True),
        permission=AccountSasPermissions(read=True, list=True),
        expiry=timezone.now() + timedelta(days=1),
    )
    endpoint = azurite.split("TableEndpoint=")[1].rstrip(";")
    connection = f"TableEndpoint={endpoint};SharedAccessSignature={sas}"
    source = history_source(publisher, connection, "LeadsSas")

    # When it is read, then the entity is stored
    assert table.table_source_read(source_id=source.pk) == 1
    assert {item.dedupe_key for item in items(source)} == entity_keys(written)


def test_an_account_that_never_answers_is_a_timeout_for_the_owner(publisher, settings):
    # Given a storage endpoint that takes the connection and never answers
    settings.CRM_TOTAL_TIMEOUT = 0.5
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        connection = (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"TableEndpoint=http://127.0.0.1:{port}/{ACCOUNT_NAME};"
        )
        source = history_source(publisher, connection, "MarketplaceLeads")

        # When it is read
        assert table.table_source_read(source_id=source.pk) is None

    # Then the owner reads that it did not answer, and the next read tries again
    source.refresh_from_db()
    assert source.last_error == (
        "The storage account did not answer in time; the next read tries again."
    )
    assert source.read_lease_until is None
    assert source.pk in table.table_sources_due()
