"""The consent policy on the listing forms (portal and admin) and the evidence on the lead
pages (portal and admin)."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from leads.catalog import services as catalog_services
from leads.catalog.regions import EEA
from leads.consent import services as consent_services
from leads.consent.policy import Decision
from leads.models import ConsentRecord, Lead, Listing
from portal.models import Membership
from tests.factories import make_activity, make_lead, make_listing, make_membership

pytestmark = pytest.mark.django_db

CREATE = {"storefront": "azure-marketplace", "listing_type": "offer", "name": "VM"}


def _detail(listing):
    return reverse("listing-detail", args=[listing.pk])


# --- The listing form ---------------------------------------------------------------------------


def test_a_new_listing_has_the_policy_off_and_the_form_quotes_what_the_customer_agreed_to(
    owner_client,
):
    response = owner_client.get(reverse("listing-create"))

    html = response.content.decode()
    field = response.context["form"]["nurture_on_offer_consent"]
    assert field.value() is False
    assert "<legend>Consent policy for marketplace leads</legend>" in html
    assert "“I give Microsoft permission to use or share my account information" in html
    assert "type EEA for the 30 countries of the European Economic Area" in html


def test_the_owner_creates_a_listing_with_the_policy_on_and_the_eea_shorthand(
    owner_client, publisher
):
    response = owner_client.post(
        reverse("listing-create"),
        {
            **CREATE,
            "offer_id": "contoso.vm",
            "nurture_on_offer_consent": "on",
            "consent_strict_countries": "eea; ch gb,CH",
        },
    )

    listing = Listing.objects.get()
    assert response["Location"] == _detail(listing)
    assert listing.nurture_on_offer_consent is True
    assert listing.strict_countries == EEA | {"CH", "GB"}
    assert listing.consent_strict_countries == ",".join(sorted(EEA | {"CH", "GB"}))
    # Shown back as the publisher would type it
    page = owner_client.get(_detail(listing)).content.decode()
    assert 'value="EEA, CH, GB"' in page
    assert 'href="#consent-policy"' in page


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        (
            "DE, XX, Germany",
            "XX, Germany are not ISO 3166-1 alpha-2 country codes. Use two-letter codes such "
            "as DE or FR, or the shorthand EEA or EU.",
        ),
        (
            "DEU",
            "DEU is not an ISO 3166-1 alpha-2 country code. Use two-letter codes such as DE "
            "or FR, or the shorthand EEA or EU.",
        ),
    ],
)
def test_unknown_countries_are_refused_next_to_the_field(owner_client, typed, message):
    response = owner_client.post(
        reverse("listing-create"),
        {**CREATE, "offer_id": "contoso.vm", "consent_strict_countries": typed},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert not Listing.objects.exists()
    assert (
        f'<ul class="errorlist" id="id_consent_strict_countries_error"><li>{message}</li></ul>'
        in html
    )
    assert f'value="{typed}"' in html  # what was typed stays, to be corrected


def test_editing_the_policy_keeps_it_on_an_error_and_saves_it_otherwise(owner_client, publisher):
    listing = make_listing(publisher=publisher)
    form = {"action": "save", "listing_type": "app", "name": "X", "offer_id": listing.offer_id}

    refused = owner_client.post(
        _detail(listing),
        {**form, "nurture_on_offer_consent": "on", "consent_strict_countries": "ZZ"},
    )
    listing.refresh_from_db()
    assert 'id="id_consent_strict_countries_error"' in refused.content.decode()
    assert (listing.nurture_on_offer_consent, listing.consent_strict_countries) == (False, "")

    owner_client.post(
        _detail(listing),
        {**form, "nurture_on_offer_consent": "on", "consent_strict_countries": "fr"},
    )
    listing.refresh_from_db()
    assert (listing.nurture_on_offer_consent, listing.consent_strict_countries) == (True, "FR")


def test_a_member_sees_the_policy_but_cannot_change_it(client_of, publisher):
    listing = make_listing(
        publisher=publisher,
        nurture_on_offer_consent=True,
        consent_strict_countries=",".join(sorted(EEA | {"CH"})),
    )
    member = make_membership(publisher=publisher, role=Membership.Role.MEMBER).user

    page = client_of(member).get(_detail(listing)).content.decode()
    assert (
        "<p>Policy on: nurture emails without an explicit flag, except for leads from EEA, CH "
        "or with no country.</p>"
    ) in page
    assert 'href="#consent-policy"' not in page  # no edit form for members

    listing.nurture_on_offer_consent = False
    listing.save(update_fields=["nurture_on_offer_consent"])
    response = client_of(member).post(
        _detail(listing),
        {
            "action": "save",
            "listing_type": "app",
            "name": listing.name,
            "offer_id": listing.offer_id,
            "nurture_on_offer_consent": "on",
        },
    )

    assert response.status_code == 403
    listing.refresh_from_db()
    assert listing.nurture_on_offer_consent is False


def test_the_service_normalizes_and_refuses_like_the_form(publisher):
    listing = catalog_services.listing_create(
        publisher=publisher,
        storefront="appsource",
        listing_type="app",
        name="X",
        offer_id="contoso.x",
        consent_strict_countries="se eu",
    )
    assert listing.strict_countries == EEA - {"IS", "LI", "NO"}

    with pytest.raises(ValidationError) as refused:
        catalog_services.listing_update(
            listing=listing,
            listing_type="app",
            name="X",
            offer_id="contoso.x",
            consent_strict_countries="Europe",
        )
    assert list(refused.value.message_dict) == ["consent_strict_countries"]


def test_admin_listing_takes_the_shorthand_and_refuses_an_unknown_code(staff_client, publisher):
    listing = make_listing(publisher=publisher)
    url = reverse("admin:leads_listing_change", args=[listing.pk])
    form = {
        "publisher": publisher.pk,
        "listing_type": "app",
        "name": listing.name,
        "offer_id": listing.offer_id,
        "nurture_on_offer_consent": "on",
    }

    refused = staff_client.post(url, {**form, "consent_strict_countries": "EEA, QQ"})
    assert "QQ is not an ISO 3166-1 alpha-2 country code." in refused.content.decode()

    saved = staff_client.post(url, {**form, "consent_strict_countries": "eu"})
    assert saved.status_code == 302
    listing.refresh_from_db()
    assert listing.strict_countries == EEA - {"IS", "LI", "NO"}
    assert staff_client.get(reverse("admin:leads_listing_changelist")).status_code == 200


# --- The evidence on the lead pages -------------------------------------------------------------


def _policy_lead(publisher, *, records: int = 1) -> Lead:
    """A lead whose `records` activities were each granted by the listing's policy."""
    listing = make_listing(publisher=publisher, name="Contoso CRM", nurture_on_offer_consent=True)
    lead = make_lead(publisher=publisher, country="GB")
    decision = Decision(True, "listing-policy", "policy-on")
    consent_services.consent_records_add(
        records=[
            consent_services.consent_record_build(
                lead=lead,
                activity=make_activity(lead=lead, listing=listing, action_code="INS"),
                listing=listing,
                decision=decision,
                flag=None,
                now=timezone.now(),
            )
            for _ in range(records)
        ]
    )
    return lead


