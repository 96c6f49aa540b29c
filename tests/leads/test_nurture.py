"""Enrolment, stopping and placeholder templates (leads.nurture, leads.nurture.render)."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from leads.catalog.storefronts import Storefront
from leads.lifecycle import services as lifecycle_services
from leads.models import Enrollment, Lead, NurtureStep, Suppression
from leads.nurture import services as nurture
from leads.nurture.render import render_html_body, render_subject, template_errors
from leads.nurture.unsubscribe import email_hash
from tests.factories import make_campaign, make_lead, make_listing, make_user
from tests.leads.conftest import lead_payload

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


# --- Templates (S11) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{{ settings.SECRET_KEY }}",
        "Hello {% load static %}",
        '{% include "base.html" %}',
        "{% debug %}",
        "{# a comment #}",
        "{first_name.__class__}",
        "{first_name.__init__.__globals__}",
        "{x[0]}",
        "{first_name[0]}",
        "{first_name!r}",
        "{first_name:>100}",
        "{}",
        "{0}",
        "{secret_key}",
        "{lead}",
        "Unbalanced {first_name",
        "Unbalanced }",
    ],
)
def test_anything_but_an_allowed_placeholder_is_refused(template):
    assert template_errors(template)


def test_allowed_placeholders_pass():
    text = "Hi {first_name} {last_name} of {company} ({title}): {offer_title} by {publisher_name}"
    assert template_errors(text + " {unsubscribe_url}") == []


def test_step_save_refuses_template_injection_and_saves_nothing():
    campaign = make_campaign()
    with pytest.raises(ValidationError) as refused:
        nurture.step_save(
            campaign=campaign,
            step=None,
            delay_minutes=0,
            subject="{{ settings.SECRET_KEY }}",
            body="{first_name.__class__.__mro__}",
        )
    assert set(refused.value.message_dict) == {"subject", "body"}
    assert not NurtureStep.objects.exists()


def test_rendering_escapes_values_in_html_and_keeps_subjects_on_one_line():
    values = {"first_name": "<b>Eve</b>\r\nBcc: x@evil.example", "unsubscribe_url": "https://u/"}
    assert render_subject("Hi {first_name}", values) == "Hi <b>Eve</b> Bcc: x@evil.example"
    html = render_html_body("Hi {first_name} & co\n\n<i>{unsubscribe_url}</i>", values)
    # Markdown paragraphs; the value's markup and the body's raw HTML are text
    assert html == (
        "<p>Hi &lt;b&gt;Eve&lt;/b&gt;\nBcc: x@evil.example &amp; co</p>\n"
        '<p>&lt;i&gt;<a href="https://u/" rel="noopener noreferrer">https://u/</a>&lt;/i&gt;</p>\n'
    )


# --- Enrolment from intake ------------------------------------------------------------------------


class Market:
    """The intake fixture's marketplace, plus a campaign with a running sequence."""

    def __init__(self, market):
        self.market = market
        market.publisher.postal_address = "1 Main St"
        market.publisher.save(update_fields=["postal_address"])
        self.campaign = make_campaign(
            publisher=market.publisher,
            storefront=Storefront.AZURE_MARKETPLACE,
            listings=[market.azure],
            code="spring",
        )
        nurture.step_save(
            campaign=self.campaign, step=None, delay_minutes=2 * 60, subject="Hi", body="Hello"
        )
        nurture.sequence_start(campaign=self.campaign)

    def post(self, email, **fields):
        fields.setdefault("ActionCode", "PLT")
        fields.setdefault("MarketingConsent", True)
        fields.setdefault("CampaignCode", "spring")
        response = self.market.post(lead_payload(email=email, **fields))
        assert response.status_code in (200, 201), response.content
        return Lead.objects.get(email_normalized=email)


@pytest.fixture
def nurtured(market):
    return Market(market)


def test_a_consenting_attributed_lead_is_enrolled_once(nurtured):
    lead = nurtured.post("ada@contoso.example")
    nurtured.post("ada@contoso.example", Description="again")

    enrollment = Enrollment.objects.get()
    assert (enrollment.lead, enrollment.campaign) == (lead, nurtured.campaign)
    assert enrollment.state == "active"
    assert enrollment.next_send_at == enrollment.enrolled_at + __import__("datetime").timedelta(
        hours=2
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"MarketingConsent": False},
        {"CampaignCode": "unknown"},  # attributed to no campaign with a sequence
        {"ActionCode": "INS"},  # acquired the offer already
        {"ActionCode": "Create"},
    ],
)
def test_these_leads_are_not_enrolled(nurtured, fields):
    nurtured.post("bob@contoso.example", **fields)
    assert not Enrollment.objects.exists()


