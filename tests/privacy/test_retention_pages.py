"""Retention on the settings page (owners change it, members read it) and in admin."""

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.models import Membership
from privacy.retention.models import RetentionRun, RetentionRunPublisher
from tests import factories

pytestmark = pytest.mark.django_db

URL = "/settings/retention/"


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_the_owner_turns_retention_on_and_off(client, publisher, owner):
    client.force_login(owner)

    on = client.post(URL, {"mode": "on", "months": "24"}, follow=True)
    publisher.refresh_from_db()
    months_on = publisher.retention_months
    off = client.post(URL, {"mode": "off", "months": "24"}, follow=True)
    publisher.refresh_from_db()

    assert on.redirect_chain == [("/settings/#retention", 302)]
    assert _messages(on) == ["Leads are now erased 24 months after their last activity."]
    assert months_on == 24
    assert _messages(off) == ["Retention is off: leads are kept until someone erases them."]
    assert publisher.retention_months is None


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"mode": "on", "months": "0"}, "Ensure this value is greater than or equal to 1."),
        ({"mode": "on", "months": "121"}, "Ensure this value is less than or equal to 120."),
        ({"mode": "on", "months": ""}, "Say after how many months (1 to 120)."),
        ({"mode": "on", "months": "two"}, "Enter a whole number."),
        ({"mode": "sometimes", "months": "3"}, "Select a valid choice."),
    ],
)
def test_a_bad_retention_shows_the_error_next_to_the_field(client, publisher, owner, data, error):
    publisher.retention_months = 36
    publisher.save(update_fields=["retention_months"])
    client.force_login(owner)

    response = client.post(URL, data)

    assert response.status_code == 200
    content = response.content.decode()
    assert error in content and 'aria-invalid="true"' in content
    publisher.refresh_from_db()
    assert publisher.retention_months == 36


def test_a_member_reads_the_retention_but_cannot_change_it(client, publisher):
    member = factories.make_membership(publisher=publisher, role=Membership.Role.MEMBER).user
    publisher.retention_months = 18
    publisher.save(update_fields=["retention_months"])
    client.force_login(member)

    page = client.get(reverse("settings")).content.decode()
    refused = client.post(URL, {"mode": "off"})

    assert "Leads are erased 18 months after their last activity." in page
    assert f'action="{URL}"' not in page
    assert refused.status_code == 403
    publisher.refresh_from_db()
    assert publisher.retention_months == 18


def test_an_owner_changes_only_their_own_publisher(client, publisher, other_publisher):
    other_owner = factories.make_membership(publisher=other_publisher).user
    client.force_login(other_owner)

    client.post(URL, {"mode": "on", "months": "6"})

    publisher.refresh_from_db()
    other_publisher.refresh_from_db()
    assert (publisher.retention_months, other_publisher.retention_months) == (None, 6)


def test_the_settings_page_shows_the_publishers_last_run(client, publisher, owner, other_publisher):
    now = timezone.now()
    for erased, who in ((5, publisher), (7, other_publisher), (3, publisher)):
        run = RetentionRun.objects.create(status="finished", finished_at=now, publishers=2)
        RetentionRunPublisher.objects.create(
            run=run, publisher=who, months=12, cutoff=now, leads_erased=erased, batches=1
        )
    client.force_login(owner)

    content = client.get(reverse("settings")).content.decode()

    assert "erased 3 leads." in content
    assert "erased 5 leads" not in content and "erased 7 leads" not in content


def test_the_settings_page_says_when_no_run_included_the_publisher(client, publisher, owner):
    client.force_login(owner)

    content = client.get(reverse("settings")).content.decode()

    assert "No retention run has included this publisher yet." in content
    assert "Keep leads until someone erases them" in content


def test_staff_see_the_next_run_and_the_last_runs_figures(client, staff_user, publisher, settings):
    settings.RETENTION_HOUR = 3
    RetentionRun.objects.create(
        status="finished",
        finished_at=timezone.now(),
        publishers=4,
        leads_erased=1234,
        batches=3,
        errors=1,
    )
    client.force_login(staff_user)

    response = client.get(reverse("admin:retention_retentionrun_changelist"))

    (summary,) = _messages(response)
    assert summary.startswith("Next retention run: ")
    assert "erased 1234 leads of 4 publishers in 3 batches, with 1 errors." in summary


def test_staff_set_a_publishers_retention_in_admin(client, staff_user, publisher):
    client.force_login(staff_user)
    url = reverse("admin:portal_publisher_change", args=[publisher.pk])

    page = client.get(url).content.decode()

    assert 'name="retention_months"' in page


@pytest.mark.parametrize("months", [0, 121])
def test_the_database_refuses_a_retention_out_of_range(publisher, months):
    from django.core.exceptions import ValidationError
    from django.db import IntegrityError, transaction

    publisher.retention_months = months
    with pytest.raises(ValidationError) as error:
        publisher.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        publisher.save(update_fields=["retention_months"])

    assert list(error.value.message_dict) == ["retention_months"]


def test_the_retention_card_speaks_spanish(client, publisher, owner):
    client.force_login(owner)

    content = client.get(reverse("settings"), HTTP_ACCEPT_LANGUAGE="es").content.decode()

    assert "Conservar los clientes potenciales hasta que alguien los suprima" in content
    assert "Ninguna ejecución de la conservación ha incluido todavía a este editor." in content
