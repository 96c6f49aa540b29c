"""Beat's daily re-check of sending identities against a DNS server on loopback
(leads.sending.services.identities_recheck, docs/email.md)."""

import logging
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from leads import tasks
from leads.models import SendingIdentity
from leads.sending import services
from tests.factories import make_publisher
from tests.leads.dns_support import loopback_dns, publish_identity  # noqa: F401

pytestmark = pytest.mark.django_db


def verified_identity(dns, *, name="Contoso", domain="contoso.example", hours_ago=25):
    publisher = make_publisher(name=name)
    identity = services.identity_save(publisher=publisher, from_email=f"news@{domain}")
    publish_identity(dns, identity, services.identity_records(identity))
    assert services.identity_check(identity=identity).is_verified
    age(identity, hours=hours_ago)
    return identity


def age(identity, *, hours):
    SendingIdentity.objects.filter(pk=identity.pk).update(
        checked_at=timezone.now() - timedelta(hours=hours)
    )


def test_a_removed_dkim_record_is_found_by_the_next_daily_check(loopback_dns, caplog):  # noqa: F811
    # Given a verified identity checked a day ago, whose DKIM record was since removed
    identity = verified_identity(loopback_dns)
    loopback_dns.records.pop(f"{identity.dkim_selector}._domainkey.contoso.example")

    # When beat's hourly task runs
    with caplog.at_level(logging.WARNING, logger="leads.sending.services"):
        tasks.recheck_sending_identities()

    # Then the identity failed and is no longer used; the warning names no address
    identity.refresh_from_db()
    assert identity.status == SendingIdentity.Status.FAILED
    assert identity.check_results["dkim"]["status"] == "missing"
    (record,) = [r for r in caplog.records if r.getMessage() == "leads.sending.identity_lost"]
    assert record.publisher_id == identity.publisher_id
    assert "contoso.example" not in caplog.text


def test_a_nameserver_that_does_not_answer_leaves_a_verified_identity_verified(loopback_dns):  # noqa: F811
    identity = verified_identity(loopback_dns)
    last_checked = SendingIdentity.objects.get(pk=identity.pk).checked_at
    loopback_dns.silent.add("_dmarc.contoso.example")

    outcome = services.identities_recheck()

    identity.refresh_from_db()
    assert outcome == {"verified": 0, "failed": 0, "unanswered": 1}
    assert identity.is_verified
    assert identity.checked_at == last_checked  # tried again at the next run


def test_a_failed_identity_whose_records_were_fixed_becomes_verified(loopback_dns):  # noqa: F811
    publisher = make_publisher(name="Fabrikam")
    identity = services.identity_save(publisher=publisher, from_email="hi@fabrikam.example")
    assert not services.identity_check(identity=identity).is_verified
    publish_identity(loopback_dns, identity, services.identity_records(identity))
    age(identity, hours=30)

    outcome = services.identities_recheck()

    identity.refresh_from_db()
    assert outcome == {"verified": 1, "failed": 0, "unanswered": 0}
    assert identity.is_verified


def test_an_identity_checked_within_the_day_is_not_asked_again(loopback_dns):  # noqa: F811
    fresh = verified_identity(loopback_dns, hours_ago=2)
    stale = verified_identity(
        loopback_dns, name="Fabrikam", domain="fabrikam.example", hours_ago=25
    )
    loopback_dns.questions.clear()

    outcome = services.identities_recheck()

    assert outcome == {"verified": 1, "failed": 0, "unanswered": 0}
    asked = {question.lower() for question in loopback_dns.questions}
    assert any("fabrikam.example" in name for name in asked)
    assert not any("contoso.example" in name for name in asked)
    fresh.refresh_from_db()
    stale.refresh_from_db()
    assert stale.checked_at > fresh.checked_at


def test_a_new_identity_never_checked_waits_for_its_owner(loopback_dns):  # noqa: F811
    publisher = make_publisher(name="Northwind")
    services.identity_save(publisher=publisher, from_email="hi@northwind.example")

    assert services.identities_recheck() == {"verified": 0, "failed": 0, "unanswered": 0}
    assert loopback_dns.questions == []


def test_beat_runs_the_recheck_hourly_on_the_nurture_queue():
    entry = settings.CELERY_BEAT_SCHEDULE["leads-sending-recheck"]
    assert entry == {"task": "leads.recheck_sending_identities", "schedule": 3600.0}
    assert settings.CELERY_TASK_ROUTES[entry["task"]] == {"queue": "nurture"}
