"""A step's delay in minutes, hours or days: the form, the words, the sender and the migration."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import translation

from leads.campaigns.forms import StepForm
from leads.models import Enrollment, NurtureStep
from leads.nurture import send as nurture_send
from leads.nurture import services as nurture
from leads.nurture.delays import delay_words
from tests.leads.nurture_support import Sequence, smtp  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def step_form(value, unit, **fields) -> StepForm:
    data = {"delay_value": value, "delay_unit": unit, "subject": "Hi", "body": "Hello"}
    return StepForm(data | fields)


@pytest.mark.parametrize(
    ("value", "unit", "minutes"),
    [("30", "minutes", 30), ("2", "hours", 120), ("3", "days", 4320), ("365", "days", 525600)],
)
def test_the_form_turns_a_number_and_a_unit_into_minutes(value, unit, minutes):
    form = step_form(value, unit)

    assert form.is_valid(), form.errors
    assert form.service_fields()["delay_minutes"] == minutes


@pytest.mark.parametrize(
    ("value", "unit", "field", "message"),
    [
        ("-1", "hours", "delay_value", "greater than or equal to 0"),
        ("366", "days", "delay_value", "at most 365 days"),
        ("525601", "minutes", "delay_value", "at most 365 days"),
        ("", "days", "delay_value", "This field is required"),
        ("two", "days", "delay_value", "Enter a whole number"),
        ("2", "weeks", "delay_unit", "Select a valid choice"),
    ],
)
def test_a_bad_delay_is_a_field_error(value, unit, field, message):
    form = step_form(value, unit)

    assert not form.is_valid()
    assert message in " ".join(form.errors[field])
    assert set(form.errors) == {field}


def test_editing_shows_the_delay_in_its_largest_exact_unit():
    sequence = Sequence(delays=(timedelta(minutes=90), 48, 24))

    initials = [
        (form.initial["delay_value"], form.initial["delay_unit"])
        for form in (StepForm(instance=step) for step in sequence.steps)
    ]

    assert initials == [(90, "minutes"), (2, "days"), (1, "days")]


def test_the_delay_in_words_in_english_and_spanish():
    minutes = [0, 1, 30, 60, 120, 1440, 2880, 90]
    with translation.override("en"):
        assert [delay_words(m) for m in minutes] == [
            "No delay",
            "1 minute",
            "30 minutes",
            "1 hour",
            "2 hours",
            "1 day",
            "2 days",
            "90 minutes",
        ]
    with translation.override("es"):
        assert [delay_words(m) for m in minutes] == [
            "Sin espera",
            "1 minuto",
            "30 minutos",
            "1 hora",
            "2 horas",
            "1 día",
            "2 días",
            "90 minutos",
        ]


def test_the_model_refuses_more_than_365_days():
    sequence = Sequence(delays=(0,))

    with pytest.raises(Exception, match="525600"):
        nurture.step_save(
            campaign=sequence.campaign,
            step=None,
            delay_minutes=365 * 24 * 60 + 1,
            subject="Hi",
            body="Hello",
        )
    assert NurtureStep.objects.filter(campaign=sequence.campaign).count() == 1


def test_the_sender_honours_minutes(smtp):  # noqa: F811
    with time_machine.travel(T0, tick=False) as clock:
        sequence = Sequence(delays=(timedelta(minutes=45), timedelta(minutes=30)))
        (lead,) = sequence.leads(1)
        sequence.enrol([lead])
        enrollment = Enrollment.objects.get()
        assert enrollment.next_send_at == T0 + timedelta(minutes=45)

        clock.shift(timedelta(minutes=44, seconds=59))
        assert nurture_send.nurture_send_due(budget_seconds=60).sent == 0
        clock.shift(timedelta(seconds=1))
        assert nurture_send.nurture_send_due(budget_seconds=60).sent == 1
        enrollment.refresh_from_db()
        assert enrollment.next_send_at == T0 + timedelta(minutes=75)

        clock.shift(timedelta(minutes=29))
        assert nurture_send.nurture_send_due(budget_seconds=60).sent == 0
        clock.shift(timedelta(minutes=1))
        assert nurture_send.nurture_send_due(budget_seconds=60).sent == 1

    assert [sequence.step_of(r) for r in smtp.received] == [1, 2]
    assert Enrollment.objects.get().state == "completed"


@pytest.mark.django_db(transaction=True)  # as `migrate` runs it: not inside a test's transaction
def test_the_migration_keeps_every_delay_in_minutes():
    executor = MigrationExecutor(connection)
    executor.migrate([("leads", "0017_sending_identity")])
    old_apps = executor.loader.project_state([("leads", "0017_sending_identity")]).apps
    Publisher = old_apps.get_model("portal", "Publisher")
    Campaign = old_apps.get_model("leads", "Campaign")
    OldStep = old_apps.get_model("leads", "NurtureStep")
    publisher = Publisher.objects.create(name="Contoso", slug="contoso", publisher_id="contoso")
    campaign = Campaign.objects.create(
        publisher=publisher,
        name="Spring",
        code="spring",
        storefront="appsource",
        starts_on=T0.date(),
    )
    for position, hours in enumerate((0, 3, 24 * 365), start=1):
        OldStep.objects.create(
            campaign=campaign, position=position, delay_hours=hours, subject="S", body="B"
        )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert list(
        NurtureStep.objects.order_by("position").values_list("position", "delay_minutes")
    ) == [(1, 0), (2, 180), (3, 525600)]
