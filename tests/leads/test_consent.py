"""Consent as Partner Center grants it: the listing's policy, the evidence, and nurture
(enrolment and the sender) through the real intake API and a loopback SMTP server."""

from datetime import date

import pytest
from django.test import Client

from leads.catalog import services as catalog_services
from leads.catalog.storefronts import Storefront
from leads.consent.policy import CUSTOMER_TEXTS
from leads.intake import csv_import
from leads.models import ConsentRecord, EmailSend, Enrollment, Lead, LeadActivity
from leads.nurture import send as nurture_send
from leads.nurture import services as nurture
from tests.factories import make_campaign
from tests.leads.conftest import lead_payload
from tests.leads.nurture_support import POSTAL_ADDRESS, smtp  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


class PolicyMarket:
    """The intake fixture's Azure listing with a consent policy, and the running one-step
    sequence of its active campaign."""

    def __init__(self, market, *, policy: bool, strict: str = ""):
        self.market, self.listing = market, market.azure
        market.publisher.postal_address = POSTAL_ADDRESS
        market.publisher.save(update_fields=["postal_address"])
        self.policy_set(policy=policy, strict=strict)
        self.campaign = make_campaign(
            publisher=market.publisher,
            storefront=Storefront.AZURE_MARKETPLACE,
            listings=[self.listing],
            status="active",
            starts_on=date(2026, 1, 1),
        )
        nurture.step_save(
            campaign=self.campaign,
            step=None,
            delay_minutes=0,
            subject="About {offer_title}",
            body="Hi {first_name},\n\nUnsubscribe: {unsubscribe_url}",
        )
        nurture.sequence_start(campaign=self.campaign)

    def policy_set(self, *, policy: bool, strict: str = "") -> None:
        self.listing = catalog_services.listing_update(
            listing=self.listing,
            listing_type=self.listing.listing_type,
            name=self.listing.name,
            offer_id=self.listing.offer_id,
            nurture_on_offer_consent=policy,
            consent_strict_countries=strict,
        )

    def post(self, email="ada@contoso.example", *, country="GB", **fields) -> Lead:
        # A Contact me lead, as Partner Center sends it: no MarketingConsent.
        fields.setdefault("ActionCode", "PLT")
        payload = lead_payload(email=email, offer_id=self.listing.offer_id, **fields)
        payload["UserDetails"]["Country"] = country
        response = self.market.post(payload)
        assert response.status_code in (200, 201), response.content
        return Lead.objects.get(email_normalized=email)


def send_due() -> int:
    return nurture_send.nurture_send_due(budget_seconds=60).sent


def evidence(lead: Lead) -> list[tuple]:
    """The lead's evidence, oldest first: (granted, basis, reason)."""
    rows = ConsentRecord.objects.filter(lead=lead).order_by("recorded_at", "id")
    return list(rows.values_list("is_granted", "basis", "reason"))


# --- The policy decides for a lead that states nothing ------------------------------------------


def test_a_lead_from_a_listing_with_the_policy_on_is_nurtured_and_the_evidence_says_why(
    market,
    smtp,  # noqa: F811
):
    # Given a listing whose policy is on
    shop = PolicyMarket(market, policy=True)

    # When Partner Center sends a Contact me lead without any consent flag
    lead = shop.post("ada@contoso.example")

    # Then the lead is enrolled by the listing's policy, and the email really goes out
    enrollment = Enrollment.objects.get(lead=lead)
    assert (enrollment.campaign, enrollment.consent_listing) == (shop.campaign, shop.listing)
    assert send_due() == 1
    assert [r.to for r in smtp.received] == ["ada@contoso.example"]
    assert str(smtp.received[0].message["Subject"]) == "About Contoso CRM"

    # And the evidence says why: the policy as it was, and the activity that applied it
    record = ConsentRecord.objects.get(lead=lead)
    activity = LeadActivity.objects.get(lead=lead)
    assert (record.is_granted, record.basis, record.reason) == (True, "listing-policy", "policy-on")
    assert (record.listing, record.activity, record.recorded_at) == (
        shop.listing,
        activity,
        lead.updated_at,  # the time of the intake transaction that applied it
    )
    assert "MarketingConsent" not in record.activity.raw_payload
    assert record.policy == {
        "listing_id": shop.listing.pk,
        "offer_id": "contoso.contoso-crm",
        "nurture_on_offer_consent": True,
        "strict_countries": [],
        "flag": None,
        "country": "GB",
        "action": "PLT",
        "customer_text": "contact-me",
    }


