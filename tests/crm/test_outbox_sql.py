"""The outbox's claim and record: one statement each on PostgreSQL (crm.outbox_sql), the
same meaning on the SQLite leg's portable path. The behaviour tests run on both; the
statement counts and the lock-skipping need PostgreSQL."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from crm import leases, records
from crm.connectors import Result
from crm.models import Delivery
from tests.factories import make_delivery, make_lead, make_target

pytestmark = pytest.mark.sqlite


def _result(row: Delivery, outcome: str, **fields) -> Result:
    return Result(str(row.idempotency_key), outcome, **fields)


def test_a_claim_takes_the_oldest_due_rows_counts_them_and_leases_them(db, settings):
    settings.CRM_LEASE_SECONDS = 20
    now = timezone.now()
    target = make_target(publisher=None)
    lead = make_lead()

    def row(**fields):
        return make_delivery(lead=lead, target=target, event="lead.updated", **fields)

    newest, oldest, middle = (row(next_attempt_at=now - timedelta(minutes=m)) for m in (1, 9, 5))
    stuck = row(status="sending", attempts=2, lease_until=now - timedelta(seconds=1))
    row(next_attempt_at=now + timedelta(minutes=5))  # not due
    row(status="sending", attempts=1, lease_until=now + timedelta(minutes=1))  # held
    row(status="delivered", attempts=1, delivered_at=now)
    make_delivery(lead=lead, event="lead.updated")  # another target's

    claimed = leases.deliveries_claim(target=target, limit=3)

    assert [c.pk for c in claimed] == [oldest.pk, middle.pk, newest.pk]
    assert {(c.status, c.attempts) for c in claimed} == {("sending", 1)}
    stored = Delivery.objects.filter(pk__in=[c.pk for c in claimed])
    assert {(d.status, d.attempts) for d in stored} == {("sending", 1)}
    assert all(now + timedelta(seconds=19) < d.lease_until for d in stored)
    assert [c.pk for c in leases.deliveries_claim(target=target, limit=10)] == [stuck.pk]
    assert Delivery.objects.get(pk=stuck.pk).attempts == 3
    assert leases.deliveries_claim(target=target, limit=10) == []


def test_a_claimed_erasure_row_comes_back_with_its_lookup_decrypted(db):
    row = make_delivery(event="lead.erased", lookup={"email": "ana@example.com"})

    (claimed,) = leases.deliveries_claim(target=row.target, limit=1)

    assert claimed.lookup == {"email": "ana@example.com"}
    assert claimed.idempotency_key == row.idempotency_key


def test_a_batchs_results_are_recorded_each_as_its_outcome_says(db, settings):
    settings.CRM_MAX_ATTEMPTS = 3
    target = make_target(publisher=None)
    lead = make_lead()
    ok, retry, bad, spent, taken = (
        make_delivery(lead=lead, target=target, event="lead.updated") for _ in range(5)
    )
    erased = make_delivery(lead=lead, target=target, event="lead.erased", lookup={"k": "v"})
    Delivery.objects.filter(pk=spent.pk).update(attempts=2)
    claimed = {c.pk: c for c in leases.deliveries_claim(target=target, limit=10)}
    Delivery.objects.filter(pk=taken.pk).update(attempts=9)  # its lease was taken over
    results = {
        ok.pk: _result(ok, "delivered", status_code=202, response_excerpt="fine"),
        retry.pk: _result(retry, "retryable", status_code=503, error="busy", retry_after=600),
        bad.pk: _result(bad, "permanent", status_code=400, error="no"),
        spent.pk: _result(spent, "retryable", status_code=503, error="busy"),
        taken.pk: _result(taken, "delivered", status_code=200),
        erased.pk: _result(erased, "delivered", status_code=204, erasure="deleted"),
    }
    before = timezone.now()

    outcomes = records.deliveries_record(
        pairs=[(claimed[pk], result) for pk, result in results.items()], target=target
    )

    assert outcomes == {
        ok.pk: "delivered",
        retry.pk: "retrying",
        bad.pk: "failed",
        spent.pk: "failed",
        taken.pk: None,
        erased.pk: "delivered",
    }
    rows = {d.pk: d for d in Delivery.objects.all()}
    fields = ("status", "last_status_code", "last_error", "response_excerpt", "lease_until")
    state = {pk: tuple(getattr(rows[pk], name) for name in fields) for pk in results}
    assert state[ok.pk] == ("delivered", 202, "", "fine", None)
    assert state[retry.pk] == ("pending", 503, "busy", "", None)
    assert state[bad.pk] == ("failed", 400, "no", "", None)
    assert state[spent.pk] == ("failed", 503, "busy", "", None)
    assert rows[taken.pk].status == "sending"
    assert rows[ok.pk].delivered_at >= before and rows[retry.pk].delivered_at is None
    assert rows[retry.pk].next_attempt_at >= before + timedelta(seconds=600)
    assert rows[bad.pk].next_attempt_at == claimed[bad.pk].next_attempt_at  # unchanged
    assert (rows[erased.pk].status, rows[erased.pk].outcome) == ("delivered", "deleted")
    assert rows[erased.pk].lookup == {}  # settled: no copy of the address is kept
    assert rows[ok.pk].lookup is None


def test_a_retrying_erasure_keeps_its_lookup_and_outcome(db):
    row = make_delivery(event="lead.erased", lookup={"k": "v"})
    (claimed,) = leases.deliveries_claim(target=row.target, limit=1)

    outcomes = records.deliveries_record(
        pairs=[(claimed, _result(row, "retryable", error="busy"))], target=row.target
    )

    row.refresh_from_db()
    assert outcomes == {row.pk: "retrying"}
    assert (row.status, row.outcome, row.lookup) == ("pending", "", {"k": "v"})


@pytest.mark.no_sqlite
def test_postgresql_claims_in_one_statement_and_records_in_one(db, django_assert_num_queries):
    target = make_target(publisher=None)
    lead = make_lead()
    rows = [make_delivery(lead=lead, target=target, event="lead.updated") for _ in range(20)]

    with django_assert_num_queries(1):
        claimed = leases.deliveries_claim(target=target, limit=20)
    pairs = [
        (d, _result(d, "delivered" if d.pk % 2 else "retryable", status_code=200)) for d in claimed
    ]
    with django_assert_num_queries(1):
        outcomes = records.deliveries_record(pairs=pairs, target=target)

    assert len(claimed) == len(outcomes) == len(rows)
    assert set(outcomes.values()) == {"delivered", "retrying"}


@pytest.mark.no_sqlite
@pytest.mark.django_db(transaction=True)
def test_a_claim_skips_rows_another_transaction_holds_and_never_waits():
    target = make_target(publisher=None)
    lead = make_lead()
    locked, free = (make_delivery(lead=lead, target=target, event="lead.updated") for _ in "ab")
    holding, done = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                Delivery.objects.select_for_update().get(pk=locked.pk)
                holding.set()
                done.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(timeout=10)
        claimed = leases.deliveries_claim(target=target, limit=10)
    finally:
        done.set()
        thread.join()

    assert [c.pk for c in claimed] == [free.pk]
    assert Delivery.objects.get(pk=locked.pk).status == "pending"
