"""POST /api/v1/referrals: Co-Sell referrals, kept apart from marketplace leads."""

import pytest

from crm.models import Delivery
from leads.intake import api_keys
from leads.models import ApiKey, Lead, LeadActivity, LeadTransition
from tests.factories import make_target
from tests.leads.conftest import lead_payload

pytestmark = pytest.mark.sqlite


@pytest.fixture
def seller_key(db):
    return api_keys.api_key_create(kind=ApiKey.Kind.MICROSOFT_SELLER, name="field sellers")[1]


def referral(email="ada@contoso.example", referral_id="ref-1", offer="contoso.analytics"):
    payload = lead_payload(email=email, OfferId=offer)
    payload["ReferralId"] = referral_id
    return payload


def enroll(market):
    market.publisher.co_sell_enrolled = True
    market.publisher.save()


def test_a_referral_is_a_qualified_unscored_co_sell_lead(market, seller_key):
    enroll(market)
    target = make_target(publisher=market.publisher)
    make_target(publisher=None, name="Field sellers")

    response = market.post(referral(), key=seller_key, path="/api/v1/referrals")

    assert response.status_code == 201
    lead = Lead.objects.get()
    assert response.json() == {
        "id": str(lead.uuid),
        "status": "qualified",
        "score": 0,
        "consolidated": False,
    }
    assert (lead.origin, lead.score, lead.score_breakdown) == ("co-sell", 0, [])
    activity = lead.activities.get()
    assert (activity.lead_source, activity.listing) == ("Co-Sell", market.azure_other)
    # Only the publisher's own target: the referral came from the field-seller CRM.
    assert list(Delivery.objects.values_list("target", "event")) == [(target.pk, "lead.qualified")]
    assert (
        LeadTransition.objects.get().reason == "Co-Sell referral, qualified by a Microsoft seller."
    )


def test_a_referral_is_never_merged_with_a_marketplace_lead(market, seller_key):
    enroll(market)
    market.post(lead_payload(email="ada@contoso.example"))

    market.post(referral(email="ADA@contoso.example"), key=seller_key, path="/api/v1/referrals")

    assert sorted(Lead.objects.values_list("origin", flat=True)) == ["co-sell", "marketplace"]


def test_a_second_referral_of_one_person_consolidates_and_a_replay_answers_200(market, seller_key):
    enroll(market)
    first = market.post(referral(referral_id="r1"), key=seller_key, path="/api/v1/referrals")
    second = market.post(referral(referral_id="r2"), key=seller_key, path="/api/v1/referrals")
    replay = market.post(referral(referral_id="r1"), key=seller_key, path="/api/v1/referrals")

    assert [r.status_code for r in (first, second, replay)] == [201, 201, 200]
    assert second.json()["consolidated"] is True
    assert replay.content == first.content
    assert LeadActivity.objects.count() == 2


def test_a_publisher_not_co_sell_enrolled_gets_a_422(market, seller_key):
    response = market.post(referral(), key=seller_key, path="/api/v1/referrals")

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["body", "OfferId"],
            "msg": "Contoso is not Co-Sell enrolled, so it cannot receive referrals.",
            "type": "not_co_sell",
        }
    ]
    assert not Lead.objects.exists()


def test_a_referral_needs_its_id_and_offer(market, seller_key):
    enroll(market)
    payload = lead_payload()

    response = market.post(payload, key=seller_key, path="/api/v1/referrals")

    assert response.status_code == 422
    assert {tuple(e["loc"]) for e in response.json()["detail"]} == {
        ("body", "ReferralId"),
        ("body", "OfferId"),
    }


def test_a_storefront_key_cannot_post_referrals(market):
    enroll(market)

    response = market.post(referral(), path="/api/v1/referrals")

    assert response.status_code == 401
    assert not Lead.objects.exists()


def test_staff_enter_a_referral_in_admin(client, staff_user, market):
    enroll(market)
    make_target(publisher=market.publisher)
    client.force_login(staff_user)

    response = client.post(
        "/admin/leads/cosellreferral/add/",
        {
            "listing": market.azure_other.pk,
            "referral_id": "msx-42",
            "first_name": "Grace",
            "email": "grace@navy.example",
            "country": "United States",
            "company": "Navy",
            "_continue": "Save and continue editing",
        },
    )
    lead = Lead.objects.get()
    assert response.status_code == 302
    assert response.url == f"/admin/leads/cosellreferral/{lead.pk}/change/"
    assert (lead.origin, lead.status, lead.country, lead.status_changed_by) == (
        "co-sell",
        "qualified",
        "US",
        staff_user,
    )
    assert Delivery.objects.filter(lead=lead, event="lead.qualified").count() == 1
    assert client.get("/admin/leads/cosellreferral/").status_code == 200


def test_the_admin_referral_form_shows_field_errors(client, staff_user, market):
    enroll(market)
    client.force_login(staff_user)

    response = client.post(
        "/admin/leads/cosellreferral/add/",
        {
            "listing": market.azure_other.pk,
            "referral_id": "x",
            "email": "a@b.example",
            "country": "Mordor",
        },
    )

    assert response.status_code == 200
    assert "Unknown country" in response.content.decode()
    assert not Lead.objects.exists()


def test_only_co_sell_enrolled_publishers_listings_are_offered(client, staff_user, market):
    client.force_login(staff_user)

    response = client.post(
        "/admin/leads/cosellreferral/add/",
        {"listing": market.azure_other.pk, "referral_id": "x", "email": "a@b.example"},
    )

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Lead.objects.exists()