def test_a_lead_from_a_listing_with_the_policy_off_is_not_nurtured(market, smtp):  # noqa: F811
    # Given a listing whose policy is off (every existing listing's default)
    shop = PolicyMarket(market, policy=False)

    # When a lead without a consent flag arrives
    lead = shop.post()

    # Then it is not enrolled, nothing is sent, and the evidence says why
    assert not Enrollment.objects.exists()
    assert send_due() == 0
    assert smtp.received == []
    assert evidence(lead) == [(False, "listing-policy", "policy-off")]
    assert ConsentRecord.objects.get(lead=lead).policy["nurture_on_offer_consent"] is False


@pytest.mark.parametrize(
    ("strict", "country", "expected"),
    [
        ("EEA", "DE", (False, "listing-policy", "stricter-region")),
        ("FR,IS", "IS", (False, "listing-policy", "stricter-region")),
        ("EEA", "", (False, "listing-policy", "unknown-country")),
        ("EEA", "GB", (True, "listing-policy", "policy-on")),  # the UK is not in the EEA
        ("", "", (True, "listing-policy", "policy-on")),
    ],
)
def test_stricter_regions_need_explicit_consent(market, smtp, strict, country, expected):  # noqa: F811
    shop = PolicyMarket(market, policy=True, strict=strict)

    lead = shop.post(country=country)

    assert evidence(lead) == [expected]
    assert Enrollment.objects.filter(lead=lead).exists() is expected[0]
    assert send_due() == int(expected[0])
    assert len(smtp.received) == int(expected[0])


def test_a_stricter_region_lead_with_explicit_consent_is_nurtured(market, smtp):  # noqa: F811
    shop = PolicyMarket(market, policy=True, strict="EEA")

    lead = shop.post(country="DE", MarketingConsent=True)

    assert evidence(lead) == [(True, "explicit", "flag-true")]
    assert Enrollment.objects.get(lead=lead).consent_listing is None
    assert send_due() == 1


def test_an_explicit_refusal_overrides_the_policy_and_stands(market, smtp):  # noqa: F811
    # Given a listing whose policy is on
    shop = PolicyMarket(market, policy=True)

    # When the lead says MarketingConsent false, then comes back without a flag
    lead = shop.post(MarketingConsent=False)
    lead = shop.post(Description="back again")

    # Then it is never enrolled, and the evidence says the refusal stood
    assert not Enrollment.objects.exists()
    assert send_due() == 0
    assert smtp.received == []
    assert evidence(lead) == [
        (False, "explicit", "flag-false"),
        (False, "explicit", "refused-earlier"),
    ]


def test_explicit_consent_nurtures_whatever_the_policy(market, smtp):  # noqa: F811
    shop = PolicyMarket(market, policy=False)

    lead = shop.post(MarketingConsent=True)

    assert evidence(lead) == [(True, "explicit", "flag-true")]
    assert send_due() == 1


def test_a_do_not_contact_lead_is_not_consent(market):
    shop = PolicyMarket(market, policy=True)

    lead = shop.post(ActionCode="DNC")

    assert evidence(lead) == [(False, "listing-policy", "do-not-contact")]
    assert not Enrollment.objects.exists()


def test_a_get_it_now_lead_quotes_what_the_customer_agreed_to(market):
    shop = PolicyMarket(market, policy=True)

    lead = shop.post(ActionCode="INS")

    record = ConsentRecord.objects.get(lead=lead)
    assert record.policy["customer_text"] == "get-it-now"
    assert CUSTOMER_TEXTS["get-it-now"].startswith("I give Microsoft permission")
    assert not Enrollment.objects.exists()  # an install ends nurture, consent or not


def test_a_policy_grant_enrols_only_in_a_campaign_of_that_listing(market):
    # Given a running sequence of a campaign that does not contain the policy's listing
    shop = PolicyMarket(market, policy=True)
    other = make_campaign(
        publisher=market.publisher,
        storefront=Storefront.AZURE_MARKETPLACE,
        listings=[market.azure_other],
        code="other",
    )
    nurture.step_save(campaign=other, step=None, delay_minutes=0, subject="Hi", body="Hello")
    nurture.sequence_start(campaign=other)

    # When a lead of the policy's listing is attributed to it by its campaign code
    lead = shop.post(CampaignCode="other")

    # Then the consent covers this offer only: no enrolment in the other campaign
    assert evidence(lead) == [(True, "listing-policy", "policy-on")]
    assert not Enrollment.objects.filter(campaign=other).exists()


