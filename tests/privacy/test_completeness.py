"""Completeness (issue 12, "Tests"): a person whose every field carries a marker goes
through intake (single and bulk), the Partner Center webhook, a CSV import,
consolidation, qualification, a nurture email, a status change in the portal, a staff
edit in admin and an export; after the erasure, `pg_dump --data-only` of the database and
the test's Redis databases hold none of the markers, and the CRM target that received the
person has its erasure delivery. A second erase is a no-op that says so."""

import io
import json

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.management import call_command
from django.db.models import F
from django.test import Client
from django.urls import reverse

from crm.models import Delivery
from inbound import services as inbound_services
from inbound import sources
from inbound.models import InboundItem
from leads.intake import csv_import
from leads.models import EmailSend, Lead
from leads.nurture import send as nurture_send
from privacy import services
from tests.factories import make_membership, make_target, make_user
from tests.leads.conftest import Storefronts, lead_payload
from tests.leads.nurture_support import Sequence, smtp  # noqa: F401
from tests.privacy import drill

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.no_sqlite]

MARK = "zqcomplete"
EMAIL = f"{MARK}.ada@{MARK}-engines.example"
PHONE = "+44 20 7946 3141"
MARKERS = [MARK, EMAIL, "7946 3141"]


def _details(suffix: str) -> dict:
    return {
        "FirstName": f"{MARK}First",
        "LastName": f"{MARK}Last",
        "Email": EMAIL,
        "Phone": PHONE,
        "Country": "GB",
        "Company": f"{MARK} Engines",
        "Title": f"{MARK} Chief {suffix}",
    }


def _payload(market, suffix: str, **fields) -> dict:
    payload = lead_payload(email=EMAIL, offer_id="contoso.contoso-crm", **fields)
    payload["UserDetails"] = _details(suffix)
    payload["Description"] = f"{MARK} description {suffix}"
    return payload


def _through_intake(market) -> None:
    single = market.post(_payload(market, "single", LeadId="pc-lead-0001"))
    assert single.status_code in (200, 201), single.content
    bulk = market.post([_payload(market, "bulk", LeadId="pc-lead-0002")], path="/api/v1/leads/bulk")
    assert bulk.status_code == 200, bulk.content


def _through_webhook(market) -> None:
    _source, token = sources.inbound_url_create(listing=market.azure)
    body = _payload(market, "webhook")
    response = Client().post(
        sources.inbound_url_path(token), data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 200, response.content
    for pk in InboundItem.objects.filter(status="pending").values_list("pk", flat=True):
        inbound_services.inbound_item_process(item_id=pk)


def _through_csv(market) -> None:
    content = (
        "First Name,Last Name,Email,Phone,Company,Title,Description,Offer Id,Storefront\n"
        f"{MARK}First,{MARK}Last,{EMAIL},{PHONE},{MARK} Engines,{MARK} CSV,{MARK} csv row,"
        "contoso.contoso-crm,Azure Marketplace\n"
    ).encode()
    report = csv_import.leads_import(publisher=market.publisher, content=content)
    assert report.failed == 0


def _through_portal_and_admin(lead: Lead) -> None:
    owner = make_membership(publisher=lead.publisher).user
    portal = Client()
    portal.force_login(owner)
    to_status = "accepted" if lead.status == "qualified" else "qualified"
    moved = portal.post(
        reverse("lead-detail", args=[lead.uuid]),
        {"to_status": to_status, "reason": f"{MARK} called back"},
    )
    assert moved.status_code in (200, 302)
    staff = make_user(username="staff-dpo", is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(staff)
    assert admin.get(reverse("admin:leads_lead_change", args=[lead.pk])).status_code == 200
    # What the admin's save writes to its history (the change form's own fields vary).
    LogEntry.objects.log_actions(
        user_id=staff.pk,
        queryset=[lead],
        action_flag=CHANGE,
        change_message=json.dumps([{"changed": {"fields": [f"{MARK} title"]}}]),
        single_object=True,
    )


def _through_nurture(smtp) -> Lead:  # noqa: F811
    sequence = Sequence()
    lead = Lead.objects.create(
        publisher=sequence.publisher,
        email=EMAIL,
        email_normalized=EMAIL,
        first_name=f"{MARK}First",
        last_name=f"{MARK}Last",
        marketing_consent=True,
    )
    sequence.enrol([lead])
    nurture_send.nurture_send_due(budget_seconds=60)
    assert [r.to for r in smtp.received] == [EMAIL]
    assert EmailSend.objects.filter(enrollment__lead=lead, status="sent").count() == 1
    return lead


def _held(name: str) -> list[str]:
    """The dump's lines (and the Redis keys) that hold a marker."""
    lines = drill.dump_data(name).lower().splitlines()
    return [line[:200] for line in lines if any(m.lower() in line for m in MARKERS)] + [
        key for m in MARKERS for key in drill.redis_holding(m)
    ]


def test_a_person_taken_everywhere_leaves_no_marker_after_erasure(smtp):  # noqa: F811
    # Given a person taken through every way in, and a CRM that received them
    market = Storefronts()
    target = make_target(publisher=market.publisher, name="Contoso HTTPS")
    _through_intake(market)
    _through_webhook(market)
    _through_csv(market)
    lead = Lead.objects.get(publisher=market.publisher, email_normalized=EMAIL)
    assert lead.activities.count() >= 3  # consolidated
    _through_portal_and_admin(lead)
    lead.refresh_from_db()
    assert lead.status in ("qualified", "accepted")
    Delivery.objects.filter(lead=lead, target=target).update(
        status="delivered", delivered_at=F("created_at")
    )
    nurtured = _through_nurture(smtp)
    exported = io.StringIO()
    call_command("export_person", EMAIL, stdout=exported)
    assert len(json.loads(exported.getvalue())["leads"]) == 2
    assert MARK in drill.dump_data(drill.database_name())

    # When the person is erased (staff, across publishers)
    report = services.person_erase(email=EMAIL, actor=None, reason="Art. 17", source="command")

    # Then no marker is left in the database or Redis
    assert sorted(report.lead_ids) == sorted([lead.pk, nurtured.pk])
    assert _held(drill.database_name()) == []
    # The target that received the person has its erasure delivery
    assert Delivery.objects.filter(lead=lead, target=target, event="lead.erased").count() == 1
    assert [r["target_name"] for r in report.recipients] == ["Contoso HTTPS"]
    # And a second erase is a no-op that says so
    again = services.person_erase(email=EMAIL, actor=None, reason="again", source="command")
    assert again.is_noop
    assert len(again.already_erased) == 2
