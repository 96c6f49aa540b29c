"""After a merge: a merged address's new leads reach the survivor, the merged lead's nurture
stops, and the survivor's score is recomputed (leads.work.services, leads.intake.services)."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from leads.intake import api_keys
from leads.models import ApiKey, Enrollment, Lead, LeadActivity, LeadMerge
from leads.work.services import lead_merge, lead_merge_undo
from tests.factories import make_activity, make_campaign, make_lead, make_membership
from tests.leads.conftest import Storefronts, lead_payload
from tests.leads.test_import import run_import, write_csv

SURVIVOR = "ada@contoso.example"
MERGED = "ada.lovelace@gmail.example"


def _merged_pair(market, *, survivor_email=SURVIVOR, merged_email=MERGED):
    """Two leads of one person, each with an activity, the second merged into the first."""
    survivor = make_lead(publisher=market.publisher, email=survivor_email, phone="", title="")
    merged = make_lead(
        publisher=market.publisher, email=merged_email, phone="+44 20 7946 0000", title="CTO"
    )
    make_activity(lead=survivor, listing=market.azure, action_code="StartTestDrive")
    make_activity(lead=merged, listing=market.azure, action_code="PLT")
    record = lead_merge(
        publisher=market.publisher, survivor_id=survivor.pk, merged_id=merged.pk, by=None
    )
    return survivor, merged, record


def _post_api(market, email, lead_id):
    response = market.post(lead_payload(email=email, LeadId=lead_id))
    assert response.status_code == 201, response.content
    return response.json()


def _post_bulk(market, email, lead_id):
    response = market.post([lead_payload(email=email, LeadId=lead_id)], path="/api/v1/leads/bulk")
    assert response.status_code == 200, response.content
    (result,) = response.json()["results"]
    assert result["status_code"] == 201, result
    return result["result"]


def _import_csv(market, email, lead_id, tmp_path):
    row = f"{email},{lead_id},contoso.analytics,Analytical Engines Ltd"
    path = write_csv(tmp_path, f"email,lead id,offer id,company\n{row}\n")
    lines, error = run_import(path, market.publisher)
    assert error is None
    assert lines[0] == "row 1 (line 2): consolidated"
    return {"id": str(LeadActivity.objects.get(external_id=lead_id).lead.uuid)}


# --- Intake of a merged address -------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.parametrize("send", ["api", "bulk", "csv"])
def test_a_merged_address_consolidates_into_the_survivor(market, send, tmp_path):
    # Given Ada's gmail lead merged into her contoso one
    survivor, merged, _record = _merged_pair(market)

    # When a storefront sends a new lead from the merged address (its case changed)
    address = MERGED.upper()
    if send == "api":
        answer = _post_api(market, address, "L-9")
    elif send == "bulk":
        answer = _post_bulk(market, address, "L-9")
    else:
        answer = _import_csv(market, address, "L-9", tmp_path)

    # Then the activity lands on the survivor, which answers; no lead is created
    activity = LeadActivity.objects.get(external_id="L-9")
    assert activity.lead_id == survivor.pk
    assert answer["id"] == str(survivor.uuid)
    if send != "csv":
        assert answer["consolidated"] is True
    assert Lead.objects.filter(publisher=market.publisher).count() == 2
    assert merged.activities.count() == 0
    survivor.refresh_from_db()
    merged.refresh_from_db()
    assert survivor.email == SURVIVOR and merged.merged_into_id == survivor.pk
    assert survivor.last_activity_at == activity.occurred_at
    # the payload's contact fields fold into the survivor, as for its own address
    assert survivor.company == "Analytical Engines Ltd"
    assert survivor.score == min(100, sum(item["points"] for item in survivor.score_breakdown))


@pytest.mark.sqlite
def test_one_batch_with_both_addresses_writes_the_survivor_once(market):
    survivor, merged, _record = _merged_pair(market)
    before = survivor.activities.count()

    response = market.post(
        [
            lead_payload(email=MERGED, LeadId="b-1"),
            lead_payload(email=SURVIVOR, LeadId="b-2"),
            lead_payload(email="grace@contoso.example", LeadId="b-3"),
        ],
        path="/api/v1/leads/bulk",
    )

    results = [r["result"] for r in response.json()["results"]]
    assert [r["id"] for r in results[:2]] == [str(survivor.uuid)] * 2
    assert [r["consolidated"] for r in results] == [True, True, False]
    assert survivor.activities.count() == before + 2
    assert merged.activities.count() == 0
    assert Lead.objects.filter(publisher=market.publisher).count() == 3


@pytest.mark.sqlite
def test_a_merged_address_costs_no_extra_query(market, django_assert_max_num_queries):
    # The survivor is found in the statement that locks the leads: a batch of a merged
    # address costs what a batch of the survivor's own address costs.
    _merged_pair(market)
    market.post(lead_payload(email=SURVIVOR, LeadId="warm-up"))

    def cost(email, lead_id) -> int:
        with django_assert_max_num_queries(60) as captured:
            _post_api(market, email, lead_id)
        return len(captured)

    assert cost(MERGED, "q-1") == cost(SURVIVOR, "q-2")


@pytest.mark.sqlite
def test_undo_leaves_later_activities_on_the_survivor(market):
    # Given a merge, then a lead from the merged address that went to the survivor
    survivor, merged, record = _merged_pair(market)
    moved = set(record.moved["activities"])
    _post_api(market, MERGED, "after-merge")

    # When the merge is undone
    lead_merge_undo(merge=record, by=None)

    # Then the moved activities go back, and the later one stays on the survivor
    assert set(merged.activities.values_list("pk", flat=True)) == moved
    assert LeadActivity.objects.get(external_id="after-merge").lead_id == survivor.pk
    # and the merged address is its own lead again
    answer = _post_api(market, MERGED, "after-undo")
    assert answer["id"] == str(merged.uuid)
    assert LeadActivity.objects.get(external_id="after-undo").lead_id == merged.pk


@pytest.mark.sqlite
def test_a_referral_of_a_merged_address_consolidates_into_the_survivor(market):
    # Given two Co-Sell referrals of one person, from two addresses, merged
    market.publisher.co_sell_enrolled = True
    market.publisher.save()
    seller_key = api_keys.api_key_create(kind=ApiKey.Kind.MICROSOFT_SELLER, name="sellers")[1]

    def refer(email, referral_id):
        payload = lead_payload(email=email, OfferId="contoso.analytics")
        payload["ReferralId"] = referral_id
        response = market.post(payload, key=seller_key, path="/api/v1/referrals")
        assert response.status_code == 201, response.content
        return response.json()

    refer(SURVIVOR, "ref-1")
    refer(MERGED, "ref-2")
    survivor = Lead.objects.get(origin="co-sell", email_normalized=SURVIVOR)
    merged = Lead.objects.get(origin="co-sell", email_normalized=MERGED)
    lead_merge(publisher=market.publisher, survivor_id=survivor.pk, merged_id=merged.pk, by=None)

    # When a seller refers the merged address again
    answer = refer(MERGED.upper(), "ref-3")

    # Then the referral's activity is the survivor's
    assert (answer["id"], answer["consolidated"]) == (str(survivor.uuid), True)
    assert LeadActivity.objects.get(external_id__endswith=":ref-3").lead_id == survivor.pk
    assert merged.activities.count() == 0
    assert Lead.objects.filter(origin="co-sell").count() == 2


# --- Nurture --------------------------------------------------------------------------------


def _enrol(lead, campaign) -> Enrollment:
    now = timezone.now()
    return Enrollment.objects.create(
        lead=lead, campaign=campaign, enrolled_at=now, next_send_at=now + timedelta(hours=1)
    )


@pytest.mark.sqlite
def test_the_merged_leads_enrolment_stops_and_the_survivors_goes_on(market):
    # Given each lead enrolled in a campaign of its own
    survivor = make_lead(publisher=market.publisher, email=SURVIVOR)
    merged = make_lead(publisher=market.publisher, email=MERGED)
    ours = _enrol(survivor, make_campaign(publisher=market.publisher, status="active"))
    theirs = _enrol(merged, make_campaign(publisher=market.publisher, status="active"))

    # When the leads are merged
    record = lead_merge(
        publisher=market.publisher, survivor_id=survivor.pk, merged_id=merged.pk, by=None
    )

    # Then the merged lead's enrolment is stopped, with the reason; the survivor's is not
    theirs.refresh_from_db()
    ours.refresh_from_db()
    assert (theirs.state, theirs.stop_reason, theirs.next_send_at) == ("stopped", "merged", None)
    assert theirs.stopped_at is not None
    assert theirs.get_stop_reason_display() == "Lead merged into another"
    assert (ours.state, ours.stop_reason) == ("active", "")
    assert ours.next_send_at is not None

    # and Undo does not restart it
    lead_merge_undo(merge=record, by=None)
    theirs.refresh_from_db()
    assert (theirs.state, theirs.stop_reason) == ("stopped", "merged")


# --- Score ----------------------------------------------------------------------------------


def _rule_names(lead) -> set[str]:
    lead.refresh_from_db()
    return {item["rule"] for item in lead.score_breakdown}


@pytest.mark.sqlite
def test_the_survivors_score_is_recomputed_at_merge_and_at_undo(market, client_of):
    # Given Ada's two leads scored by intake: the survivor has a test drive, a business
    # address and no phone; the merged one asked to be contacted and gave a phone and a title
    payload = lead_payload(email=SURVIVOR, LeadId="s-1", ActionCode="StartTestDrive")
    payload["UserDetails"].update(Phone="", Title="")
    assert market.post(payload).status_code == 201
    payload = lead_payload(email=MERGED, LeadId="m-1", ActionCode="PLT")
    assert market.post(payload).status_code == 201
    survivor = Lead.objects.get(email_normalized=SURVIVOR)
    merged = Lead.objects.get(email_normalized=MERGED)
    survivor_score_before, merged_breakdown = survivor.score, merged.score_breakdown
    assert "Asked to be contacted" not in _rule_names(survivor)

    # When the leads are merged
    record = lead_merge(
        publisher=market.publisher, survivor_id=survivor.pk, merged_id=merged.pk, by=None
    )

    # Then the survivor is scored from both leads' activities and its filled-in fields
    names = _rule_names(survivor)
    assert {"Asked to be contacted", "Phone given", "Decision maker", "Came back"} <= names
    assert survivor.score == min(100, sum(item["points"] for item in survivor.score_breakdown))
    assert survivor.score > survivor_score_before
    # and the lead page shows it
    member = make_membership(publisher=market.publisher).user
    page = client_of(member).get(reverse("lead-detail", args=[survivor.uuid]))
    assert "Asked to be contacted" in page.content.decode()

    # When the merge is undone, both leads are scored from their own activities again
    lead_merge_undo(merge=record, by=None)
    assert "Asked to be contacted" not in _rule_names(survivor)
    assert "Came back" not in _rule_names(survivor)
    assert "Asked to be contacted" in _rule_names(merged)
    assert [item["rule"] for item in merged.score_breakdown] == [
        item["rule"] for item in merged_breakdown
    ]


# --- Concurrency ----------------------------------------------------------------------------

ROUNDS = 6


def _race(*targets) -> list:
    results: list = [None] * len(targets)
    errors: list = []
    barrier = threading.Barrier(len(targets), timeout=30)

    def run(index, target):
        try:
            barrier.wait()
            results[index] = target()
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


def _post_in_thread(key, email, lead_id):
    def post():
        response = Client().post(
            "/api/v1/leads",
            lead_payload(email=email, LeadId=lead_id),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        assert response.status_code == 201, response.content
        return response.json()["id"]

    return post


def test_a_merge_and_an_intake_of_the_merged_address_at_once_end_consistent(transactional_db):
    market = Storefronts()
    for round_number in range(ROUNDS):
        # Given two leads of one person; the merged one is alternately the lower and higher id
        first = make_lead(publisher=market.publisher, email=f"r{round_number}@contoso.example")
        second = make_lead(publisher=market.publisher, email=f"r{round_number}@gmail.example")
        survivor, merged = (first, second) if round_number % 2 else (second, first)
        make_activity(lead=merged, listing=market.azure)
        lead_id = f"race-{round_number}"

        # When one connection merges them while another posts a lead from the merged address
        def merge(survivor=survivor, merged=merged):
            return lead_merge(
                publisher=market.publisher, survivor_id=survivor.pk, merged_id=merged.pk, by=None
            )

        record, answered = _race(merge, _post_in_thread(market.azure_key, merged.email, lead_id))

        # Then everything of the merged address is on the survivor, whichever went first
        new = LeadActivity.objects.get(external_id=lead_id)
        assert new.lead_id == survivor.pk
        assert merged.activities.count() == 0
        assert survivor.activities.count() == 2
        # the answer named the lead that held the address when the intake committed
        went_first = new.pk in record.moved["activities"]
        assert answered == str((merged if went_first else survivor).uuid)
        assert Lead.objects.get(pk=merged.pk).merged_into_id == survivor.pk


def test_an_undo_and_an_intake_of_the_merged_address_at_once_end_consistent(transactional_db):
    market = Storefronts()
    for round_number in range(ROUNDS):
        first = make_lead(publisher=market.publisher, email=f"u{round_number}@contoso.example")
        second = make_lead(publisher=market.publisher, email=f"u{round_number}@gmail.example")
        survivor, merged = (first, second) if round_number % 2 else (second, first)
        make_activity(lead=merged, listing=market.azure)
        record = lead_merge(
            publisher=market.publisher, survivor_id=survivor.pk, merged_id=merged.pk, by=None
        )
        lead_id = f"undo-race-{round_number}"

        _undone, answered = _race(
            lambda record=record: lead_merge_undo(merge=record, by=None),
            _post_in_thread(market.azure_key, merged.email, lead_id),
        )

        # Then the new activity is on the lead that answered, exactly once; the merged
        # activity is back home, and the pair is unmerged
        new = LeadActivity.objects.get(external_id=lead_id)
        assert str(new.lead.uuid) == answered
        assert new.lead_id in {survivor.pk, merged.pk}
        assert set(merged.activities.exclude(pk=new.pk).values_list("pk", flat=True)) == set(
            record.moved["activities"]
        )
        assert Lead.objects.get(pk=merged.pk).merged_into_id is None
        assert LeadMerge.objects.get(pk=record.pk).undone_at is not None


def _waiting_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.parametrize("merged_is_lower", [True, False])
def test_an_intake_that_waited_for_a_merge_follows_it_to_the_survivor(
    transactional_db, merged_is_lower
):
    # Given a merge that has locked both leads (lead_merge's first statement), and an
    # intake of the merged address that reads the merged lead meanwhile, as not merged yet,
    # and waits for its lock
    market = Storefronts()
    first = make_lead(publisher=market.publisher, email="w@gmail.example")
    second = make_lead(publisher=market.publisher, email="w@contoso.example")
    merged, survivor = (first, second) if merged_is_lower else (second, first)
    locked, merge_now = threading.Event(), threading.Event()
    answers: list = []

    def merge():
        try:
            with transaction.atomic():
                list(Lead.objects.select_for_update().filter(pk__in=[first.pk, second.pk]))
                locked.set()
                merge_now.wait(30)
                lead_merge(
                    publisher=market.publisher,
                    survivor_id=survivor.pk,
                    merged_id=merged.pk,
                    by=None,
                )
        finally:
            connection.close()

    def intake():
        try:
            locked.wait(30)
            answers.append(_post_in_thread(market.azure_key, merged.email, "waited")())
        finally:
            connection.close()

    threads = [threading.Thread(target=merge), threading.Thread(target=intake)]
    for thread in threads:
        thread.start()
    for _attempt in range(300):
        if _waiting_for_a_lock():
            break
        time.sleep(0.05)
    else:
        merge_now.set()
        pytest.fail("the intake never waited for the merge's lock")

    # When the merge goes on and commits
    merge_now.set()
    for thread in threads:
        thread.join(timeout=60)

    # Then the intake, once its lock is granted, follows the merge to the survivor
    assert answers == [str(survivor.uuid)]
    assert LeadActivity.objects.get(external_id="waited").lead_id == survivor.pk
    assert merged.activities.count() == 0
