"""The portal's lead detail and the Co-Sell referrals tab."""

import pytest
from django.urls import reverse

from leads.models import LeadTransition
from tests.factories import (
    make_activity,
    make_campaign,
    make_delivery,
    make_lead,
    make_listing,
    make_target,
)
from tests.leads.portal_leads_support import LEADS, REFERRALS, shown

# --- The detail ------------------------------------------------------------------------------


def test_detail_shows_contact_score_breakdown_activities_and_deliveries(publisher, owner_client):
    # Given a scored lead with an activity in a campaign, and two deliveries
    listing = make_listing(publisher=publisher, name="Contoso CRM")
    campaign = make_campaign(publisher=publisher, name="Spring push", listings=[listing])
    lead = make_lead(
        publisher=publisher,
        email="ada@contoso.example",
        phone="+44 20 7946 0000",
        score=45,
        score_breakdown=[
            {"rule_id": 1, "rule": "Installs", "points": 30},
            {"rule_id": 2, "rule": "Business email", "points": 15},
        ],
    )
    make_activity(lead=lead, listing=listing, campaign=campaign, action_code="PLT", is_test=True)
    target = make_target(publisher=publisher, name="Our Salesforce")
    failed = make_delivery(
        lead=lead,
        target=target,
        status="failed",
        attempts=7,
        last_status_code=503,
        last_error="Service unavailable",
    )
    make_delivery(lead=lead, target=make_target(publisher=publisher, name="Pending hook"))

    # When the owner opens the detail
    response = owner_client.get(reverse("lead-detail", args=[lead.uuid]))

    # Then every part of it shows
    html = response.content.decode()
    assert response.status_code == 200
    assert "+44 20 7946 0000" in html
    assert '<th scope="row">Installs</th><td class="numeric">+30</td>' in html
    assert '<th scope="row">Business email</th><td class="numeric">+15</td>' in html
    assert "Contact me (partner-led trial)" in html
    assert "Spring push" in html
    assert "Service unavailable" in html
    assert f'action="/crm/deliveries/{failed.pk}/redeliver/"' in html
    assert html.count("/redeliver/") == 1  # the pending delivery has no button
    assert [c for c, _ in response.context["form"].fields["to_status"].choices] == [
        "qualified",
        "disqualified",
    ]


def test_detail_moves_the_lead_with_a_reason(publisher, owner, owner_client):
    # Given a new lead
    lead = make_lead(publisher=publisher)
    url = reverse("lead-detail", args=[lead.uuid])

    # When the owner qualifies it with a reason
    response = owner_client.post(url, {"to_status": "qualified", "reason": "Called back"})

    # Then it is qualified, the move recorded with the author, and the history shows it
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.status, lead.status_reason, lead.status_changed_by) == (
        "qualified",
        "Called back",
        owner,
    )
    page = owner_client.get(url).content.decode()
    assert "Called back" in page
    assert [c for c, _ in owner_client.get(url).context["form"].fields["to_status"].choices] == [
        "accepted",
        "disqualified",
    ]


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"to_status": "qualified", "reason": ""}, {"reason": ["This field is required."]}),
        (
            {"to_status": "won", "reason": "why not"},
            {"to_status": ["Select a valid choice. won is not one of the available choices."]},
        ),
    ],
)
def test_detail_refuses_a_move_without_reason_or_not_allowed(publisher, owner_client, data, errors):
    # Given a new lead
    lead = make_lead(publisher=publisher)

    # When a move is posted without reason, or to a status the lifecycle forbids
    response = owner_client.post(reverse("lead-detail", args=[lead.uuid]), data)

    # Then the page shows the error next to the field and nothing moves
    assert response.status_code == 200
    assert response.context["form"].errors == errors
    lead.refresh_from_db()
    assert lead.status == "new"
    assert LeadTransition.objects.count() == 0