def test_a_test_lead_is_not_enrolled(nurtured):
    payload = lead_payload(
        email="MSFT_TEST_1@test.com", CampaignCode="spring", MarketingConsent=True, ActionCode="PLT"
    )
    payload["UserDetails"]["FirstName"] = "MSFT_TEST_1"
    assert nurtured.market.post(payload).status_code == 201
    assert not Enrollment.objects.exists()


def test_a_suppressed_address_is_not_enrolled(nurtured):
    Suppression.objects.create(
        publisher=nurtured.market.publisher,
        email_hash=email_hash("Eve@Contoso.example"),
        reason="unsubscribed",
    )
    nurtured.post("eve@contoso.example")
    assert not Enrollment.objects.exists()


def test_a_draft_or_paused_sequence_enrols_nobody(nurtured):
    nurture.sequence_pause(campaign=nurtured.campaign)
    nurtured.post("ada@contoso.example")
    assert not Enrollment.objects.exists()


def test_a_co_sell_referral_is_never_enrolled(nurtured):
    lead = make_lead(publisher=nurtured.market.publisher, origin="co-sell", marketing_consent=True)
    assert nurture.enrollments_create(pairs=[(lead.pk, nurtured.campaign.pk)]) == 0


def test_an_install_stops_the_sequence(nurtured):
    lead = nurtured.post("ada@contoso.example")
    nurtured.post("ada@contoso.example", ActionCode="INS", LeadId="second")

    enrollment = Enrollment.objects.get(lead=lead)
    assert (enrollment.state, enrollment.stop_reason) == ("stopped", "acquired")
    assert enrollment.next_send_at is None


@pytest.mark.parametrize("target", ["accepted", "disqualified"])
def test_an_opportunity_or_a_disqualification_stops_the_sequence(nurtured, target):
    lead = nurtured.post("ada@contoso.example")
    by = make_user()
    if lead.status == "new" and target == "accepted":
        lifecycle_services.lead_transition(lead=lead, to_status="qualified", by=by, reason="call")
    assert Enrollment.objects.get().state == "active"  # qualifying does not stop

    lifecycle_services.lead_transition(lead=lead, to_status=target, by=by, reason="call")

    enrollment = Enrollment.objects.get()
    assert (enrollment.state, enrollment.stop_reason) == ("stopped", "status")


def test_enrolling_a_bulk_batch_costs_a_fixed_number_of_queries(
    nurtured, django_assert_max_num_queries
):
    items = [
        lead_payload(
            email=f"p{n}@contoso.example",
            LeadId=f"n-{n}",
            ActionCode="PLT",
            CampaignCode="spring",
            MarketingConsent=True,
        )
        for n in range(1000)
    ]
    with django_assert_max_num_queries(25):
        response = nurtured.market.post(items, path="/api/v1/leads/bulk")
    assert response.json()["created"] == 1000
    assert Enrollment.objects.count() == 1000


def test_a_sequence_cannot_start_without_a_postal_address_or_steps():
    campaign = make_campaign(
        listings=[], storefront=Storefront.APPSOURCE
    )  # its publisher has no address
    with pytest.raises(ValidationError) as refused:
        nurture.sequence_start(campaign=campaign)
    assert refused.value.code == "postal_address_required"

    campaign.publisher.postal_address = "1 Main St"
    campaign.publisher.save()
    with pytest.raises(ValidationError) as refused:
        nurture.sequence_start(campaign=campaign)
    assert refused.value.code == "no_steps"


def test_a_sent_step_cannot_be_deleted():
    from leads.models import EmailSend

    campaign = make_campaign(listings=[make_listing()])
    step = nurture.step_save(campaign=campaign, step=None, delay_minutes=0, subject="S", body="B")
    lead = make_lead(publisher=campaign.publisher)
    enrollment = Enrollment.objects.create(
        lead=lead, campaign=campaign, enrolled_at=lead.created_at
    )
    EmailSend.objects.create(enrollment=enrollment, step=step, status="sent")
    with pytest.raises(ValidationError):
        nurture.step_delete(step=step)
    assert NurtureStep.objects.filter(pk=step.pk).exists()


def test_the_https_system_check(settings):
    settings.DEBUG = False
    settings.PORTAL_BASE_URL = "http://portal.example"
    from leads.checks import unsubscribe_links_use_https

    assert [w.id for w in unsubscribe_links_use_https(None)] == ["leads.W001"]
    settings.PORTAL_BASE_URL = "https://portal.example"
    assert unsubscribe_links_use_https(None) == []
    call_command("check")  # registered
