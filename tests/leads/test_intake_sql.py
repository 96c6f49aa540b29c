"""leads.intake.sql: the set-based statements themselves, on PostgreSQL."""

from uuid import uuid4

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leads.intake import sql
from leads.models import Lead, LeadActivity, LeadTransition
from tests.factories import make_publisher

pytestmark = [pytest.mark.no_sqlite, pytest.mark.django_db]


def new_lead(publisher, email, **fields):
    now = timezone.now()
    return Lead(
        publisher=publisher,
        email=email,
        email_normalized=email.lower(),
        created_at=now,
        updated_at=now,
        **fields,
    )


def test_leads_insert_writes_every_column_in_one_statement_and_returns_the_ids():
    publisher = make_publisher()
    leads = [
        new_lead(publisher, f"p{n}@contoso.example", first_name=f"P{n}", score=n * 10)
        for n in range(3)
    ]
    leads[1].score_breakdown = [{"rule": "x", "points": 10}]

    with CaptureQueriesContext(connection) as captured:
        ids = sql.leads_insert(leads=leads)

    assert len(captured) == 1
    assert set(ids) == {lead.uuid for lead in leads}
    stored = {lead.uuid: lead for lead in Lead.objects.all()}
    for lead in leads:
        row = stored[lead.uuid]
        assert row.pk == ids[lead.uuid]
        assert (row.first_name, row.score, row.score_breakdown) == (
            lead.first_name,
            lead.score,
            lead.score_breakdown,
        )
        assert (row.created_at, row.updated_at, row.status) == (
            lead.created_at,
            lead.updated_at,
            "new",
        )
        assert (row.owner_id, row.merged_into_id, row.marketing_consent_at) == (None, None, None)


def test_leads_insert_skips_a_person_that_exists():
    publisher = make_publisher()
    sql.leads_insert(leads=[new_lead(publisher, "ada@contoso.example")])
    again = new_lead(publisher, "ada@contoso.example")
    other = new_lead(publisher, "bob@contoso.example")

    ids = sql.leads_insert(leads=[again, other])

    assert set(ids) == {other.uuid}
    assert Lead.objects.count() == 2


def test_leads_update_writes_only_the_named_fields():
    publisher = make_publisher()
    lead = new_lead(publisher, "ada@contoso.example", first_name="Ada", title="CTO")
    lead.pk = sql.leads_insert(leads=[lead])[lead.uuid]
    lead.first_name, lead.title = "Augusta", "CEO"

    sql.leads_update(leads=[lead], fields=["title", "latest_campaign"])

    row = Lead.objects.get()
    assert (row.first_name, row.title, row.latest_campaign_id) == ("Ada", "CEO", None)


def test_rows_insert_returns_the_ids_in_order_and_takes_the_ids_of_leads_saved_since():
    publisher = make_publisher()
    lead = new_lead(publisher, "ada@contoso.example")
    now = timezone.now()
    activities = [
        LeadActivity(
            lead=lead,
            storefront="azure-marketplace",
            action_code="INS",
            external_id=f"k-{n}" if n % 2 else None,
            occurred_at=now,
            raw_payload={"n": n},
            created_at=now,
        )
        for n in range(5)
    ]
    transitions = [LeadTransition(lead=lead, from_status="new", to_status="qualified")]
    lead.pk = sql.leads_insert(leads=[lead])[lead.uuid]  # after the rows were built

    sql.rows_insert(objs=activities, returning=True)
    sql.rows_insert(objs=transitions)

    stored = {a.pk: a for a in LeadActivity.objects.all()}
    assert [stored[a.pk].raw_payload for a in activities] == [{"n": n} for n in range(5)]
    assert {a.lead_id for a in stored.values()} == {lead.pk}
    assert all(a.lead is lead for a in activities)  # the cached lead is kept
    transition = LeadTransition.objects.get()
    assert (transition.lead_id, transition.changed_by_id) == (lead.pk, None)
    assert transition.created_at is not None  # auto_now_add, as save() would


def test_a_refused_row_raises_djangos_integrity_error():
    publisher = make_publisher()
    lead = new_lead(publisher, "ada@contoso.example")
    lead.pk = sql.leads_insert(leads=[lead])[lead.uuid]
    now = timezone.now()
    twice = [
        LeadActivity(lead=lead, storefront="appsource", external_id="same", occurred_at=now)
        for _ in range(2)
    ]

    with pytest.raises(IntegrityError), transaction.atomic():
        sql.rows_insert(objs=twice)

    assert not LeadActivity.objects.exists()


