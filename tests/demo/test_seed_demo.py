"""seed_demo: the demo data set, and a second run that changes nothing."""

import io
import json
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Count, F, Min
from django.utils import timezone

from crm.connectors import signing
from crm.models import CrmTarget, Delivery
from demo import catalogue
from leads.catalog.storefronts import CampaignKind, ListingType, Storefront
from leads.lifecycle.services import leads_storefronts_refresh
from leads.models import Campaign, Lead, LeadActivity, Listing
from leads.scoring.services import DEFAULT_SCORING_RULES
from portal.models import Membership, Publisher

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def debug_on(settings):
    """The fixed demo passwords are for development (DEBUG on), where seed_demo runs."""
    settings.DEBUG = True


POST_QUALIFIED = ["qualified", "accepted", "won", "lost"]


def _seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def _row_counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def test_seed_demo_creates_publishers_listings_campaigns_and_target():
    _seed("--leads", "300")

    publishers = Publisher.objects.all()
    assert publishers.count() == 3
    assert list(publishers.filter(co_sell_enrolled=True).values_list("slug", flat=True)) == [
        "contoso-software"
    ]
    assert all(p.lead_contact_email and p.postal_address for p in publishers)
    for publisher in publishers:
        assert publisher.scoring_rules.count() == len(DEFAULT_SCORING_RULES)
    pairs = set(Listing.objects.values_list("storefront", "listing_type"))
    assert pairs == {
        (Storefront.APPSOURCE, ListingType.APP),
        (Storefront.APPSOURCE, ListingType.CONSULTING_SERVICE),
        (Storefront.AZURE_MARKETPLACE, ListingType.OFFER),
        (Storefront.AZURE_MARKETPLACE, ListingType.TECHNOLOGY),
    }
    assert not Listing.objects.filter(lead_management_enabled=False).exists()
    contoso = Listing.objects.filter(publisher__slug="contoso-software")
    assert set(contoso.values_list("status", flat=True)) == {Listing.Status.PUBLISHED}
    assert set(Campaign.objects.values_list("kind", flat=True)) == {
        CampaignKind.NURTURE,
        CampaignKind.DEMAND_GENERATION,
    }
    assert not Campaign.objects.annotate(n=Count("listings")).filter(n=0).exists()
    target = CrmTarget.objects.get(publisher__isnull=False)
    assert (target.publisher.slug, target.kind, target.is_verified) == (
        "contoso-software",
        CrmTarget.Kind.HTTPS,
        True,
    )
    assert target.config == {
        "httpsEndpointUrl": "https://portal.test/demo/receiver/",
        "signingSecret": catalogue.demo_signing_secret(),
    }
    assert target.config["signingSecret"].startswith("whsec_")


def test_seed_demo_creates_both_logins_and_prints_them(django_user_model):
    output = _seed("--leads", "300")

    staff = django_user_model.objects.get(username="staff")
    assert (staff.is_staff, staff.is_superuser) == (True, True)
    assert staff.check_password("demo-staff-2026")
    owner = django_user_model.objects.get(username="owner")
    assert owner.check_password("demo-owner-2026")
    roles = set(Membership.objects.filter(user=owner).values_list("publisher__slug", "role"))
    assert roles == {("contoso-software", "owner"), ("fabrikam-consulting", "member")}
    assert "staff / demo-staff-2026" in output
    assert "owner / demo-owner-2026" in output


def test_seed_demo_leads_have_activities_within_90_days_and_consistent_scores():
    _seed("--leads", "300")
    now = timezone.now()

    leads = Lead.objects.all()
    assert leads.count() == 300
    assert not leads.filter(activities__isnull=True).exists()
    first = LeadActivity.objects.aggregate(first=Min("occurred_at"))["first"]
    assert first >= now - timedelta(days=90)
    assert leads.filter(created_at__lt=now - timedelta(days=30)).exists()  # spread, not "now"
    assert not leads.exclude(email_normalized=F("email")).exclude(is_test=True).exists()
    assert not leads.filter(
        origin="marketplace",
        status__in=POST_QUALIFIED,
        score__lt=F("publisher__qualification_threshold"),
    ).exists()
    assert set(leads.values_list("status", flat=True)) >= {"new", "qualified", "accepted"}
    assert leads.filter(is_test=True, email__startswith="MSFT_TEST_").exists()
    co_sell = leads.filter(origin="co-sell")
    assert co_sell.exists()
    assert set(co_sell.values_list("publisher__co_sell_enrolled", flat=True)) == {True}
    assert set(co_sell.values_list("score", flat=True)) == {0}
    # Each lead's storefront bits are those of its activities (Lead.storefronts).
    written = dict(leads.values_list("pk", "storefronts"))
    leads_storefronts_refresh(lead_ids=list(written))
    assert dict(leads.values_list("pk", "storefronts")) == written
    assert set(written.values()) >= {1, 2}


