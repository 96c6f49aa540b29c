"""The publisher's answers reach Partner Center: accept, decline with a reason, won and
lost, through the real worker task against the loopback receiver; illegal moves are
refused here first, and by the receiver when Partner Center moved on meanwhile."""

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from crm.referrals.push import referral_push, referral_push_task
from crm.referrals.sync import referral_connection_sync
from leads.models import Lead, Referral
from leads.referrals import selectors as referral_selectors
from leads.referrals import services

pytestmark = pytest.mark.no_sqlite


@pytest.fixture
def synced(co_sell):
    co_sell.receiver.share(id="ref-1")
    referral_connection_sync.apply(args=[co_sell.connection.pk])
    return Referral.objects.get()


def act(referral, action, user, django_capture_on_commit_callbacks, **fields):
    """The publisher's move; the on-commit wake-up is captured, then the task runs."""
    with django_capture_on_commit_callbacks() as callbacks:
        services.referral_act(referral=referral, action=action, by=user, **fields)
    assert len(callbacks) == 1
    referral_push_task.apply(args=[referral.pk])
    referral.refresh_from_db()
    return referral


def patches(receiver):
    return [r for r in receiver.requests if r.method == "PATCH"]


def test_accept_sends_json_patch_with_the_fresh_etag_and_the_lead_follows(
    co_sell, synced, django_capture_on_commit_callbacks
):
    etag_before = co_sell.receiver.referrals["ref-1"]["eTag"]

    referral = act(
        synced,
        "accept",
        co_sell.member,
        django_capture_on_commit_callbacks,
        deal_value=Decimal("42000.00"),
        currency="eur",
        close_date=date(2027, 3, 31),
    )

    remote = co_sell.receiver.referrals["ref-1"]
    assert (remote["status"], remote["substatus"]) == ("Active", "Accepted")
    assert remote["details"]["dealValue"] == 42000.0
    assert remote["details"]["currency"] == "EUR"
    assert remote["details"]["closingDateTime"] == "2027-03-31T00:00:00Z"
    assert remote["acceptedDateTime"]
    (patch,) = patches(co_sell.receiver)
    assert patch.status == 200
    assert patch.headers["if-match"] == etag_before
    assert patch.headers["prefer"] == "return=representation"
    assert {op["op"] for op in json.loads(patch.body)} == {"replace"}
    assert (referral.status, referral.substatus, referral.sync_state) == (
        "Active",
        "Accepted",
        "synced",
    )
    assert referral.accepted_at is not None and referral.pending_change == {}
    assert referral.lead.status == Lead.Status.ACCEPTED


def test_decline_with_a_reason_and_a_note(co_sell, synced, django_capture_on_commit_callbacks):
    referral = act(
        synced,
        "decline",
        co_sell.owner,
        django_capture_on_commit_callbacks,
        reason="other-vendor",
        note="Went with a partner in region.",
    )

    remote = co_sell.receiver.referrals["ref-1"]
    assert (remote["status"], remote["substatus"]) == ("Closed", "Declined")
    assert remote["statusReason"] == "Chose another vendor: Went with a partner in region."
    assert (referral.substatus, referral.sync_state) == ("Declined", "synced")
    assert referral.lead.status == Lead.Status.DISQUALIFIED


def test_accept_then_won_and_then_nothing_more(co_sell, synced, django_capture_on_commit_callbacks):
    accepted = act(
        synced,
        "accept",
        co_sell.owner,
        django_capture_on_commit_callbacks,
        deal_value=Decimal("1000"),
        currency="USD",
        close_date=date(2027, 1, 1),
    )

    won = act(accepted, "won", co_sell.owner, django_capture_on_commit_callbacks)

    assert co_sell.receiver.referrals["ref-1"]["substatus"] == "Won"
    assert (won.status, won.substatus, won.lead.status) == ("Closed", "Won", Lead.Status.WON)
    with pytest.raises(ValidationError) as refused:
        services.referral_act(referral=won, action="lost", by=co_sell.owner)
    assert refused.value.messages == [
        "This referral is closed: Partner Center allows no further change."
    ]
    assert len(patches(co_sell.receiver)) == 2


def test_an_illegal_move_is_refused_here_and_nothing_is_sent(co_sell, synced):
    with pytest.raises(ValidationError) as refused:
        services.referral_act(referral=synced, action="won", by=co_sell.owner)

    assert refused.value.messages == ["A new referral cannot be marked won."]
    with pytest.raises(ValidationError) as missing:
        services.referral_act(referral=synced, action="accept", by=co_sell.owner)
    assert set(missing.value.message_dict) == {"deal_value", "currency", "close_date"}
    synced.refresh_from_db()
    assert (synced.status, synced.sync_state) == ("New", "synced")
    assert patches(co_sell.receiver) == []


def test_partner_center_refuses_a_move_it_no_longer_allows(
    co_sell, synced, django_capture_on_commit_callbacks
):
    # Given Partner Center expired the referral after our last sync
    co_sell.receiver.update("ref-1", status="Closed", substatus="Expired")

    referral = act(
        synced,
        "decline",
        co_sell.owner,
        django_capture_on_commit_callbacks,
        reason="budget",
    )

    (patch,) = patches(co_sell.receiver)
    assert patch.status == 400 and "no further update" in patch.reason
    assert referral.sync_state == "failed"
    assert referral.push_error.startswith("Partner Center answered 400 to the referral update")
    # The row shows Partner Center's own copy again.
    assert (referral.status, referral.substatus) == ("Closed", "Expired")
    assert referral.lead.status == Lead.Status.QUALIFIED


def test_a_stale_etag_is_retried_with_a_fresh_read(
    co_sell, synced, django_capture_on_commit_callbacks
):
    co_sell.receiver.edit_before_next_patch = True

    referral = act(
        synced, "decline", co_sell.owner, django_capture_on_commit_callbacks, reason="budget"
    )

    assert [p.status for p in patches(co_sell.receiver)] == [412]
    assert (referral.sync_state, referral.push_attempts) == ("pending", 1)
    assert "changed in Partner Center meanwhile (412)" in referral.push_error
    # When it is due again, beat's sweep sends it once more, under the new eTag.
    Referral.objects.filter(pk=referral.pk).update(next_push_at=datetime.now(UTC))
    assert referral_push(referral_id=referral.pk) == "synced"
    assert [p.status for p in patches(co_sell.receiver)] == [412, 200]


def test_a_throttled_write_waits_as_long_as_partner_center_asks(co_sell, synced):
    with pytest.raises(ValidationError):
        services.referral_act(referral=synced, action="lost", by=co_sell.owner)
    services.referral_act(referral=synced, action="decline", by=co_sell.owner, reason="budget")
    co_sell.receiver.throttle(600)

    assert referral_push(referral_id=synced.pk) == "retry"

    synced.refresh_from_db()
    assert synced.next_push_at >= datetime.now(UTC) + timedelta(seconds=590)
    assert synced.push_error.startswith("Partner Center answered 429")
    assert referral_selectors.referrals_push_due(now=datetime.now(UTC)) == []  # beat waits
    assert patches(co_sell.receiver) == []
