"""The portal's referral pages: the Co-Sell tab's referral columns and filter, the
referral page and its answers, tenancy, and form errors (no network: the push task is
only captured; tests/crm/test_referrals_writeback.py sends it)."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.models import Lead, Referral
from tests import factories
from tests.leads.portal_leads_support import REFERRALS

pytestmark = pytest.mark.sqlite


def make_referral(publisher, n=1, **fields):
    lead = factories.make_lead(publisher=publisher, origin=Lead.Origin.CO_SELL, status="qualified")
    defaults = {
        "partner_center_id": f"ref-{n}",
        "name": f"Deal {n}",
        "deal_value": Decimal("12500.00"),
        "currency": "USD",
        "close_date": date(2027, 6, 30),
        "seller_name": "Sam Seller",
        "seller_email": "sam.seller@microsoft.example",
        "status": "New",
        "substatus": "Pending",
        "sync_state": "synced",
        "pc_updated_at": timezone.now(),
    }
    return Referral.objects.create(publisher=publisher, lead=lead, **(defaults | fields))


@pytest.fixture
def enrolled(publisher):
    publisher.co_sell_enrolled = True
    publisher.save()
    return publisher


@pytest.fixture
def member_client(client, enrolled):
    user = factories.make_membership(publisher=enrolled, role="member").user
    client.force_login(user)
    return client


def detail(referral):
    return reverse("referral-detail", args=[referral.pk])


def test_the_co_sell_tab_shows_the_referral_columns(member_client, enrolled):
    referral = make_referral(enrolled)

    response = member_client.get(REFERRALS)

    text = response.content.decode()
    assert response.status_code == 200
    assert f'href="{detail(referral)}">Deal 1</a>' in text
    assert '<td class="col-pc_status"><span class="badge badge-co-sell">New</span>' in text
    assert '<td class="col-pc_substatus">Pending\n</td>' in text
    assert "12,500.00 USD" in text or "12500.00 USD" in text
    assert "Sam Seller" in text and "sam.seller@microsoft.example" in text
    assert 'datetime="2027-06-30"' in text


def test_the_co_sell_tab_filters_on_the_referral_status(member_client, enrolled):
    make_referral(enrolled, 1)
    accepted = make_referral(enrolled, 2, status="Active", substatus="Accepted")

    response = member_client.get(REFERRALS, {"referral": "Accepted"})

    assert [lead.pk for lead in response.context["page"].leads] == [accepted.lead_id]


def test_the_co_sell_tab_costs_the_same_queries_for_many_referrals(
    member_client, enrolled, django_assert_max_num_queries
):
    for n in range(30):
        make_referral(enrolled, n)

    with django_assert_max_num_queries(14):
        response = member_client.get(REFERRALS)

    assert len(response.context["page"].leads) == 30


def test_a_member_accepts_a_referral_and_it_is_queued(
    member_client, enrolled, django_capture_on_commit_callbacks
):
    referral = make_referral(enrolled)

    with django_capture_on_commit_callbacks() as callbacks:
        response = member_client.post(
            detail(referral),
            {
                "action": "accept",
                "accept-deal_value": "30000",
                "accept-currency": "eur",
                "accept-close_date": "2027-02-01",
            },
        )

    assert response.status_code == 302
    referral.refresh_from_db()
    assert (referral.status, referral.substatus, referral.sync_state) == (
        "Active",
        "Accepted",
        "pending",
    )
    assert (referral.deal_value, referral.currency) == (Decimal("30000.00"), "EUR")
    assert referral.pending_change["ops"][:2] == [
        {"op": "replace", "path": "/status", "value": "Active"},
        {"op": "replace", "path": "/substatus", "value": "Accepted"},
    ]
    assert len(callbacks) == 1
    page = member_client.get(detail(referral)).content.decode()
    assert "Your change is on its way to Partner Center." in page
    assert "Sending to Partner Center" in page


def test_accepting_without_deal_value_or_close_date_shows_field_errors(member_client, enrolled):
    referral = make_referral(enrolled, deal_value=None, close_date=None)

    response = member_client.post(detail(referral), {"action": "accept", "accept-currency": "US"})

    assert response.status_code == 400
    errors = response.context["forms"][0].errors
    assert errors["deal_value"] == ["This field is required."]
    assert errors["close_date"] == ["This field is required."]
    assert errors["currency"] == ["Enter a three-letter ISO 4217 code, such as USD."]
    referral.refresh_from_db()
    assert (referral.status, referral.sync_state) == ("New", "synced")


def test_declining_needs_a_reason_from_the_documented_list(member_client, enrolled):
    referral = make_referral(enrolled)

    missing = member_client.post(detail(referral), {"action": "decline"})
    unknown = member_client.post(detail(referral), {"action": "decline", "decline-reason": "bored"})

    assert missing.status_code == unknown.status_code == 400
    forms = {form.action: form for form in missing.context["forms"]}
    assert forms["decline"].errors["reason"] == ["This field is required."]
    assert "Select a valid choice" in str(unknown.context["forms"][1].errors["reason"])
    assert "Chose another vendor" in missing.content.decode()
    assert Referral.objects.get().sync_state == "synced"


def test_a_move_the_table_forbids_is_a_form_error(member_client, enrolled):
    referral = make_referral(enrolled)

    response = member_client.post(detail(referral), {"action": "won"})

    assert response.status_code == 400
    assert "A new referral cannot be marked won." in response.content.decode()
    assert Referral.objects.get().substatus == "Pending"


def test_a_closed_referral_offers_no_answer(member_client, enrolled):
    referral = make_referral(enrolled, status="Closed", substatus="Won")

    response = member_client.get(detail(referral))

    assert response.context["forms"] == []
    assert "Partner Center allows no further change." in response.content.decode()


def test_a_referral_posted_by_hand_is_answered_locally_and_the_lead_follows(
    member_client, enrolled
):
    referral = make_referral(enrolled, sync_state="local")

    response = member_client.post(
        detail(referral), {"action": "decline", "decline-reason": "not-a-customer"}
    )

    assert response.status_code == 302
    referral.refresh_from_db()
    assert (referral.substatus, referral.sync_state, referral.status_reason) == (
        "Declined",
        "local",
        "Not a customer",
    )
    assert referral.lead.status == "disqualified"


def test_another_publishers_referral_is_404_for_reading_and_answering(client, enrolled):
    referral = make_referral(enrolled)
    stranger = factories.make_membership(publisher=factories.make_publisher()).user
    client.force_login(stranger)

    assert client.get(detail(referral)).status_code == 404
    response = client.post(detail(referral), {"action": "decline", "decline-reason": "budget"})

    assert response.status_code == 404
    assert Referral.objects.get().substatus == "Pending"


def test_the_lead_page_lists_its_referrals(member_client, enrolled):
    referral = make_referral(enrolled)

    response = member_client.get(reverse("lead-detail", args=[referral.lead.uuid]))

    assert f'href="{detail(referral)}">Deal 1</a>' in response.content.decode()


def test_staff_send_a_failed_answer_again(
    client, staff_user, enrolled, django_capture_on_commit_callbacks
):
    ops = [{"op": "replace", "path": "/status", "value": "Closed"}]
    failed = make_referral(
        enrolled, sync_state="failed", pending_change={"ops": ops}, push_attempts=10
    )
    synced = make_referral(enrolled, 2)
    client.force_login(staff_user)

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            reverse("admin:leads_referral_changelist"),
            {"action": "push_again", "_selected_action": [failed.pk, synced.pk]},
        )

    assert response.status_code == 302
    failed.refresh_from_db()
    assert (failed.sync_state, failed.push_attempts) == ("pending", 0)
    assert Referral.objects.get(pk=synced.pk).sync_state == "synced"
    assert len(callbacks) == 1
    assert client.get(reverse("admin:leads_referral_change", args=[failed.pk])).status_code == 200


def test_hostile_referral_text_is_escaped(member_client, enrolled):
    hostile = '<script>alert("x")</script>'
    referral = make_referral(enrolled, name=hostile, customer_need=hostile, seller_name=hostile)

    for url in (detail(referral), REFERRALS):
        text = member_client.get(url).content.decode()
        assert hostile not in text
    assert "&lt;script&gt;" in member_client.get(detail(referral)).content.decode()