def test_a_single_row_binds_scalars_in_the_same_statement_shape():
    publisher = make_publisher()
    lead = new_lead(publisher, "ada@contoso.example", score_breakdown=[{"rule": "x"}])

    with CaptureQueriesContext(connection) as captured:
        ids = sql.leads_insert(leads=[lead])

    (statement,) = [q["sql"] for q in captured.captured_queries]
    assert "unnest" not in statement
    row = Lead.objects.get()
    assert (row.pk, row.score_breakdown, row.email) == (
        ids[lead.uuid],
        [{"rule": "x"}],
        "ada@contoso.example",
    )


def test_stored_answers_reads_the_json_answers_of_the_storefronts_keys_only():
    publisher = make_publisher()
    lead = new_lead(publisher, "ada@contoso.example")
    lead.pk = sql.leads_insert(leads=[lead])[lead.uuid]
    now = timezone.now()
    sql.rows_insert(
        objs=[
            LeadActivity(
                lead=lead,
                storefront=storefront,
                external_id=key,
                occurred_at=now,
                intake_response={"id": key, "score": 7},
            )
            for storefront, key in [
                ("appsource", "a"),
                ("appsource", "b"),
                ("azure-marketplace", "a"),
            ]
        ]
    )

    with CaptureQueriesContext(connection) as captured:
        answers = sql.stored_answers(storefront="appsource", keys=["a", "c"])

    assert len(captured) == 1
    assert answers == {"a": {"id": "a", "score": 7}}


def test_leads_lock_returns_the_people_and_the_survivors_of_merged_ones_in_id_order():
    publisher, other = make_publisher(), make_publisher()
    leads = [
        new_lead(publisher, "ada@contoso.example", score_breakdown=[{"rule": "x"}]),
        new_lead(publisher, "bob@contoso.example"),
        new_lead(publisher, "cyd@contoso.example"),
        new_lead(other, "ada@contoso.example"),
    ]
    ids = sql.leads_insert(leads=leads)
    ada, bob, cyd, _others = (ids[lead.uuid] for lead in leads)
    Lead.objects.filter(pk=bob).update(merged_into_id=cyd)

    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        locked = sql.leads_lock(
            keys=[(publisher.pk, "bob@contoso.example"), (publisher.pk, "ada@contoso.example")],
            origin=Lead.Origin.MARKETPLACE,
        )
        lock_statement = captured.captured_queries[-1]["sql"]

    assert [lead.pk for lead in locked] == [ada, bob, cyd]
    assert "FOR UPDATE" in lock_statement
    assert locked[0].score_breakdown == [{"rule": "x"}]  # converted as the ORM would
    assert (locked[1].merged_into_id, locked[0]._state.adding) == (cyd, False)
    assert sql.leads_lock(keys=[], origin=Lead.Origin.MARKETPLACE) == []


def test_leads_claim_inserts_empty_leads_and_skips_the_people_that_exist():
    publisher = make_publisher()
    sql.leads_insert(leads=[new_lead(publisher, "ada@contoso.example", first_name="Ada")])
    now = timezone.now()
    rows = [
        {
            "uuid": uuid4(),
            "publisher_id": publisher.pk,
            "email": email,
            "email_normalized": email.lower(),
            "is_test": is_test,
        }
        for email, is_test in [("ada@contoso.example", False), ("Bob@contoso.example", True)]
    ]

    with CaptureQueriesContext(connection) as captured:
        sql.leads_claim(rows=rows, now=now)

    assert len(captured) == 1
    ada, bob = Lead.objects.order_by("pk")
    assert (ada.first_name, ada.uuid == rows[0]["uuid"]) == ("Ada", False)
    assert (bob.uuid, bob.email, bob.email_normalized, bob.is_test) == (
        rows[1]["uuid"],
        "Bob@contoso.example",
        "bob@contoso.example",
        True,
    )
    assert (bob.origin, bob.status, bob.score, bob.score_breakdown) == ("marketplace", "new", 0, [])
    assert (bob.created_at, bob.updated_at, bob.storefronts) == (now, now, 0)


def test_a_batch_travels_as_one_json_document_and_comes_back_exact():
    publisher = make_publisher()
    moment = timezone.now().replace(microsecond=123456)
    leads = [
        new_lead(publisher, "ada@contoso.example", first_name='Zoë "Ada" \\ Ł', score=1),
        new_lead(publisher, "bob@contoso.example", score_breakdown=None, last_activity_at=moment),
    ]

    with CaptureQueriesContext(connection) as captured:
        ids = sql.leads_insert(leads=leads)

    (statement,) = [q["sql"] for q in captured.captured_queries]
    assert "jsonb_array_elements" in statement
    ada, bob = (Lead.objects.get(pk=ids[lead.uuid]) for lead in leads)
    assert (ada.first_name, ada.score, ada.last_activity_at) == ('Zoë "Ada" \\ Ł', 1, None)
    assert (bob.last_activity_at, bob.score_breakdown, bob.uuid) == (moment, None, leads[1].uuid)
