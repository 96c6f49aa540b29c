"""The Referrals API sync, end to end through the real task against the loopback
Partner Center: leads, referral rows and CRM outbox rows; idempotence; updates; paging;
a token that expires mid-sync; a 429 honoured."""

import json
import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from crm.models import Delivery, ReferralConnection
from crm.referrals.push import referral_push
from crm.referrals.selectors import connections_due
from crm.referrals.sync import referral_connection_sync
from crm.referrals.tasks import referrals_sync
from leads.models import Lead, LeadActivity, Referral
from leads.referrals import services
from portal.celery import app
from tests.crm.receivers import partner_center_receiver as pc
from tests.crm.referrals_support import connect

pytestmark = pytest.mark.no_sqlite


@pytest.fixture
def synced_referral(co_sell):
    co_sell.receiver.share(id="ref-1")
    sync(co_sell.connection)
    return Referral.objects.get()


def sync(connection, **kwargs):
    referral_connection_sync.apply(args=[connection.pk], kwargs=kwargs)
    connection.refresh_from_db()
    return connection


def test_a_sync_makes_qualified_co_sell_leads_referrals_and_outbox_rows(co_sell):
    shared = co_sell.receiver.share(id="ref-1")
    co_sell.receiver.share(id="ref-2", name="Second deal")

    connection = sync(co_sell.connection)

    referral = Referral.objects.get(partner_center_id="ref-1")
    lead = referral.lead
    assert (lead.origin, lead.status, lead.publisher) == ("co-sell", "qualified", co_sell.publisher)
    assert (lead.first_name, lead.last_name, lead.company, lead.country) == (
        "Ada",
        "Lovelace",
        "Fabrikam",
        "US",
    )
    assert lead.email == shared["customerProfile"]["team"][0]["email"]
    assert (referral.deal_value, referral.currency) == (Decimal("50000.00"), "USD")
    assert referral.close_date == (
        datetime.fromisoformat(shared["createdDateTime"][:26]).date() + timedelta(days=60)
    )
    assert (referral.status, referral.substatus, referral.sync_state) == (
        "New",
        "Pending",
        "synced",
    )
    assert (referral.seller_name, referral.seller_email) == (
        "Sam Seller",
        "sam.seller@microsoft.example",
    )
    assert referral.customer_need == "Needs a migration of 200 VMs.\nSolutions: Azure Migrate"
    assert (referral.referral_type, referral.qualification, referral.direction) == (
        "Shared",
        "SalesQualified",
        "Incoming",
    )
    assert referral.engagement_id == shared["engagementId"]
    assert referral.expires_at is not None and referral.pc_updated_at is not None
    activity = LeadActivity.objects.get(lead=lead)
    assert (activity.external_id, activity.listing) == ("co-sell:ref-1", co_sell.listing)
    assert set(Delivery.objects.values_list("lead__referrals__partner_center_id", "event")) == {
        ("ref-1", "lead.qualified"),
        ("ref-2", "lead.qualified"),
    }
    assert connection.last_counts == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "without_lead": 0,
        "refused": 0,
    }
    assert connection.watermark is not None and connection.last_error == ""


def test_a_second_sync_changes_nothing(co_sell, django_assert_max_num_queries):
    for n in range(3):
        co_sell.receiver.share(id=f"ref-{n}")
    sync(co_sell.connection)
    before = list(Referral.objects.order_by("pk").values_list("pk", "updated_at"))
    leads_before = list(Lead.objects.order_by("pk").values_list("pk", "updated_at"))

    with django_assert_max_num_queries(12):
        connection = sync(co_sell.connection)

    assert connection.last_counts["unchanged"] == 3
    assert list(Referral.objects.order_by("pk").values_list("pk", "updated_at")) == before
    assert list(Lead.objects.order_by("pk").values_list("pk", "updated_at")) == leads_before
    assert Delivery.objects.count() == 3
    assert LeadActivity.objects.count() == 3


