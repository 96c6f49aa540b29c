"""Staff's pages: the access log of admin views, find/export/erase across publishers."""

import json

import pytest
from django.urls import reverse

from leads.models import Lead
from privacy.models import AccessLogEntry, ErasureRecord
from tests.privacy.world import make_person, tables_holding

pytestmark = pytest.mark.django_db


@pytest.fixture
def person():
    return make_person()


@pytest.mark.parametrize(
    ("url_name", "rows"),
    [
        ("admin:leads_lead_change", lambda p: (p.lead.pk, "leads.lead")),
        (
            "admin:leads_leadactivity_change",
            lambda p: (p.lead.activities.get().pk, "leads.leadactivity"),
        ),
        ("admin:crm_delivery_change", lambda p: (p.lead.deliveries.get().pk, "crm.delivery")),
    ],
)
def test_a_staff_view_of_personal_data_is_logged_without_the_data(
    admin_client, person, url_name, rows
):
    object_id, object_type = rows(person)

    response = admin_client.get(reverse(url_name, args=[object_id]))

    assert response.status_code == 200
    entry = AccessLogEntry.objects.get()
    assert (entry.action, entry.source, entry.object_type) == ("view", "admin", object_type)
    assert entry.object_ids == [str(object_id)]
    assert entry.publisher == person.sequence.publisher
    assert entry.username == "admin"


def test_the_email_send_and_lead_lists_are_logged(admin_client, person):
    admin_client.get(reverse("admin:leads_emailsend_changelist"))
    admin_client.get(reverse("admin:leads_lead_changelist"))

    assert list(AccessLogEntry.objects.values_list("action", "object_type")) == [
        ("list", "leads.lead"),
        ("list", "leads.emailsend"),
    ]


def test_admin_pages_of_the_privacy_app_load(admin_client, person):
    for name in (
        "admin:privacy_accesslogentry_changelist",
        "admin:privacy_erasurerecord_changelist",
    ):
        assert admin_client.get(reverse(name)).status_code == 200


def test_staff_find_export_and_erase_across_publishers(admin_client, person):
    found = admin_client.get(reverse("admin:privacy_person_find"), {"email": person.email})
    exported = admin_client.post(reverse("admin:privacy_person_export"), {"email": person.email})
    confirm = admin_client.get(reverse("admin:privacy_person_erase"), {"email": person.email})
    erased = admin_client.post(
        reverse("admin:privacy_person_erase"),
        {"email": person.email, "reason": "forwarded by Contoso", "confirm": "on"},
    )

    assert found.context["counts"]["leads"] == 1
    assert json.loads(exported.content)["leads"][0]["last_name"] == f"{person.mark}Last"
    assert b"Contoso CRM" in confirm.content
    assert erased.status_code == 302
    assert tables_holding(person.mark) == []
    record = ErasureRecord.objects.get()
    assert (
        admin_client.get(
            reverse("admin:privacy_erasurerecord_change", args=[record.pk])
        ).status_code
        == 200
    )
    assert set(AccessLogEntry.objects.values_list("action", flat=True)) >= {
        "find",
        "export",
        "erase",
    }


def test_staff_find_narrowed_to_another_publisher_finds_nothing(admin_client, person):
    from tests.factories import make_publisher

    other = make_publisher(name="Fabrikam")

    found = admin_client.get(
        reverse("admin:privacy_person_find"), {"email": person.email, "publisher": other.slug}
    )

    assert found.context["records"].is_empty
    assert Lead.objects.get(pk=person.lead.pk).email == person.email
