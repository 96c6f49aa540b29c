"""Admin smoke tests over every registered model admin, access control, and the paginator."""

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm.models import CrmTarget, Delivery, ReferralConnection
from inbound import sources as inbound_sources
from inbound.models import InboundItem, InboundSource
from leads.catalog.storefronts import Storefront
from leads.intake import api_keys
from leads.models import (
    ApiKey,
    Campaign,
    CoSellReferral,
    EmailSend,
    Enrollment,
    Lead,
    LeadActivity,
    Listing,
    NotificationEmail,
    NurtureSequence,
    NurtureStep,
    PublisherApiToken,
    Referral,
    RescoreRun,
    ScoringRule,
    SendingIdentity,
    Suppression,
)
from leads.sending import services as sending_services
from portal.models import Membership, Publisher
from portal.paginators import CheapCountPaginator, CountKind
from portal.sso.models import SsoIdentity
from privacy.models import AccessLogEntry, ErasureRecord
from tests import factories
from tests.crm.referrals_support import connect
from tests.privacy.retention_support import retention_admin_rows

pytestmark = pytest.mark.django_db


def _admin_url(model, view, *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def _one_row_of_every_model(publisher, staff_user) -> dict:
    listing = factories.make_listing(publisher=publisher, storefront=Storefront.APPSOURCE)
    lead = factories.make_lead(publisher=publisher)
    target = factories.make_target(publisher=publisher)
    return {
        User: staff_user,
        Group: Group.objects.create(name="Support"),
        Publisher: publisher,
        Membership: factories.make_membership(publisher=publisher),
        Listing: listing,
        Campaign: factories.make_campaign(publisher=publisher, listings=[listing]),
        Lead: lead,
        LeadActivity: factories.make_activity(lead=lead, listing=listing),
        ScoringRule: factories.make_rule(publisher=publisher),
        CrmTarget: target,
        Delivery: factories.make_delivery(lead=lead, target=target),
        ApiKey: api_keys.api_key_create(
            kind="storefront", name="AppSource", storefront="appsource"
        )[0],
        PublisherApiToken: api_keys.publisher_token_create(publisher=publisher, name="CI")[0],
        RescoreRun: RescoreRun.objects.create(publisher=publisher),
        CoSellReferral: CoSellReferral.objects.get(
            pk=factories.make_lead(publisher=publisher, origin="co-sell").pk
        ),
        **_referral_rows(publisher, lead, listing),
        **_nurture_rows(publisher, lead, listing),
        SendingIdentity: sending_services.identity_save(
            publisher=publisher, from_email="news@contoso.example"
        ),
        NotificationEmail: NotificationEmail.objects.create(
            membership=factories.make_membership(publisher=publisher),
            publisher=publisher,
            kind="immediate",
            status="sent",
            lead_count=3,
            created_at=timezone.now(),
        ),
        **_sign_in_rows(),
        **_sso_rows(staff_user),
        **_inbound_rows(listing),
        **retention_admin_rows(publisher),
        AccessLogEntry: AccessLogEntry.objects.create(action="view", source="admin"),
        ErasureRecord: ErasureRecord.objects.create(publisher=publisher, source="admin"),
    }


def _referral_rows(publisher, lead, listing) -> dict:
    """Partner Center's referrals and the publisher's connection (crm.referrals)."""
    connection = connect(publisher, listing)
    referral = Referral.objects.create(publisher=publisher, lead=lead, partner_center_id="r-1")
    return {ReferralConnection: connection, Referral: referral}


def _inbound_rows(listing) -> dict:
    source = inbound_sources.inbound_url_create(listing=listing)[0]
    item = InboundItem.objects.create(
        source=source,
        publisher=listing.publisher,
        received_at=timezone.now(),
        body="{}",
        dedupe_key="admin",
    )
    return {InboundSource: source, InboundItem: item}


def _sign_in_rows() -> dict:
    """django-axes' records of sign-in attempts (portal.throttling)."""
    seen = {"username": "someone", "ip_address": "203.0.113.7", "user_agent": "test"}
    at = {"attempt_time": timezone.now(), "http_accept": "*/*", "path_info": "/accounts/login/"}
    return {
        AccessAttempt: AccessAttempt.objects.create(
            **seen, **at, get_data="", post_data="", failures_since_start=1
        ),
        AccessLog: AccessLog.objects.create(**seen, **at),
        AccessFailureLog: AccessFailureLog.objects.create(**seen, **at, locked_out=False),
    }


def _sso_rows(user) -> dict:
    """Single sign-on bindings and TOTP devices (portal.sso, django-otp)."""
    return {
        SsoIdentity: SsoIdentity.objects.create(user=user, issuer="https://idp.test", subject="s"),
        TOTPDevice: TOTPDevice.objects.create(user=user, name="phone"),
    }


def _nurture_rows(publisher, lead, listing) -> dict:
    campaign = factories.make_campaign(publisher=publisher, code="nurture-admin")
    step = NurtureStep.objects.create(
        campaign=campaign, position=1, delay_minutes=0, subject="Hello", body="Hi {first_name}"
    )
    enrollment = Enrollment.objects.create(lead=lead, campaign=campaign, enrolled_at=timezone.now())
    send = EmailSend.objects.create(enrollment=enrollment, step=step, status="sent")
    return {
        NurtureSequence: NurtureSequence.objects.create(campaign=campaign),
        NurtureStep: step,
        Enrollment: enrollment,
        EmailSend: send,
        Suppression: Suppression.objects.create(
            publisher=publisher, email_hash="0" * 64, reason="unsubscribed"
        ),
    }


def test_staff_opens_changelist_add_and_change_page_of_every_model_admin(
    client, staff_user, publisher
):
    # Given one row of every model that has an admin, and a staff superuser
    rows = _one_row_of_every_model(publisher, staff_user)
    client.force_login(staff_user)

    # When they open each admin's changelist, add page and change page
    statuses = {
        model._meta.label: (
            client.get(_admin_url(model, "changelist")).status_code,
            client.get(_admin_url(model, "add")).status_code,
            client.get(_admin_url(model, "change", rows[model].pk)).status_code,
        )
        for model in admin.site._registry
    }

    # Then every page opens, except adding to read-only logs
    assert statuses == {
        "auth.User": (200, 200, 200),
        "auth.Group": (200, 200, 200),
        "portal.Publisher": (200, 200, 200),
        "portal.Membership": (200, 200, 200),
        "leads.Listing": (200, 200, 200),
        "leads.Campaign": (200, 200, 200),
        "leads.Lead": (200, 200, 200),
        "leads.LeadActivity": (200, 200, 200),
        "leads.ScoringRule": (200, 200, 200),
        "crm.CrmTarget": (200, 200, 200),
        "crm.Delivery": (200, 403, 200),
        "leads.ApiKey": (200, 200, 200),
        "leads.PublisherApiToken": (200, 200, 200),
        "leads.RescoreRun": (200, 403, 200),
        "leads.CoSellReferral": (200, 200, 200),
        "leads.Referral": (200, 403, 200),
        "crm.ReferralConnection": (200, 403, 200),
        "leads.NurtureSequence": (200, 200, 200),
        "leads.NurtureStep": (200, 200, 200),
        "leads.Enrollment": (200, 403, 200),
        "leads.EmailSend": (200, 403, 200),
        "leads.Suppression": (200, 200, 200),
        "leads.SendingIdentity": (200, 403, 200),
        "leads.NotificationEmail": (200, 403, 200),
        "axes.AccessAttempt": (200, 403, 200),
        "axes.AccessLog": (200, 403, 200),
        "axes.AccessFailureLog": (200, 403, 200),
        "inbound.InboundSource": (200, 403, 200),
        "inbound.InboundItem": (200, 403, 200),
        "retention.RetentionRun": (200, 403, 200),
        "privacy.AccessLogEntry": (200, 403, 200),
        "privacy.ErasureRecord": (200, 403, 200),
        "sso.SsoIdentity": (200, 403, 200),
        "otp_totp.TOTPDevice": (200, 200, 200),
    }


def test_publisher_member_is_sent_to_the_admin_login(client, owner):
    # Given a publisher's owner, who is not staff
    client.force_login(owner)

    # When they open the admin index and every changelist
    index = client.get("/admin/")
    changelists = {
        model._meta.label: client.get(_admin_url(model, "changelist"))
        for model in admin.site._registry
    }

    # Then each answer is a redirect to the admin login
    assert (index.status_code, index["Location"]) == (302, "/admin/login/?next=/admin/")
    assert {label: r.status_code for label, r in changelists.items()} == dict.fromkeys(
        changelists, 302
    )
    assert all(r["Location"].startswith("/admin/login/?next=") for r in changelists.values())


def test_anonymous_visitor_is_sent_to_the_admin_login(client):
    response = client.get(_admin_url(Lead, "changelist"))

    assert (response.status_code, response["Location"]) == (
        302,
        "/admin/login/?next=/admin/leads/lead/",
    )


# --- portal.paginators ------------------------------------------------------------------


class _SmallLimitPaginator(CheapCountPaginator):
    count_limit = 3


def test_paginator_counts_exactly_up_to_its_limit(publisher):
    # Given three leads, the limit of the paginator
    for _ in range(3):
        factories.make_lead(publisher=publisher)

    # When it counts them
    paginator = _SmallLimitPaginator(Lead.objects.filter(publisher=publisher), per_page=2)

    # Then the count is exact
    assert (paginator.count, paginator.count_kind, paginator.num_pages) == (3, CountKind.EXACT, 2)
    assert (paginator.count_is_estimate, paginator.count_is_lower_bound) == (False, False)


def test_paginator_stops_counting_a_filtered_queryset_past_its_limit(publisher):
    # Given five leads of one publisher, more than the limit
    for _ in range(5):
        factories.make_lead(publisher=publisher)

    # When it counts a filtered queryset of them
    paginator = _SmallLimitPaginator(Lead.objects.filter(publisher=publisher), per_page=2)

    # Then it stops at the limit plus one, and says the count is a lower bound
    assert (paginator.count, paginator.count_kind) == (4, CountKind.LOWER_BOUND)
    assert paginator.count_is_lower_bound is True


def test_paginator_estimates_a_whole_table_from_postgresql_statistics(publisher):
    # Given six leads and fresh planner statistics
    for _ in range(6):
        factories.make_lead(publisher=publisher)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'leads_lead'")
        reltuples = cursor.fetchone()[0]

    # When the paginator counts the unfiltered table
    paginator = _SmallLimitPaginator(Lead.objects.all(), per_page=2)

    # Then it reports the planner's estimate, never below what it counted
    assert (paginator.count, paginator.count_kind) == (max(reltuples, 4), CountKind.ESTIMATE)


def test_paginator_counts_a_list(publisher):
    paginator = _SmallLimitPaginator(list(range(7)), per_page=2)

    assert (paginator.count, paginator.count_kind) == (7, CountKind.EXACT)


def test_lead_changelist_says_more_than_the_limit_when_it_stopped_counting(
    client, staff_user, publisher, other_publisher, monkeypatch
):
    # Given five leads of one publisher, one of another, and a counting limit of three
    monkeypatch.setattr(CheapCountPaginator, "count_limit", 3)
    for _ in range(5):
        factories.make_lead(publisher=publisher)
    factories.make_lead(publisher=other_publisher)
    client.force_login(staff_user)

    # When staff filter the lead list by publisher
    response = client.get(_admin_url(Lead, "changelist"), {"publisher__id__exact": publisher.pk})

    # Then the page says how far it counted, not a made-up total
    assert response.status_code == 200
    assert "More than 3 leads" in response.text
    assert response.context["cl"].result_count == 4


def test_the_staff_pages_carry_the_products_name(client, staff_user):
    """The header never says "Django administration"."""
    client.force_login(staff_user)

    for language, header in (("en", "Lead Portal staff"), ("es", "Personal de Lead Portal")):
        response = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE=language)

        assert header in response.text
        assert "Django" not in response.text
