"""Erasure deliveries in the portal's delivery log and in admin: shown with their mode and
outcome, never redelivered, and another publisher sees none of them."""

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Delivery
from tests.crm.erasure_support import MARKERS, erase, make_person
from tests.factories import make_delivery, make_membership, make_target

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


@pytest.fixture
def erased(publisher):
    """A settled erasure delivery (notified) of a person the target had received."""
    target = make_target(publisher=publisher, kind="salesforce", name="SF")
    lead = make_person(publisher=publisher)
    make_delivery(lead=lead, target=target, status="delivered", delivered_at=timezone.now())
    (row,) = erase(lead)
    Delivery.objects.filter(pk=row.pk).update(
        status="delivered", delivered_at=timezone.now(), outcome="notified", lookup={}
    )
    return row


def test_the_delivery_log_shows_an_erasure_with_its_outcome_and_no_redeliver_button(
    owner_client, erased
):
    page = owner_client.get(reverse("crm-deliveries"), {"event": "lead.erased"}).content.decode()

    assert "Lead erased" in page
    assert "Erasure request emailed to the contact" in page
    assert reverse("crm-delivery-redeliver", args=[erased.pk]) not in page
    assert MARKERS["email"] not in page


def test_the_delivery_log_is_translated(owner_client, erased):
    page = owner_client.get(
        reverse("crm-deliveries"), {"event": "lead.erased"}, HTTP_ACCEPT_LANGUAGE="es"
    ).content.decode()

    assert "Cliente potencial suprimido" in page
    assert "Solicitud de supresión enviada por correo al contacto" in page


def test_an_erasure_is_never_redelivered_from_the_portal(owner_client, erased):
    response = owner_client.post(reverse("crm-delivery-redeliver", args=[erased.pk]), follow=True)

    erased.refresh_from_db()
    assert erased.status == "delivered"
    assert [str(m) for m in response.context["messages"]] == [
        "This delivery cannot be sent again: the lead was erased."
    ]


def test_another_publisher_neither_sees_nor_redelivers_an_erasure(client, other_publisher, erased):
    client.force_login(make_membership(publisher=other_publisher).user)

    page = client.get(reverse("crm-deliveries"), {"event": "lead.erased"}).content.decode()
    response = client.post(reverse("crm-delivery-redeliver", args=[erased.pk]))

    assert "Lead erased</td>" not in page
    assert "Erasure request emailed" not in page
    assert response.status_code == 404


def test_admin_lists_erasures_with_their_outcome_and_never_redelivers_them(
    client, staff_user, erased
):
    client.force_login(staff_user)

    listing = client.get(
        reverse("admin:crm_delivery_changelist"), {"event__exact": "lead.erased"}
    ).content.decode()
    detail = client.get(reverse("admin:crm_delivery_change", args=[erased.pk])).content.decode()
    response = client.post(
        reverse("admin:crm_delivery_changelist"),
        {"action": "redeliver", "_selected_action": [erased.pk]},
        follow=True,
    )

    assert "Erasure request emailed to the contact" in listing
    assert "Notify: email the erasure request to the contact" in detail
    assert MARKERS["email"] not in detail
    (message,) = [str(m) for m in response.context["messages"]]
    assert message.endswith(" was skipped: an erasure notice is never sent again.")
    erased.refresh_from_db()
    assert erased.status == "delivered"


def test_admin_target_form_offers_the_erasure_mode(client, staff_user, publisher):
    client.force_login(staff_user)
    target = make_target(publisher=publisher, kind="marketo", erasure_mode="delete")

    page = client.get(reverse("admin:crm_crmtarget_change", args=[target.pk])).content.decode()

    assert 'name="erasure_mode"' in page
    assert '<option value="delete" selected>' in page
