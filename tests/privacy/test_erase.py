"""The erasure service: every copy goes, the figures stay, a second erase is a no-op."""

import pytest

from crm.models import Delivery
from inbound import services as inbound_services
from inbound.models import InboundItem, InboundSource
from leads.models import EmailSend, Lead, Suppression
from leads.nurture.address_hash import address_hash
from privacy import selectors, services
from privacy.models import AccessLogEntry, ErasureRecord
from tests.factories import make_lead, make_listing, make_user
from tests.privacy.world import make_person, tables_holding

pytestmark = pytest.mark.django_db


def test_erase_leaves_no_marker_in_any_table_and_keeps_ids_and_rows(
    django_capture_on_commit_callbacks,
):
    # Given a person with markers in every store, and a staff member
    person = make_person()
    staff = make_user(username="dpo", is_staff=True)
    sends_before = EmailSend.objects.count()
    assert {"leads_lead", "leads_leadactivity", "inbound_inbounditem", "django_admin_log"} <= set(
        tables_holding(person.mark)
    )

    # When the person is erased
    with django_capture_on_commit_callbacks(execute=True):
        report = services.person_erase(
            email=person.email.upper(), actor=staff, reason="Art. 17 request", source="admin"
        )

    # Then no table holds a marker, and the lead, its sends and deliveries stay
    assert tables_holding(person.mark) == []
    lead = Lead.objects.get(pk=person.lead.pk)
    assert lead.uuid == person.lead.uuid
    assert lead.email == f"erased-{lead.uuid}@erased.invalid"
    assert EmailSend.objects.count() == sends_before
    assert Delivery.objects.filter(lead=lead, event="lead.qualified").count() == 1
    # Only the keyed hash stays on the suppression list
    suppression = Suppression.objects.get(publisher=person.sequence.publisher)
    assert (suppression.email_hash, suppression.detail) == (address_hash(person.email), "")
    # The record keeps who, why, the hash and the lead ids, never the address
    (record,) = report.records
    assert record == ErasureRecord.objects.get()
    assert record.requested_by == staff
    assert record.email_hashes == [address_hash(person.email)]
    assert record.lead_ids == [lead.pk]
    assert record.counts["leads"] == 1
    assert record.counts["inbound_items"] == 2
    assert record.counts["admin_log"] == 1
    assert report.lead_ids == [lead.pk]
    # The target that received the person gets its erasure delivery (crm), recorded
    assert [(r["target_name"], r["kind"]) for r in record.recipients] == [("Contoso CRM", "https")]
    assert (
        Delivery.objects.get(lead=lead, event="lead.erased").pk == record.recipients[0]["delivery"]
    )
    entry = AccessLogEntry.objects.get(action="erase")
    assert (entry.username, entry.object_ids, entry.source) == ("dpo", [str(lead.pk)], "admin")


@pytest.mark.sqlite
def test_a_second_erase_of_the_address_is_a_noop_that_names_the_first():
    person = make_person()
    first = services.person_erase(email=person.email, actor=None, reason="r", source="command")

    again = services.person_erase(email=person.email, actor=None, reason="r", source="command")

    assert again.is_noop
    assert again.records == []
    assert again.already_erased == first.records
    assert ErasureRecord.objects.count() == 1


def test_leads_of_two_publishers_are_refused_and_nothing_changes():
    one, two = make_lead(first_name="Keep"), make_lead(first_name="Keep")

    with pytest.raises(services.ErasureRefused):
        services.leads_erase(leads=[one, two], reason="r", source="admin")

    assert set(Lead.objects.values_list("first_name", flat=True)) == {"Keep"}
    assert ErasureRecord.objects.count() == 0


def test_the_crm_seam_is_called_for_each_lead_before_its_fields_go(monkeypatch):
    # Given crm's erasure deliveries (the seam), recording what it saw
    person = make_person()
    seen = []

    def create(*, lead, now):
        seen.append(Lead.objects.get(pk=lead.pk).email)
        return [Delivery.objects.filter(lead=lead).first()]

    monkeypatch.setattr(services.crm_services, "erasure_deliveries_create", create, raising=False)

    report = services.person_erase(email=person.email, actor=None, reason="r", source="portal")

    assert seen == [person.email]
    assert [(r["target_name"], r["kind"]) for r in report.recipients] == [("Contoso CRM", "https")]
    assert report.records[0].recipients == report.recipients


def test_a_batch_of_leads_takes_a_bounded_number_of_queries(django_assert_max_num_queries):
    person = make_person()
    leads = [person.lead] + [
        make_lead(publisher=person.sequence.publisher, first_name="x") for _ in range(30)
    ]

    with django_assert_max_num_queries(40):
        report = services.leads_erase(
            leads=Lead.objects.filter(pk__in=[lead.pk for lead in leads]),
            reason="retention",
            source="retention",
        )

    assert len(report.lead_ids) == 31