def test_a_change_in_partner_center_updates_the_row(co_sell):
    co_sell.receiver.share(id="ref-1")
    sync(co_sell.connection)

    co_sell.receiver.update(
        "ref-1",
        status="Closed",
        substatus="Expired",
        details={"dealValue": 75000.5, "currency": "EUR", "notes": "Bigger now."},
    )
    connection = sync(co_sell.connection)

    referral = Referral.objects.get()
    assert (referral.status, referral.substatus) == ("Closed", "Expired")
    assert (referral.deal_value, referral.currency, referral.close_date) == (
        Decimal("75000.50"),
        "EUR",
        None,
    )
    assert referral.customer_need == "Bigger now."
    assert connection.last_counts["updated"] == 1
    assert Lead.objects.count() == 1 and Delivery.objects.count() == 1


def test_a_sync_reads_every_page_and_stops_at_the_watermark_next_time(co_sell, settings):
    settings.PARTNER_CENTER_PAGE_SIZE = 2
    settings.PARTNER_CENTER_SYNC_OVERLAP_SECONDS = 60
    old = datetime.now(UTC) - timedelta(days=2)
    for n in range(5):
        co_sell.receiver.share(id=f"ref-{n}", updated=old + timedelta(minutes=n))

    sync(co_sell.connection)
    first_reads = len(co_sell.receiver.requests)
    co_sell.receiver.share(id="ref-new")
    sync(co_sell.connection)

    assert Referral.objects.count() == 6
    lists = [r.path for r in co_sell.receiver.requests if "/referrals" in r.path]
    # Three pages; then two, the second reaching the watermark less the overlap.
    assert (first_reads, len(lists)) == (4, 3 + 2)  # the first sync also asked a token
    assert ["skiptoken" in path for path in lists] == [False, True, True, False, True]
    assert "%24orderby=updatedDateTime%20desc" in lists[0]
    assert co_sell.receiver.rejections() == []


def test_a_token_that_expires_mid_sync_is_refreshed(co_sell, settings):
    settings.PARTNER_CENTER_PAGE_SIZE = 1
    for n in range(3):
        co_sell.receiver.share(id=f"ref-{n}")
    co_sell.receiver.expire_after_calls = 1

    connection = sync(co_sell.connection)

    assert Referral.objects.count() == 3
    assert co_sell.receiver.token_calls == 2
    assert [r.status for r in co_sell.receiver.requests].count(401) == 1
    assert connection.last_error == ""


def test_a_429_is_waited_out_when_short_and_ends_the_sync_when_long(co_sell):
    co_sell.receiver.share(id="ref-1")
    co_sell.receiver.throttle(1)

    sync(co_sell.connection)
    assert Referral.objects.count() == 1

    co_sell.receiver.share(id="ref-2")
    co_sell.receiver.throttle(120)
    connection = sync(co_sell.connection)

    assert Referral.objects.count() == 1
    assert connection.last_error.startswith("Partner Center answered 429")
    assert connection.next_sync_at > datetime.now(UTC) + timedelta(seconds=100)
    # Beat leaves it alone until then; the owner's "sync now" does not wait.
    assert connections_due(now=datetime.now(UTC)) == []
    sync(co_sell.connection, force=True)
    assert Referral.objects.count() == 2


def test_a_referral_without_a_customer_email_is_kept_without_a_lead(co_sell):
    co_sell.receiver.share(id="ref-1", customerProfile={"name": "Fabrikam", "team": []})

    connection = sync(co_sell.connection)

    referral = Referral.objects.get()
    assert (referral.lead, referral.customer_name) == (None, "Fabrikam")
    assert connection.last_counts["without_lead"] == 1
    assert not Lead.objects.exists()

    # When Partner Center names the contact later, the referral gets its lead
    team = [{"firstName": "Grace", "lastName": "Hopper", "email": "grace@fabrikam.example"}]
    co_sell.receiver.update("ref-1", customerProfile={"name": "Fabrikam", "team": team})
    sync(co_sell.connection)

    referral.refresh_from_db()
    assert (referral.lead.email, referral.lead.origin) == ("grace@fabrikam.example", "co-sell")
    assert Referral.objects.count() == 1


def test_wrong_credentials_keep_the_watermark_and_say_why(co_sell):
    co_sell.receiver.share(id="ref-1")
    connect(co_sell.publisher, co_sell.listing, client_secret="wrong")

    connection = sync(co_sell.connection)

    assert connection.last_error.startswith("Azure AD refused the app credentials")
    assert (connection.watermark, connection.last_synced_at) == (None, None)
    assert not Referral.objects.exists()