def test_a_validation_lead_has_no_evidence(market):
    PolicyMarket(market, policy=True)
    payload = lead_payload(email="MSFT_TEST_1@test.com", offer_id="contoso.contoso-crm")
    payload["UserDetails"]["FirstName"] = "MSFT_TEST_1"

    assert market.post(payload).status_code == 201

    assert not ConsentRecord.objects.exists()
    assert not Enrollment.objects.exists()


# --- The sender re-checks the policy as it is now -----------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        lambda shop: shop.policy_set(policy=False),
        lambda shop: shop.policy_set(policy=True, strict="GB"),
        lambda shop: shop.post(MarketingConsent=False),
    ],
    ids=["policy-turned-off", "country-now-stricter", "explicit-refusal"],
)
def test_the_sender_stops_a_policy_enrolment_the_policy_no_longer_allows(market, smtp, change):  # noqa: F811
    # Given a lead enrolled by the policy; its first step is due
    shop = PolicyMarket(market, policy=True)
    lead = shop.post()
    assert Enrollment.objects.get(lead=lead).consent_listing == shop.listing

    # When the policy or the lead changes before the sender runs
    change(shop)

    # Then nothing is sent and the enrolment stops for want of consent
    assert send_due() == 0
    assert smtp.received == []
    enrollment = Enrollment.objects.get(lead=lead)
    assert (enrollment.state, enrollment.stop_reason) == ("stopped", "no-consent")
    assert not EmailSend.objects.exists()


# --- Other bases: the import and the unsubscribe ------------------------------------------------


@pytest.mark.parametrize(
    ("consent_column", "expected"),
    [
        ("yes", (True, "import", "flag-true")),
        ("no", (False, "import", "flag-false")),
        ("", (True, "listing-policy", "policy-on")),
    ],
)
def test_an_imported_file_is_evidenced_as_import(market, consent_column, expected):
    PolicyMarket(market, policy=True)
    content = (
        "email,offer id,storefront,action,country,marketing consent\n"
        f"ivy@contoso.example,contoso.contoso-crm,azure-marketplace,PLT,GB,{consent_column}\n"
    ).encode()

    report = csv_import.leads_import(publisher=market.publisher, content=content)

    assert [row.status for row in report.rows] == ["created"]
    assert evidence(Lead.objects.get(email_normalized="ivy@contoso.example")) == [expected]


def test_an_unsubscribe_is_evidenced_as_a_withdrawal(market, smtp):  # noqa: F811
    shop = PolicyMarket(market, policy=True)
    lead = shop.post()
    send_due()
    url = smtp.received[0].message["List-Unsubscribe"].strip("<>")

    response = Client().post(
        url.removeprefix("https://portal.test"),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert evidence(lead) == [
        (True, "listing-policy", "policy-on"),
        (False, "unsubscribe", "unsubscribed"),
    ]


# --- Intake's fixed query count holds -----------------------------------------------------------


def test_a_bulk_batch_with_policy_grants_costs_a_fixed_number_of_queries(
    market, django_assert_max_num_queries
):
    shop = PolicyMarket(market, policy=True, strict="DE")
    items = []
    for n in range(1000):
        item = lead_payload(
            email=f"p{n}@contoso.example",
            offer_id="contoso.contoso-crm",
            LeadId=f"c-{n}",
            ActionCode="PLT",
        )
        item["UserDetails"]["Country"] = "DE" if n % 4 == 0 else "GB"
        items.append(item)

    # The same bound as intake's and enrolment's own tests: one more INSERT fits in it.
    with django_assert_max_num_queries(25):
        response = shop.market.post(items, path="/api/v1/leads/bulk")

    assert response.json()["created"] == 1000
    assert ConsentRecord.objects.count() == 1000
    assert ConsentRecord.objects.filter(reason="stricter-region").count() == 250
    assert Enrollment.objects.filter(consent_listing=shop.listing).count() == 750