def test_detail_of_a_co_sell_referral_says_so_and_shows_no_score(publisher, owner_client):
    # Given a Co-Sell referral
    referral = make_lead(publisher=publisher, origin="co-sell", score=0, status="qualified")

    # When its detail opens
    html = owner_client.get(reverse("lead-detail", args=[referral.uuid])).content.decode()

    # Then it is marked as a referral and has no score
    assert "This is a Co-Sell referral" in html
    assert 'class="score-value"' not in html


def test_detail_hides_the_field_seller_error_and_offers_no_redeliver(publisher, owner_client):
    # Given a failed delivery to the staff-run field-seller CRM
    lead = make_lead(publisher=publisher)
    seller = make_target(publisher=None, name="MS internal endpoint")
    make_delivery(lead=lead, target=seller, status="failed", last_error="10.0.0.7 refused")

    # When the detail opens
    html = owner_client.get(reverse("lead-detail", args=[lead.uuid])).content.decode()

    # Then it names the field seller, not its endpoint, and has no button for it
    assert "Microsoft field seller" in html
    assert "MS internal endpoint" not in html
    assert "10.0.0.7" not in html
    assert "/redeliver/" not in html


def test_lead_fields_are_escaped(publisher, owner_client):
    # Given a lead whose every field carries markup
    payload = '<script>alert("x")</script>'
    lead = make_lead(publisher=publisher, first_name=payload, company=payload, title=payload)

    # When it shows in the list and its detail
    pages = [owner_client.get(LEADS), owner_client.get(reverse("lead-detail", args=[lead.uuid]))]

    # Then the markup is text
    for response in pages:
        html = response.content.decode()
        assert payload not in html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


# --- Co-Sell referrals -----------------------------------------------------------------------


def test_referrals_tab_lists_only_co_sell_leads_with_the_program_link(
    publisher, owner_client, settings
):
    # Given an enrolled publisher with a referral and a marketplace lead
    publisher.co_sell_enrolled = True
    publisher.save()
    make_lead(publisher=publisher, email="ref@x.example", origin="co-sell", status="qualified")
    make_lead(publisher=publisher, email="mkt@x.example")

    # When the owner opens the tab
    response = owner_client.get(REFERRALS)

    # Then only the referral shows, without a score column, with the program link
    assert shown(response) == ["ref@x.example"]
    html = response.content.decode()
    assert f'href="{settings.CO_SELL_PROGRAM_URL}"' in html
    assert "Promote your business with Microsoft" in html
    assert 'class="numeric"' not in html
    assert "origin=co-sell" in html


def test_referrals_tab_explains_co_sell_to_a_publisher_not_enrolled(publisher, owner_client):
    # Given a publisher that is not enrolled, with a referral on file
    make_lead(publisher=publisher, email="ref@x.example", origin="co-sell")

    # When the owner opens the tab
    response = owner_client.get(REFERRALS)

    # Then an explanation shows instead of a table
    html = response.content.decode()
    assert response.status_code == 200
    assert "Your publisher is not enrolled in Co-Sell" in html
    assert "ref@x.example" not in html
    assert "<table" not in html


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_date_on_the_lead_page_has_one_locale_aware_format(publisher, owner_client, language):
    """The lead page never mixes long and short date formats."""
    import re
    from datetime import datetime

    from django.utils import timezone, translation
    from django.utils.formats import date_format

    lead = make_lead(publisher=publisher, marketing_consent=True)
    lead.marketing_consent_at = lead.last_activity_at = timezone.now()
    lead.save()
    make_activity(lead=lead)
    make_delivery(
        lead=lead,
        target=make_target(publisher=publisher),
        status="delivered",
        delivered_at=timezone.now(),
    )
    LeadTransition.objects.create(lead=lead, from_status="new", to_status="qualified", reason="x")

    page = owner_client.get(
        reverse("lead-detail", args=[lead.uuid]), HTTP_ACCEPT_LANGUAGE=language
    ).text

    times = re.findall(r'<time datetime="([^"]+)">([^<]+)</time>', page)
    assert len(times) >= 4
    with translation.override(language):
        for iso, shown_text in times:
            when = timezone.localtime(datetime.fromisoformat(iso))
            assert shown_text == date_format(when, "SHORT_DATETIME_FORMAT"), iso