def test_no_log_record_names_the_person_while_they_are_found_exported_and_erased(caplog):
    # Given a person, and every log record captured
    person = make_person(mark="zqlogmark")
    caplog.set_level("DEBUG")

    # When they are found, exported and erased
    records = selectors.person_records(email=person.email)
    selectors.person_export(records=records)
    services.person_erase(email=person.email, actor=None, reason="r", source="command")

    # Then no record's message or extra names them
    assert caplog.records
    for record in caplog.records:
        text = (record.getMessage() + repr(record.__dict__)).lower()
        assert person.mark not in text and person.email not in text


def test_the_record_reads_each_recipients_outcome_as_the_erasure_delivery_settles():
    person = make_person()
    (record,) = services.person_erase(
        email=person.email, actor=None, reason="r", source="admin"
    ).records
    assert [r["status"] for r in selectors.erasure_outcomes(record=record)] == ["pending"]

    Delivery.objects.filter(pk=record.recipients[0]["delivery"]).update(
        status="delivered", delivered_at=record.created_at, outcome="signalled"
    )

    (outcome,) = selectors.erasure_outcomes(record=record)
    assert (outcome["target_name"], outcome["status"], outcome["outcome"]) == (
        "Contoso CRM",
        "delivered",
        "signalled",
    )


def test_an_address_that_never_became_a_lead_is_erased_from_its_inbound_items():
    # Given a Partner Center body that named the person but became no lead (a reject)
    email = "zqunlinked.ada@contoso.example"
    listing = make_listing()
    source = InboundSource.objects.create(
        publisher=listing.publisher, kind=InboundSource.Kind.WEBHOOK, listing=listing
    )
    item, _created = inbound_services.inbound_item_store(
        source=source, body=f'{{"UserDetails": {{"Email": "{email}"}}}}', dedupe_key="k"
    )
    InboundItem.objects.filter(pk=item.pk).update(status="rejected", reason_code="invalid_lead")

    # When the address is erased
    report = services.person_erase(email=email, actor=None, reason="Art. 17", source="command")

    # Then the body is gone, the erasure is recorded by its hash, and a second erase is a no-op
    assert not report.is_noop
    assert report.counts["inbound_items"] == 1
    assert "zqunlinked" not in InboundItem.objects.get(pk=item.pk).body
    record = ErasureRecord.objects.get()
    assert (record.lead_ids, record.email_hashes) == ([], [address_hash(email)])
    assert services.person_erase(email=email, actor=None, reason="again", source="command").is_noop


def test_a_journal_replay_erases_a_restored_inbound_item_that_became_no_lead():
    # Given an erased address whose unlinked inbound item a restore brought back
    email = "zqreplayed.ada@contoso.example"
    body = f'{{"UserDetails": {{"Email": "{email.upper()}", "Company": "zqreplaymark"}}}}'
    listing = make_listing()
    source = InboundSource.objects.create(
        publisher=listing.publisher, kind=InboundSource.Kind.WEBHOOK, listing=listing
    )
    item, _created = inbound_services.inbound_item_store(source=source, body=body, dedupe_key="r")
    other, _created = inbound_services.inbound_item_store(
        source=source,
        body='{"UserDetails": {"Email": "someone.else@contoso.example"}}',
        dedupe_key="o",
    )
    InboundItem.objects.filter(pk__in=[item.pk, other.pk]).update(status="rejected")
    services.person_erase(email=email, actor=None, reason="Art. 17", source="command")
    entry = services.journal_entry(record=ErasureRecord.objects.get())
    InboundItem.objects.filter(pk=item.pk).update(body=body)  # what the backup held

    # When the journal is replayed, twice
    first = services.erasures_replay(entries=[entry])
    again = services.erasures_replay(entries=[entry])

    # Then the body is gone again, the other person's item is untouched, and the second
    # replay has nothing left to do
    assert (first.erasures_applied, first.inbound_items_erased) == (1, 1)
    assert (again.erasures_applied, again.inbound_items_erased) == (0, 0)
    assert "zqreplaymark" not in InboundItem.objects.get(pk=item.pk).body
    assert "someone.else" in InboundItem.objects.get(pk=other.pk).body


def test_addresses_in_a_body_are_found_and_normalised():
    found = selectors.addresses_in('{"Email":"Ada.L+x@Contoso.Example.", "n": "a@b"}')

    assert found == {"ada.l+x@contoso.example"}