def test_a_paused_connection_is_not_synced(co_sell):
    co_sell.receiver.share(id="ref-1")
    ReferralConnection.objects.filter(pk=co_sell.connection.pk).update(is_active=False)

    sync(co_sell.connection, force=True)

    assert connections_due(now=datetime.now(UTC)) == []
    assert not Referral.objects.exists()
    assert co_sell.receiver.requests == []


def test_the_sync_and_the_answers_log_no_personal_data_and_no_secret(co_sell, caplog):
    co_sell.receiver.share(id="ref-1")
    co_sell.receiver.share(id="ref-2")
    caplog.set_level(logging.DEBUG)

    sync(co_sell.connection)
    first, second = Referral.objects.order_by("partner_center_id")
    services.referral_act(referral=first, action="decline", by=co_sell.owner, reason="budget")
    referral_push(referral_id=first.pk)
    services.referral_act(referral=second, action="decline", by=co_sell.owner, reason="budget")
    connect(co_sell.publisher, co_sell.listing, password="wrong")
    referral_push(referral_id=second.pk)
    sync(co_sell.connection)

    logged = " ".join(
        f"{record.getMessage()} {json.dumps(record.__dict__, default=str)}"
        for record in caplog.records
    )
    for event in ("synced", "sync_failed", "pushed", "push_failed"):
        assert f"crm.referrals.{event}" in logged
    for secret in ("ada.ref-", "Lovelace", "sam.seller", pc.CLIENT_SECRET, pc.PASSWORD):
        assert secret not in logged


def test_the_posted_referral_path_still_works_and_keeps_a_row(co_sell):
    # POST /api/v1/referrals's service; its HTTP tests live in tests/leads/test_referrals.py.
    from leads.intake.referrals import ReferralPayload, referral_ingest

    raw = {
        "ReferralId": "msx-9",
        "OfferId": co_sell.listing.offer_id,
        "UserDetails": {"Email": "grace@navy.example", "Company": "Navy"},
        "Description": "Wants a demo.",
    }
    outcome = referral_ingest(payload=ReferralPayload.model_validate(raw), raw=raw)

    referral = Referral.objects.get()
    assert outcome.status_code == 201
    assert (referral.partner_center_id, referral.sync_state, referral.customer_name) == (
        "msx-9",
        "local",
        "Navy",
    )
    assert (referral.status, referral.substatus, referral.customer_need) == (
        "New",
        "Pending",
        "Wants a demo.",
    )
    assert referral.close_date is None and date.today()


def test_beat_queues_a_sync_per_due_connection_and_the_due_changes(co_sell, synced_referral):
    services.referral_act(
        referral=synced_referral, action="decline", by=co_sell.owner, reason="budget"
    )
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        channel.queue_purge("delivery")

        referrals_sync.apply()

        queued = []
        while (message := channel.basic_get("delivery", no_ack=True)) is not None:
            queued.append((message.headers["task"], message.decode()[0]))
    assert queued == [
        ("crm.referral_connection_sync", [co_sell.connection.pk]),
        ("crm.referral_push", [synced_referral.pk]),
    ]


def test_a_sync_cut_off_mid_read_reads_again_and_stores_each_referral_once(co_sell, settings):
    settings.PARTNER_CENTER_PAGE_SIZE = 2
    for n in range(5):
        co_sell.receiver.share(id=f"ref-{n}")
    co_sell.receiver.fail_after_calls = 1  # page 2 fails

    cut = sync(co_sell.connection)

    assert cut.watermark is None
    assert cut.last_error == (
        "Partner Center answered 503 to the referral list: The service is unavailable."
    )
    assert Referral.objects.count() == 2
    done = sync(co_sell.connection, force=True)
    assert done.last_counts == {
        "created": 3,
        "updated": 0,
        "unchanged": 2,
        "without_lead": 0,
        "refused": 0,
    }
    assert Referral.objects.count() == Lead.objects.count() == LeadActivity.objects.count() == 5
    assert Delivery.objects.count() == 5 and done.watermark is not None
