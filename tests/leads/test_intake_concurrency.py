"""Concurrent intake on real PostgreSQL: no deadlock reaches a client.

Each thread has its own database connection (Django's are per thread), and the tests
use committed data (`transactional_db`), so PostgreSQL sees real concurrent
transactions: row locks, unique-index waits, and its deadlock detector.
"""

import logging
import threading

import pytest
from django.db import connection
from django.test import Client

from leads.intake import transactions
from leads.models import Lead, LeadActivity
from tests.factories import make_lead
from tests.leads.conftest import Storefronts, lead_payload

pytestmark = pytest.mark.sqlite

PEOPLE = 300
ROUNDS = 5


def run_in_threads(*targets):
    """Run each callable in its own thread (and connection); return their results."""
    results: list = [None] * len(targets)
    errors: list = []

    def run(index, target):
        try:
            results[index] = target()
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def retries_in(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "leads.intake.retried"]


def test_two_batches_of_the_same_people_in_opposite_orders_never_deadlock(transactional_db, caplog):
    # Given a marketplace, and each round 300 people: half of them new, half known
    market = Storefronts()
    caplog.set_level(logging.WARNING, logger="leads.intake")
    statuses: list[int] = []
    item_codes: list[int] = []

    for round_number in range(ROUNDS):
        people = [f"p{(round_number * PEOPLE // 2) + n}@contoso.example" for n in range(PEOPLE)]
        forward = [
            lead_payload(email=email, LeadId=f"r{round_number}-a-{n}")
            for n, email in enumerate(people)
        ]
        backward = [
            lead_payload(email=email.upper(), LeadId=f"r{round_number}-b-{n}")
            for n, email in enumerate(reversed(people))
        ]
        barrier = threading.Barrier(2, timeout=30)

        def post(items, barrier=barrier):
            client = Client()
            barrier.wait()  # both batches start together
            return client.post(
                "/api/v1/leads/bulk",
                items,
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {market.azure_key}",
            )

        # When two connections post them at once, in opposite orders
        responses = run_in_threads(lambda: post(forward), lambda: post(backward))  # noqa: B023
        statuses += [r.status_code for r in responses]
        item_codes += [i["status_code"] for r in responses for i in r.json()["results"]]

    # Then no request failed, every item is stored, and each person is one lead
    assert statuses == [200] * (2 * ROUNDS)
    assert item_codes == [201] * (2 * ROUNDS * PEOPLE)
    distinct_people = PEOPLE + (ROUNDS - 1) * PEOPLE // 2
    assert Lead.objects.count() == distinct_people
    assert LeadActivity.objects.count() == 2 * ROUNDS * PEOPLE
    assert set(Lead.objects.values_list("email_normalized", flat=True)) == {
        f"p{n}@contoso.example" for n in range(distinct_people)
    }
    # The lock order alone prevented every deadlock: nothing needed a retry.
    assert retries_in(caplog) == []


@pytest.mark.no_sqlite
def test_a_deadlock_is_retried_inside_the_service(transactional_db, caplog):
    # Given two leads, and two transactions that lock them in opposite orders
    caplog.set_level(logging.WARNING, logger="leads.intake")
    first, second = make_lead(), make_lead()
    barrier = threading.Barrier(2, timeout=30)
    attempts: list[str] = []

    def lock_both(name, order):
        def work():
            attempts.append(name)
            Lead.objects.select_for_update().get(pk=order[0].pk)
            if attempts.count(name) == 1:
                barrier.wait()  # each holds its first row; the next lock closes the cycle
            Lead.objects.select_for_update().get(pk=order[1].pk)
            return name

        return lambda: transactions.run_atomic(work)

    # When they run at once, PostgreSQL detects the deadlock and aborts one of them
    results = run_in_threads(lock_both("a", [first, second]), lock_both("b", [second, first]))

    # Then both complete: the victim was retried once, and the client never saw it
    assert results == ["a", "b"]
    assert sorted(attempts) in (["a", "a", "b"], ["a", "b", "b"])
    (retry,) = retries_in(caplog)
    assert (retry.attempt, retry.sqlstate) == (1, "40P01")


def test_inside_a_callers_transaction_a_deadlock_is_the_callers(db):
    # Given a caller's transaction (the test's), run_atomic uses a savepoint and no retry
    calls = []

    def work():
        calls.append(1)
        return "done"

    assert connection.in_atomic_block
    assert transactions.run_atomic(work) == "done"
    assert calls == [1]


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_only_deadlocks_and_serialization_failures_are_retryable(sqlstate):
    class Cause(Exception):
        pass

    cause = Cause()
    cause.sqlstate = sqlstate
    error = Exception()
    error.__cause__ = cause
    other = Exception()
    other.__cause__ = Cause()
    other.__cause__.sqlstate = "23505"

    assert transactions.is_retryable(error) is True
    assert transactions.is_retryable(other) is False