def test_seed_demo_delivers_qualified_leads_to_the_demo_target():
    _seed("--leads", "300")

    deliveries = Delivery.objects.all()
    assert deliveries.exists()
    assert set(deliveries.values_list("target__name", flat=True)) == {catalogue.DEMO_TARGET_NAME}
    assert not deliveries.filter(lead__qualified_at__isnull=True).exists()
    assert not deliveries.filter(status="delivered", delivered_at__isnull=True).exists()


def test_seed_demo_twice_changes_no_row_count():
    _seed("--leads", "300")
    before = _row_counts()

    output = _seed("--leads", "300")

    assert _row_counts() == before
    assert "Nothing created: the demo data is already there." in output
    assert "staff / demo-staff-2026" in output


def test_seed_demo_tops_leads_up_to_the_requested_count():
    _seed("--leads", "300")

    output = _seed("--leads", "350")

    assert Lead.objects.count() == 350
    assert Publisher.objects.count() == 3
    assert "Nothing created" not in output


def test_seed_demo_uses_demo_password_from_the_environment(monkeypatch, django_user_model):
    monkeypatch.setenv("DEMO_PASSWORD", "a-chosen-demo-password")

    output = _seed("--leads", "0", "--quiet")

    assert django_user_model.objects.get(username="owner").check_password("a-chosen-demo-password")
    assert "owner / a-chosen-demo-password" in output
    assert "Demo data" not in output  # --quiet prints the logins only
    assert Lead.objects.count() == 0


def test_seed_demo_without_debug_gives_random_passwords_shown_once(settings, django_user_model):
    settings.DEBUG = False

    first = _seed("--leads", "0")
    second = _seed("--leads", "0")

    staff = django_user_model.objects.get(username="staff")
    assert not staff.check_password("demo-staff-2026")
    assert "demo-staff-2026" not in first
    assert "staff / (set when it was first seeded; not shown again)" in second


def test_seed_demo_leaves_the_dashboards_rollup_complete():
    """A first run's dashboard shows history at once, not zeros."""
    from leads.models import LeadDailyStat

    _seed("--leads", "40", "--quiet")

    marketplace = Lead.objects.filter(origin="marketplace", is_test=False)
    rolled_up = sum(
        LeadDailyStat.objects.filter(is_test=False, origin="marketplace").values_list(
            "new_count", flat=True
        )
    )
    days = {timezone.localdate(at) for at in marketplace.values_list("created_at", flat=True)}
    stat_days = set(LeadDailyStat.objects.values_list("day", flat=True))
    assert rolled_up == marketplace.count() > 0
    assert days <= stat_days and len(stat_days) > 2


@pytest.mark.no_sqlite
def test_seed_demo_leaves_the_reports_cohort_rollup_complete():
    """Every cohort day is rolled up and none is left to recompute: the Reports page reads
    the rollup alone, with the live figures."""
    from leads.models import LeadCohortDirty, LeadCohortStat

    _seed("--leads", "40", "--quiet")

    marketplace = Lead.objects.filter(origin="marketplace", is_test=False)
    assert not LeadCohortDirty.objects.exists()
    assert sum(LeadCohortStat.objects.values_list("leads", flat=True)) == marketplace.count() > 0


def test_seed_demo_creates_the_field_seller_target_on_the_demo_receiver(client):
    """The demo has a field-seller target, so no CRM-target page in admin warns of none."""
    _seed("--leads", "20", "--quiet")

    target = CrmTarget.objects.get(publisher__isnull=True)
    assert (target.name, target.kind, target.scope, target.is_active, target.is_verified) == (
        catalogue.DEMO_FIELD_SELLER_TARGET_NAME,
        CrmTarget.Kind.HTTPS,
        CrmTarget.Scope.ALL_LISTINGS,
        True,
        True,
    )
    assert target.config == {
        "httpsEndpointUrl": "https://portal.test/demo/receiver/",
        "signingSecret": catalogue.demo_signing_secret("field-seller-secret"),
    }
    assert target.config["signingSecret"] != catalogue.demo_signing_secret()
    # Its deliveries are signed with its own secret, which the demo receiver checks.
    delivery = Delivery.objects.create(
        target=target,
        lead=Lead.objects.filter(origin="marketplace").first(),
        event=Delivery.Event.QUALIFIED,
    )
    body = json.dumps({"Event": "lead.qualified"}).encode()
    headers = signing.signing_headers(
        [target.config["signingSecret"]], str(delivery.idempotency_key), body
    )
    response = client.post(
        "/demo/receiver/",
        body,
        content_type="application/json",
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()},
    )
    assert response.status_code == 200


def test_admin_crm_target_pages_do_not_warn_after_seed_demo(client):
    _seed("--leads", "20", "--quiet")
    client.force_login(get_user_model().objects.get(username="staff"))

    response = client.get("/admin/crm/crmtarget/")

    assert response.status_code == 200
    assert "No active Microsoft field-seller target" not in response.content.decode()


def test_a_second_seed_demo_finds_the_field_seller_target():
    _seed("--leads", "20", "--quiet")

    _seed("--leads", "20", "--quiet")

    assert CrmTarget.objects.filter(publisher__isnull=True).count() == 1
