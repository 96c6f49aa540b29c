"""The outbox engine without the network: claiming, schedule, alerts, sweep, redelivery."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from crm import alerts, leases, pacing, ratelimit, selectors, services, tasks
from crm.connectors import Result
from crm.models import CrmTarget, Delivery
from tests.factories import make_delivery, make_lead, make_target

pytestmark = pytest.mark.sqlite

SCHEDULE = [0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]


@pytest.mark.parametrize("attempts", range(1, 10))
def test_the_retry_delay_follows_the_schedule_within_20_percent(attempts):
    delays = [pacing.next_delay(attempts) for _ in range(200)]

    assert min(delays) >= SCHEDULE[attempts] * 0.8
    assert max(delays) <= SCHEDULE[attempts] * 1.2
    if SCHEDULE[attempts]:
        assert len(set(delays)) > 1  # jittered


def test_retry_after_raises_the_delay_and_is_capped_at_a_day():
    assert pacing.next_delay(1, retry_after=120) >= 120
    assert pacing.next_delay(1, retry_after=10**9) <= 86400 * 1.2
    assert pacing.next_delay(9, retry_after=1) >= 86400 * 0.8


# Both claims progress only with SKIP LOCKED; SQLite's single writer lets one take all.
@pytest.mark.no_sqlite
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_claims_over_1000_due_rows_take_each_row_once():
    target = make_target(publisher=None, batch_size=100)
    lead = make_lead()
    now = timezone.now()
    Delivery.objects.bulk_create(
        Delivery(lead=lead, target=target, event="lead.updated", next_attempt_at=now)
        for _ in range(1000)
    )
    claimed: list[list[int]] = [[], []]
    barrier = threading.Barrier(2)

    def claim(slot):
        barrier.wait()
        try:
            while rows := leases.deliveries_claim(target=target, limit=100):
                claimed[slot].extend(row.pk for row in rows)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not set(claimed[0]) & set(claimed[1])
    assert len(claimed[0]) + len(claimed[1]) == 1000
    assert claimed[0] and claimed[1]  # both sweeps worked
    assert set(Delivery.objects.values_list("status", "attempts")) == {("sending", 1)}


def test_a_claim_counts_the_attempt_and_sets_a_lease(db):
    row = make_delivery()

    (claimed,) = leases.deliveries_claim(target=row.target, limit=10)

    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sending", 1)
    assert row.lease_until > timezone.now()
    assert claimed.pk == row.pk
    assert leases.deliveries_claim(target=row.target, limit=10) == []


def test_a_stuck_delivery_is_claimed_again_after_its_lease(db):
    row = make_delivery(
        status="sending", attempts=1, lease_until=timezone.now() - timedelta(seconds=1)
    )
    fresh = make_delivery(
        target=row.target,
        status="sending",
        attempts=1,
        lease_until=timezone.now() + timedelta(minutes=5),
    )

    claimed = leases.deliveries_claim(target=row.target, limit=10)

    assert [c.pk for c in claimed] == [row.pk]
    assert Delivery.objects.get(pk=fresh.pk).attempts == 1


def test_a_future_pending_delivery_is_not_due(db):
    row = make_delivery(next_attempt_at=timezone.now() + timedelta(minutes=5))

    assert leases.deliveries_claim(target=row.target, limit=10) == []
    assert selectors.due_targets() == []


def claim_one(row):
    (claimed,) = leases.deliveries_claim(target=row.target, limit=1)
    return claimed


def test_recording_a_success(db):
    row = make_delivery()
    claimed = claim_one(row)

    outcome = services.delivery_record(
        delivery=claimed,
        result=Result(
            str(row.idempotency_key), "delivered", status_code=204, response_excerpt="ok"
        ),
        target=row.target,
    )

    row.refresh_from_db()
    assert outcome == "delivered"
    assert (row.status, row.last_status_code, row.response_excerpt, row.lease_until) == (
        "delivered",
        204,
        "ok",
        None,
    )
    assert row.delivered_at is not None


def test_recording_a_retryable_failure_schedules_the_next_attempt(db):
    row = make_delivery()
    claimed = claim_one(row)
    before = timezone.now()

    services.delivery_record(
        delivery=claimed,
        result=Result(
            str(row.idempotency_key), "retryable", status_code=503, error="503", retry_after=120
        ),
        target=row.target,
    )

    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 503)
    assert row.next_attempt_at >= before + timedelta(seconds=120)


def test_the_tenth_retryable_failure_fails_the_delivery_and_alerts_once(
    db, mailoutbox, django_capture_on_commit_callbacks
):
    lead = make_lead()
    target = make_target(publisher=lead.publisher)
    rows = [
        make_delivery(lead=lead, target=target, event="lead.updated", attempts=9) for _ in range(3)
    ]

    with django_capture_on_commit_callbacks(execute=True):
        for row in rows:
            services.delivery_record(
                delivery=claim_one(row),
                result=Result(
                    str(row.idempotency_key), "retryable", status_code=503, error="Service down"
                ),
                target=target,
            )

    assert set(Delivery.objects.values_list("status", "attempts")) == {("failed", 10)}
    assert len(mailoutbox) == 1


def test_a_permanent_failure_fails_at_once(db):
    row = make_delivery()

    services.delivery_record(
        delivery=claim_one(row),
        result=Result(
            str(row.idempotency_key), "permanent", status_code=400, error="400 Bad Request"
        ),
        target=row.target,
    )

    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "400 Bad Request")


def test_410_gone_pauses_the_target(db):
    row = make_delivery()

    services.delivery_record(
        delivery=claim_one(row),
        result=Result(str(row.idempotency_key), "permanent", status_code=410, error="410 Gone"),
        target=row.target,
    )

    target = CrmTarget.objects.get(pk=row.target_id)
    assert target.is_active is False
    assert target.paused_reason == "The endpoint answered 410 Gone: 410 Gone"


def test_a_result_for_a_row_reclaimed_by_another_worker_is_not_written(db):
    row = make_delivery()
    stale = claim_one(row)
    Delivery.objects.filter(pk=row.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    claim_one(row)  # another worker took it over: attempts is now 2

    services.delivery_record(
        delivery=stale,
        result=Result(str(row.idempotency_key), "permanent", status_code=400, error="late"),
        target=row.target,
    )

    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("sending", 2, "")


def test_fifty_failures_in_a_day_send_exactly_one_alert(
    db, mailoutbox, django_capture_on_commit_callbacks
):
    lead = make_lead()
    target = make_target(
        publisher=lead.publisher,
        config={
            "httpsEndpointUrl": "https://crm.example/in",
            "signingSecret": "whsec_x",
            "contactEmail": ["ops@publisher.example"],
        },
    )
    now = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        sent = [alerts.failure_alert_maybe(target=target, error="503", now=now) for _ in range(50)]

    assert sent.count(True) == 1
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == [lead.publisher.lead_contact_email, "ops@publisher.example"]
    assert target.name in message.subject
    assert f"/crm/targets/{target.pk}/" in message.body
    # A day later the next failure alerts again.
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts.failure_alert_maybe(target=target, error="503", now=now + timedelta(days=1))
    assert len(mailoutbox) == 2


def test_the_sweep_wakes_every_target_with_due_or_stuck_rows(db, monkeypatch):
    due = make_delivery()
    stuck = make_delivery(status="sending", lease_until=timezone.now() - timedelta(seconds=5))
    make_delivery(next_attempt_at=timezone.now() + timedelta(hours=1))
    paused = make_delivery()
    CrmTarget.objects.filter(pk=paused.target_id).update(is_active=False)
    woken = []
    monkeypatch.setattr(
        tasks.services, "deliveries_wake", lambda target_ids: woken.append(target_ids)
    )

    tasks.sweep.apply()

    assert woken == [{due.target_id, stuck.target_id}]


def test_redelivery_resets_the_row_and_keeps_its_delivery_id(db):
    row = make_delivery(status="failed", attempts=10, last_error="gone")

    services.delivery_redeliver(delivery=row)

    fresh = Delivery.objects.get(pk=row.pk)
    assert (fresh.status, fresh.attempts, fresh.idempotency_key) == (
        "pending",
        0,
        row.idempotency_key,
    )
    assert fresh.next_attempt_at <= timezone.now()


def test_retry_now_makes_pending_rows_due(db):
    later = make_delivery(next_attempt_at=timezone.now() + timedelta(hours=5))
    done = make_delivery(status="delivered", delivered_at=timezone.now())

    count = services.deliveries_retry_now(deliveries=[later, done])

    assert count == 1
    assert Delivery.objects.get(pk=later.pk).next_attempt_at <= timezone.now()


def test_the_oldest_due_age_is_reported(db, client):
    make_delivery(next_attempt_at=timezone.now() - timedelta(minutes=10))

    body = client.get("/readyz").json()

    assert 599 <= body["outbox"]["oldest_due_seconds"] <= 700


def test_the_token_bucket_is_shared_and_refills(db):
    target = make_target(publisher=None)
    ratelimit.reset(target_id=target.pk)

    first = ratelimit.take(target_id=target.pk, rate_limit=10, period_seconds=3600, wanted=8)
    second = ratelimit.take(target_id=target.pk, rate_limit=10, period_seconds=3600, wanted=8)

    assert (first.granted, second.granted) == (8, 2)
    assert 0 < second.wait_seconds <= 360
    ratelimit.reset(target_id=target.pk)


def test_a_claims_successes_are_recorded_together_and_only_where_still_held(db):
    target = make_target(publisher=None, batch_size=10)
    lead = make_lead()
    rows = [make_delivery(lead=lead, target=target, event="lead.updated") for _ in range(3)]
    claimed = leases.deliveries_claim(target=target, limit=10)
    # The third row's lease ran out and another worker took it over.
    Delivery.objects.filter(pk=rows[2].pk).update(attempts=2)
    results = [Result(str(r.idempotency_key), "delivered", status_code=202) for r in claimed]

    written = services.deliveries_record_delivered(
        pairs=list(zip(claimed, results, strict=True)), target=target
    )

    assert written == 2
    assert list(Delivery.objects.order_by("pk").values_list("status", "last_status_code")) == [
        ("delivered", 202),
        ("delivered", 202),
        ("sending", None),
    ]
