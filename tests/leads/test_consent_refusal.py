"""Consent evidence after intake: a bounce, a complaint and an unsubscribe are evidence
rows, and the lead page says why nurture sends the lead no email."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from leads.consent import services as consent_services
from leads.consent.policy import Decision
from leads.models import ConsentRecord, EmailSend, Suppression
from leads.nurture import send as nurture_send
from leads.nurture import unsubscribe
from leads.nurture.selectors import NurtureBlock, nurture_refusal_for_lead
from portal.models import Membership
from tests.factories import make_activity, make_lead, make_listing, make_membership
from tests.leads.nurture_support import Sequence, smtp  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _page(publisher, lead) -> str:
    client = Client()
    client.force_login(make_membership(publisher=publisher, role=Membership.Role.MEMBER).user)
    return client.get(reverse("lead-detail", args=[lead.uuid])).content.decode()


def test_a_bounce_is_evidence_and_the_lead_page_says_so(smtp):  # noqa: F811
    with time_machine.travel(T0, tick=True):
        sequence = Sequence()
        (lead,) = sequence.leads(1, prefix="bounce")
        sequence.enrol([lead])
        smtp.answers[lead.email] = "550 5.1.1 No such user"
        nurture_send.nurture_send_due(budget_seconds=120)

    record = ConsentRecord.objects.get(lead=lead)
    send = EmailSend.objects.get()
    assert (record.is_granted, record.basis, record.reason) == (False, "bounce", "bounced")
    assert (record.email_send, record.recorded_by) == (send, None)
    refusal = nurture_refusal_for_lead(lead=lead)
    assert (refusal.block, refusal.evidence) == (NurtureBlock.BOUNCED, record)
    page = _page(sequence.publisher, lead)
    assert "Nurture sends this lead no email." in page
    assert escape(str(ConsentRecord.Reason.BOUNCED.label)) in page
    assert f"step 1 of {sequence.campaign.name} (SMTP 550)" in page


def test_a_complaint_staff_record_is_evidence_with_who_recorded_it(client, staff_user, publisher):
    lead = make_lead(publisher=publisher, email="Eve@Example.com", marketing_consent=True)
    client.force_login(staff_user)

    response = client.post(
        reverse("admin:leads_suppression_add"),
        {"publisher": publisher.pk, "email": "eve@example.com", "reason": "complained"},
    )

    assert response.status_code == 302
    record = ConsentRecord.objects.get(lead=lead)
    assert (record.basis, record.reason, record.recorded_by) == (
        "complaint",
        "complained",
        staff_user,
    )
    refusal = nurture_refusal_for_lead(lead=lead)
    assert (refusal.block, refusal.evidence) == (NurtureBlock.COMPLAINED, record)
    page = _page(publisher, lead)
    assert "Complained" in page and staff_user.get_username() in page


def test_an_unsubscribe_names_its_email_and_a_second_one_adds_nothing(smtp):  # noqa: F811
    with time_machine.travel(T0, tick=True):
        sequence = Sequence()
        (lead,) = sequence.leads(1)
        sequence.enrol([lead])
        nurture_send.nurture_send_due(budget_seconds=120)
    send = EmailSend.objects.get()
    token = unsubscribe.token_read(
        unsubscribe.token_make(
            publisher_id=sequence.publisher.pk, email=lead.email, send_id=send.pk
        )
    )

    assert unsubscribe.unsubscribe(token=token) is True
    assert unsubscribe.unsubscribe(token=token) is False

    record = ConsentRecord.objects.get(lead=lead)
    assert (record.basis, record.reason, record.email_send) == (
        "unsubscribe",
        "unsubscribed",
        send,
    )
    assert nurture_refusal_for_lead(lead=lead).block == NurtureBlock.WITHDRAWN


def _policy_lead(publisher, *, policy: bool, strict: str = "", country: str = "GB", **fields):
    listing = make_listing(
        publisher=publisher,
        nurture_on_offer_consent=policy,
        consent_strict_countries=strict,
    )
    lead = make_lead(publisher=publisher, country=country, **fields)
    activity = make_activity(lead=lead, listing=listing, action_code="PLT")
    decision = Decision(policy and country not in strict, "listing-policy", "policy-on")
    consent_services.consent_records_add(
        records=[
            consent_services.consent_record_build(
                lead=lead,
                activity=activity,
                listing=listing,
                decision=decision,
                flag=None,
                now=T0,
            )
        ]
    )
    return lead


@pytest.mark.parametrize(
    ("policy", "strict", "country", "block", "text"),
    [
        (False, "", "GB", NurtureBlock.POLICY_OFF, "No flag, and the listing's policy is off."),
        (
            True,
            "DE,FR",
            "DE",
            NurtureBlock.STRICTER_REGION,
            "No flag, and the lead's country is one of the listing's stricter regions.",
        ),
        (
            True,
            "DE",
            "",
            NurtureBlock.STRICTER_REGION,
            "No flag, the listing has stricter regions and the lead's country is unknown.",
        ),
    ],
)
def test_the_listing_policy_as_it_is_now_explains_a_refusal(
    publisher, policy, strict, country, block, text
):
    lead = _policy_lead(publisher, policy=policy, strict=strict, country=country)

    refusal = nurture_refusal_for_lead(lead=lead)

    assert (refusal.block, refusal.text) == (block, text)
    assert refusal.evidence == ConsentRecord.objects.get(lead=lead)
    assert escape(text) in _page(publisher, lead)


def test_a_lead_the_policy_allows_is_not_refused(publisher):
    lead = _policy_lead(publisher, policy=True)

    assert nurture_refusal_for_lead(lead=lead) is None
    assert "Nurture may email this lead" in _page(publisher, lead)


def test_a_stated_refusal_wins_over_the_policy(publisher):
    lead = _policy_lead(publisher, policy=True, marketing_consent=False, marketing_consent_at=T0)
    staff = consent_services.lead_consent_set_by_staff(lead=lead, is_granted=False, by=None)

    refusal = nurture_refusal_for_lead(lead=lead)

    assert (refusal.block, refusal.evidence, refusal.text) == (
        NurtureBlock.REFUSED,
        staff,
        "Staff recorded that the lead refused.",
    )


def test_a_lead_without_consent_or_activity_has_no_consent(publisher):
    lead = make_lead(publisher=publisher)

    refusal = nurture_refusal_for_lead(lead=lead)

    assert (refusal.block, refusal.evidence) == (NurtureBlock.NO_CONSENT, None)


def test_an_address_suppressed_before_the_lead_existed_is_suppressed(publisher):
    unsubscribe.suppression_add_email(
        publisher_id=publisher.pk, email="late@contoso.example", reason="unsubscribed"
    )
    lead = make_lead(publisher=publisher, email="late@contoso.example", marketing_consent=True)

    refusal = nurture_refusal_for_lead(lead=lead)

    assert refusal.block == NurtureBlock.SUPPRESSED
    assert refusal.text == "The address is on the publisher's suppression list (unsubscribed)."
    assert refusal.since == Suppression.objects.get().created_at


@pytest.mark.parametrize(
    ("fields", "block"),
    [
        ({"is_test": True}, NurtureBlock.TEST_LEAD),
        ({"status": "won"}, NurtureBlock.SALES),
    ],
)
def test_a_test_lead_and_a_lead_in_sales_are_refused_for_what_they_are(publisher, fields, block):
    lead = make_lead(publisher=publisher, marketing_consent=True, **fields)

    assert nurture_refusal_for_lead(lead=lead).block == block


def test_the_refusal_speaks_spanish(publisher):
    lead = _policy_lead(publisher, policy=False)
    client = Client()
    client.force_login(make_membership(publisher=publisher).user)

    page = client.get(reverse("lead-detail", args=[lead.uuid]), HTTP_ACCEPT_LANGUAGE="es")

    html = page.content.decode()
    assert "El seguimiento no envía ningún correo a este cliente potencial." in html
    assert "Política de consentimiento desactivada" in html