def test_the_lead_page_shows_the_consent_evidence(owner_client, publisher):
    lead = _policy_lead(publisher)

    response = owner_client.get(reverse("lead-detail", args=[lead.uuid]))

    html = response.content.decode()
    assert '<h2 id="consent-title">Consent</h2>' in html
    assert "The lead never stated its consent" in html
    assert '<span class="badge badge-on">Granted</span>' in html
    assert "The listing&#x27;s consent policy" in html
    assert "Policy on: nurture emails without an explicit flag, from every country." in html
    assert '<q lang="en">I give Microsoft permission to use or share my account' in html
    assert "<dd>Not stated" in html


def test_the_lead_page_shows_the_ten_newest_records_and_counts_the_rest(
    owner_client, publisher, django_assert_max_num_queries
):
    lead = _policy_lead(publisher, records=12)
    url = reverse("lead-detail", args=[lead.uuid])

    # The same bound as any lead's page (test_portal_leads): one query for rows and count.
    with django_assert_max_num_queries(13):
        response = owner_client.get(url)

    assert len(response.context["consent"].records) == 10
    assert "2 earlier records are kept; staff see every record in the admin." in (
        response.content.decode()
    )


def test_another_publishers_member_gets_404_on_a_lead_with_evidence(
    publisher, other_publisher, client_of
):
    lead = _policy_lead(publisher)
    stranger = make_membership(publisher=other_publisher, role=Membership.Role.MEMBER).user

    response = client_of(stranger).get(reverse("lead-detail", args=[lead.uuid]))

    assert response.status_code == 404
    assert b"Consent" not in response.content


def test_a_co_sell_referral_has_no_consent_section(owner_client, publisher):
    publisher.co_sell_enrolled = True
    publisher.save(update_fields=["co_sell_enrolled"])
    lead = make_lead(publisher=publisher, origin="co-sell")

    html = owner_client.get(reverse("lead-detail", args=[lead.uuid])).content.decode()

    assert 'id="consent-title"' not in html


def test_admin_lead_page_shows_the_evidence_read_only(staff_client, publisher):
    lead = _policy_lead(publisher)

    response = staff_client.get(reverse("admin:leads_lead_change", args=[lead.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Latest consent evidence" in html
    assert "No flag; the listing&#x27;s policy lets a customer who agreed" in html
    assert "&quot;customer_text&quot;: &quot;get-it-now&quot;" in html
    assert 'name="consent_records-0-basis"' not in html  # nothing editable


def test_staff_stating_consent_in_admin_is_evidenced(staff_client, staff_user, publisher):
    lead = make_lead(publisher=publisher, email="ada@contoso.example")
    management = {
        f"{prefix}-{name}": "0"
        for prefix in ("transitions", "notes", "activities", "deliveries", "consent_records")
        for name in ("TOTAL_FORMS", "INITIAL_FORMS")
    }

    response = staff_client.post(
        reverse("admin:leads_lead_change", args=[lead.pk]),
        {
            "email": lead.email,
            "first_name": "Ada",
            "last_name": "Lovelace",
            "marketing_consent": "on",
            **management,
        },
    )

    assert response.status_code == 302
    lead.refresh_from_db()
    record = ConsentRecord.objects.get(lead=lead)
    assert (lead.marketing_consent, lead.marketing_consent_at) == (True, record.recorded_at)
    assert (record.is_granted, record.basis, record.reason, record.recorded_by) == (
        True,
        "staff",
        "staff-granted",
        staff_user,
    )


def test_the_consent_section_and_the_form_speak_spanish(owner_client, publisher):
    lead = _policy_lead(publisher)

    page = owner_client.get(reverse("lead-detail", args=[lead.uuid]), HTTP_ACCEPT_LANGUAGE="es")
    form = owner_client.get(reverse("listing-create"), HTTP_ACCEPT_LANGUAGE="es")

    html = page.content.decode()
    assert '<h2 id="consent-title">Consentimiento</h2>' in html
    assert "Política activada: correos de seguimiento sin indicador explícito" in html
    assert "Política de consentimiento para los clientes potenciales del marketplace" in (
        form.content.decode()
    )
