"""export_person, erase_person: JSON on stdout, a plan without --yes, clear errors."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from leads.models import Lead
from privacy.models import AccessLogEntry, ErasureRecord
from tests.factories import make_publisher
from tests.privacy.world import make_person, tables_holding

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_export_person_prints_the_json_and_logs_it_without_content():
    person = make_person()

    document = json.loads(run("export_person", person.email))

    assert document["format"] == "leadportal.person-export/1"
    (lead,) = document["leads"]
    assert lead["uuid"] == str(person.lead.uuid)
    assert lead["phone"] == f"+1 555 {person.mark}"
    assert lead["transitions"][0]["to_status"] == "qualified"
    assert lead["referrals"][0]["customer_need"] == f"{person.mark} needs"
    entry = AccessLogEntry.objects.get()
    assert (entry.action, entry.source, entry.object_ids) == (
        "export",
        "command",
        [str(lead["id"])],
    )


def test_export_person_of_another_publisher_or_an_unknown_slug_fails():
    person = make_person()
    other = make_publisher(name="Fabrikam")

    with pytest.raises(CommandError, match="Nothing is stored"):
        run("export_person", person.email, "--publisher", other.slug)
    with pytest.raises(CommandError, match="No publisher has the slug 'nope'"):
        run("export_person", person.email, "--publisher", "nope")
    assert AccessLogEntry.objects.count() == 0


def test_erase_person_without_yes_prints_the_plan_and_erases_nothing():
    person = make_person()
    out = io.StringIO()

    with pytest.raises(CommandError, match="run again with --yes"):
        call_command("erase_person", person.email, stdout=out)

    assert "  leads: 1 row(s)" in out.getvalue()
    assert "  Contoso CRM (https)" in out.getvalue()
    assert Lead.objects.get(pk=person.lead.pk).email == person.email


def test_erase_person_with_yes_erases_reports_and_a_second_run_says_so():
    person = make_person()
    slug = person.sequence.publisher.slug

    first = run("erase_person", person.email, "--publisher", slug, "--yes")
    second = run("erase_person", person.email, "--publisher", slug, "--yes")

    assert "Erased 1 lead(s)." in first
    assert "Told (erasure deliveries queued):\n  Contoso CRM (https)" in first
    assert tables_holding(person.mark) == []
    assert second.startswith("Already erased on ")
    assert ErasureRecord.objects.count() == 1


def test_erase_person_of_an_unknown_address_fails():
    with pytest.raises(CommandError, match="Nothing is stored"):
        run("erase_person", "nobody@nowhere.example", "--yes")
