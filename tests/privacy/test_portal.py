"""The owner's privacy pages: find, export, erase, the access log; tenancy and roles."""

import json

import pytest
from django.urls import reverse

from leads.models import Lead
from privacy.models import AccessLogEntry, ErasureRecord
from tests.factories import make_lead, make_membership
from tests.privacy.world import make_person, tables_holding

pytestmark = pytest.mark.django_db


@pytest.fixture
def person():
    return make_person()


@pytest.fixture
def owner_client(client, person):
    owner = make_membership(publisher=person.sequence.publisher).user
    client.force_login(owner)
    return client


@pytest.mark.sqlite
def test_find_shows_every_store_and_is_logged(owner_client, person, django_assert_max_num_queries):
    with django_assert_max_num_queries(30):
        response = owner_client.get(reverse("privacy"), {"email": person.email})

    assert response.status_code == 200
    counts = response.context["counts"]
    assert (counts["leads"], counts["activities"], counts["email_sends"]) == (1, 1, 1)
    assert (counts["deliveries"], counts["referrals"], counts["suppressions"]) == (1, 1, 1)
    assert counts["inbound_items"] == 2
    assert [r["name"] for r in response.context["recipients"]] == ["Contoso CRM"]
    entry = AccessLogEntry.objects.get()
    assert (entry.action, entry.object_ids) == ("find", [str(person.lead.pk)])
    assert person.email not in json.dumps(entry.object_ids) + entry.object_type


def test_a_bad_address_is_a_form_error(owner_client):
    response = owner_client.get(reverse("privacy"), {"email": "not an address"})

    assert response.status_code == 400
    assert response.context["form"].errors["email"]
    assert AccessLogEntry.objects.count() == 0


def test_export_downloads_json_with_payloads_and_logs_without_content(owner_client, person):
    response = owner_client.post(reverse("privacy-export"), {"email": person.email})

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="person-export.json"'
    document = json.loads(response.content)
    (lead,) = document["leads"]
    assert lead["first_name"] == f"{person.mark}First"
    assert lead["activities"][0]["raw_payload"]["UserDetails"]["Email"] == person.email
    assert lead["email_sends"][0]["status"] == "bounced"
    assert lead["deliveries"][0]["target__name"] == "Contoso CRM"
    assert "config" not in json.dumps(lead["deliveries"])
    assert document["suppression"][0]["reason"] == "bounced"
    entry = AccessLogEntry.objects.get(action="export")
    assert entry.object_ids == [str(person.lead.pk)]


def test_erase_confirmation_names_the_counts_and_recipients_then_erases(owner_client, person):
    page = owner_client.get(reverse("privacy-erase"), {"email": person.email})
    assert page.status_code == 200
    assert b"Contoso CRM" in page.content
    assert Lead.objects.get(pk=person.lead.pk).email == person.email

    unconfirmed = owner_client.post(
        reverse("privacy-erase"), {"email": person.email, "reason": "ticket 12"}
    )
    assert unconfirmed.status_code == 400
    assert ErasureRecord.objects.count() == 0

    done = owner_client.post(
        reverse("privacy-erase"), {"email": person.email, "reason": "ticket 12", "confirm": "on"}
    )
    assert done.status_code == 302
    assert tables_holding(person.mark) == []
    assert ErasureRecord.objects.get().reason == "ticket 12"


def test_another_publisher_finds_exports_and_erases_nothing(client, person):
    # Given the owner of another publisher
    stranger = make_membership().user
    client.force_login(stranger)

    found = client.get(reverse("privacy"), {"email": person.email})
    exported = client.post(reverse("privacy-export"), {"email": person.email})
    client.post(reverse("privacy-erase"), {"email": person.email, "reason": "x", "confirm": "on"})

    assert found.context["records"].is_empty
    assert exported.status_code == 302
    assert Lead.objects.get(pk=person.lead.pk).email == person.email
    assert ErasureRecord.objects.count() == 0


def test_a_member_who_is_not_an_owner_is_refused(client, person):
    member = make_membership(publisher=person.sequence.publisher, role="member").user
    client.force_login(member)

    assert client.get(reverse("privacy"), {"email": person.email}).status_code == 403
    assert client.get(reverse("privacy-access-log")).status_code == 403


def test_access_log_shows_only_the_publishers_entries_paginated(owner_client, person):
    other = make_lead()
    for _ in range(55):
        AccessLogEntry.objects.create(
            publisher=person.sequence.publisher, action="view", source="admin"
        )
    AccessLogEntry.objects.create(publisher=other.publisher, action="view", source="admin")

    first = owner_client.get(reverse("privacy-access-log"))
    second = owner_client.get(reverse("privacy-access-log"), {"page": 2, "sort": "oldest"})
    erased = owner_client.get(reverse("privacy-access-log"), {"action": "erase"})

    assert len(first.context["page"].object_list) == 50
    assert len(second.context["page"].object_list) == 5
    assert {e.publisher_id for e in second.context["page"]} == {person.sequence.publisher.pk}
    assert list(erased.context["page"]) == []
