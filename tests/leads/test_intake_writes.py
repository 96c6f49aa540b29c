"""Intake's batch writes: one specification, run against both implementations.

`writer` runs each test once with the set-based SQL (PostgreSQL only) and once with the
portable ORM path, which is what the SQLite leg runs.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import Delivery
from leads.consent.models import ConsentRecord
from leads.intake import writes
from leads.models import Lead, LeadActivity, LeadTransition
from tests.factories import make_campaign, make_target
from tests.leads.conftest import lead_payload

pytestmark = pytest.mark.sqlite


@pytest.fixture(params=["set-based", "portable"])
def writer(request, monkeypatch):
    if request.param == "set-based":
        if connection.vendor != "postgresql":
            pytest.skip("the set-based writes are PostgreSQL's")
    else:
        monkeypatch.setattr(writes, "set_based", lambda: False)
    return request.param


def post_bulk(market, items):
    response = market.post(items, path="/api/v1/leads/bulk")
    assert response.status_code == 200
    return response.json()


def lead_statements(captured, verb: str) -> list[str]:
    return [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].lstrip().upper().startswith(verb) and '"leads_lead"' in q["sql"].split("(")[0]
    ]


def test_a_new_lead_is_inserted_whole_once_and_never_updated(market, writer):
    campaign = make_campaign(publisher=market.publisher, storefront="azure-marketplace", code="sp")

    with CaptureQueriesContext(connection) as captured:
        body = post_bulk(market, [lead_payload(CampaignCode="sp", LeadId="w-1")])

    answer = body["results"][0]["result"]
    lead = Lead.objects.get()
    assert str(lead.uuid) == answer["id"]
    assert (lead.first_name, lead.last_name, lead.company, lead.title, lead.country) == (
        "Ada",
        "Lovelace",
        "Analytical Engines Ltd",
        "CTO",
        "GB",
    )
    assert (lead.score, lead.status) == (answer["score"], answer["status"])
    assert lead.score > 0 and lead.score_breakdown
    assert (lead.first_campaign, lead.latest_campaign) == (campaign, campaign)
    assert lead.last_activity_at is not None and lead.storefronts
    assert lead.updated_at == ConsentRecord.objects.get().recorded_at  # the batch's time
    # One INSERT of the lead, and no UPDATE of it (the lead list's rows are never
    # written twice in one intake).
    assert len(lead_statements(captured, "INSERT")) == 1
    assert lead_statements(captured, "UPDATE") == []


def test_a_returning_person_is_locked_and_updated_not_inserted(market, writer):
    post_bulk(market, [lead_payload(LeadId="w-1")])
    before = Lead.objects.get()

    payload = lead_payload(LeadId="w-2")
    payload["UserDetails"]["Title"] = "CEO"
    with CaptureQueriesContext(connection) as captured:
        body = post_bulk(market, [payload])

    assert body["results"][0]["result"]["consolidated"] is True
    lead = Lead.objects.get()
    assert (lead.pk, lead.uuid, lead.title) == (before.pk, before.uuid, "CEO")
    assert lead.updated_at > before.updated_at
    assert lead_statements(captured, "INSERT") == []
    assert len(lead_statements(captured, "UPDATE")) == 1


def test_every_row_of_a_batch_references_the_leads_inserted_with_it(market, writer):
    make_target(publisher=market.publisher)
    items = [
        lead_payload(email=f"p{n}@contoso.example", LeadId=f"w-{n}")
        for n in range(6)  # six people, then two of them again
    ] + [lead_payload(email="p1@contoso.example", LeadId="w-7")]

    body = post_bulk(market, items)

    assert body["created"] == 7
    leads = {str(lead.uuid): lead for lead in Lead.objects.all()}
    assert len(leads) == 6
    activities = list(LeadActivity.objects.order_by("external_id"))
    assert [a.external_id for a in activities] == [f"w-{n}" for n in (0, 1, 2, 3, 4, 5, 7)]
    for result, activity in zip(body["results"], [*activities[:6], activities[6]], strict=True):
        assert activity.lead == leads[result["result"]["id"]]
        assert activity.intake_response == result["result"]
        assert activity.notification_pending is True
    records = ConsentRecord.objects.select_related("activity")
    assert sorted((r.lead_id, r.activity.lead_id) for r in records) == sorted(
        (a.lead_id, a.lead_id) for a in activities
    )
    qualified = {lead.pk for lead in leads.values() if lead.status == Lead.Status.QUALIFIED}
    assert qualified  # the default rules qualify an install with a full profile
    assert set(LeadTransition.objects.values_list("lead_id", flat=True)) == qualified
    assert (
        set(
            Delivery.objects.filter(event=Delivery.Event.QUALIFIED).values_list(
                "lead_id", flat=True
            )
        )
        == qualified
    )


def test_inserting_a_person_that_already_exists_raises_lead_raced(market, writer):
    post_bulk(market, [lead_payload()])
    now = timezone.now()
    twin = Lead(
        publisher=market.publisher,
        email="ada@contoso.example",
        email_normalized="ada@contoso.example",
        created_at=now,
        updated_at=now,
    )

    with pytest.raises(writes.LeadRaced):
        writes.leads_insert(leads=[twin])

    assert Lead.objects.count() == 1


def test_a_raced_batch_runs_again_in_a_new_transaction(market, writer, monkeypatch):
    original = writes.leads_insert
    attempts = []

    def insert_raced_once(*, leads):
        attempts.append([lead.email_normalized for lead in leads])
        if len(attempts) == 1:  # what a concurrent request's committed insert causes
            stray = Lead(publisher=market.publisher, email="stray@contoso.example")
            stray.save()  # written by the first attempt: it must not survive it
            raise writes.LeadRaced
        original(leads=leads)

    monkeypatch.setattr(writes, "leads_insert", insert_raced_once)

    body = post_bulk(market, [lead_payload(LeadId="w-1")])

    # The second run claims its new people before anything else: nothing is left to
    # insert whole, and it cannot race again.
    assert attempts == [["ada@contoso.example"], []]
    assert body["created"] == 1
    lead = Lead.objects.get()
    assert (lead.email, LeadActivity.objects.get().lead) == ("ada@contoso.example", lead)


def _always_raced(monkeypatch) -> list[int]:
    """Concurrent requests that always create the new people first: every whole insert of
    a new lead is refused. Returns the sizes of the refused inserts."""
    original = writes.leads_insert
    refused: list[int] = []

    def always_raced(*, leads):
        if leads:
            refused.append(len(leads))
            raise writes.LeadRaced
        original(leads=leads)

    monkeypatch.setattr(writes, "leads_insert", always_raced)
    return refused


def test_a_single_lead_that_keeps_racing_still_lands(market, writer, monkeypatch):
    refused = _always_raced(monkeypatch)

    response = market.post(lead_payload(LeadId="k-1"))

    # Its second run claimed the person before anything else, and could not race again
    assert refused == [1]
    assert response.status_code == 201
    assert response.json()["consolidated"] is False
    assert (Lead.objects.count(), LeadActivity.objects.count()) == (1, 1)


def test_a_bulk_batch_claims_its_new_people_first_and_never_races(market, writer, monkeypatch):
    refused = _always_raced(monkeypatch)

    items = [lead_payload(email=f"p{n}@contoso.example", LeadId=f"k-{n}") for n in range(3)]
    body = post_bulk(market, [*items, lead_payload(email="p0@contoso.example", LeadId="k-3")])

    # Nothing was left to insert whole: every item is stored, each person once
    assert refused == []
    assert [item["status_code"] for item in body["results"]] == [201] * 4
    answers = [item["result"] for item in body["results"]]
    assert [answer["consolidated"] for answer in answers] == [False, False, False, True]
    assert (Lead.objects.count(), LeadActivity.objects.count()) == (3, 4)
