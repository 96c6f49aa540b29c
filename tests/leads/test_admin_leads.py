"""The leads admin: the lead and activity pages."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads.models import Lead, LeadActivity, LeadTransition
from tests import factories

pytestmark = pytest.mark.django_db


# --- Changelists stay flat --------------------------------------------------------------


def _count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_lead_changelist_runs_as_many_queries_for_60_rows_as_for_5(staff_client):
    # Given 5 leads, each of its own publisher
    url = reverse("admin:leads_lead_changelist")
    for _ in range(5):
        factories.make_lead()
    queries_for_5 = _count_queries(staff_client, url)

    # When there are 60
    for _ in range(55):
        factories.make_lead()
    queries_for_60 = _count_queries(staff_client, url)

    # Then the changelist runs the same number of queries
    assert queries_for_60 == queries_for_5


def test_activity_changelist_runs_as_many_queries_for_60_rows_as_for_5(staff_client):
    url = reverse("admin:leads_leadactivity_changelist")
    for _ in range(5):
        factories.make_activity()
    queries_for_5 = _count_queries(staff_client, url)

    for _ in range(55):
        factories.make_activity()
    queries_for_60 = _count_queries(staff_client, url)

    assert queries_for_60 == queries_for_5


# --- Leads ------------------------------------------------------------------------------


def test_lead_search_matches_the_normalized_email_exactly(staff_client, publisher):
    # Given a lead, and another whose email only starts like it
    lead = factories.make_lead(publisher=publisher, email="Ada@Contoso.example")
    factories.make_lead(publisher=publisher, email="ada@contoso.example.org")

    # When staff search the email in another case
    response = staff_client.get(
        reverse("admin:leads_lead_changelist"), {"q": " ADA@contoso.example "}
    )

    # Then only that lead is found
    assert [row.pk for row in response.context["cl"].result_list] == [lead.pk]


def test_lead_search_by_company_prefix(staff_client, publisher):
    lead = factories.make_lead(publisher=publisher, company="Fabrikam Ltd")
    factories.make_lead(publisher=publisher, company="Contoso")

    response = staff_client.get(reverse("admin:leads_lead_changelist"), {"q": "fabri"})

    assert [row.pk for row in response.context["cl"].result_list] == [lead.pk]


def test_lead_page_escapes_what_the_storefront_sent(staff_client, publisher):
    # Given a lead whose fields and score breakdown carry markup
    lead = factories.make_lead(
        publisher=publisher,
        first_name="<script>alert(1)</script>",
        score_breakdown=[{"rule": "<img src=x onerror=alert(2)>", "points": 15}],
    )
    factories.make_activity(lead=lead, raw_payload={"Description": "<b>bold</b>"})

    # When staff open the lead and its activity
    lead_page = staff_client.get(reverse("admin:leads_lead_change", args=[lead.pk]))
    activity = LeadActivity.objects.get(lead=lead)
    activity_page = staff_client.get(reverse("admin:leads_leadactivity_change", args=[activity.pk]))

    # Then the markup is shown as text, never run
    assert "<script>alert(1)" not in lead_page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in lead_page.text
    assert "<img src=x" not in lead_page.text
    assert "<li>&lt;img src=x onerror=alert(2)&gt;: 15</li>" in lead_page.text
    assert "<b>bold</b>" not in activity_page.text
    assert "&lt;b&gt;bold&lt;/b&gt;" in activity_page.text


def test_lead_page_shows_only_the_20_latest_activities_read_only(staff_client, publisher):
    # Given a lead with 25 activities
    lead = factories.make_lead(publisher=publisher)
    listing = factories.make_listing(publisher=publisher)
    for _ in range(25):
        factories.make_activity(lead=lead, listing=listing)
    latest = list(LeadActivity.objects.filter(lead=lead).values_list("pk", flat=True)[:20])

    # When staff open the lead
    response = staff_client.get(reverse("admin:leads_lead_change", args=[lead.pk]))

    # Then the activity inline lists the 20 latest, and cannot add or delete one
    inline = next(
        f for f in response.context["inline_admin_formsets"] if f.formset.model is LeadActivity
    )
    assert [form.instance.pk for form in inline.formset.forms] == latest
    assert (inline.has_add_permission, inline.has_delete_permission) == (False, False)
    assert f"?lead__id__exact={lead.pk}" in response.text


def test_lead_page_keeps_score_status_and_normalized_email_read_only(staff_client, publisher):
    # Given a new lead
    lead = factories.make_lead(publisher=publisher, email="ada@contoso.example")

    # When staff post a score, a status and an email in another case
    response = staff_client.post(
        reverse("admin:leads_lead_change", args=[lead.pk]),
        {
            "email": "ADA@Contoso.example",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "score": "99",
            "status": "won",
            "email_normalized": "forged@example.com",
            "transitions-TOTAL_FORMS": "0",
            "transitions-INITIAL_FORMS": "0",
            "notes-TOTAL_FORMS": "0",
            "notes-INITIAL_FORMS": "0",
            "activities-TOTAL_FORMS": "0",
            "activities-INITIAL_FORMS": "0",
            "deliveries-TOTAL_FORMS": "0",
            "deliveries-INITIAL_FORMS": "0",
            "consent_records-TOTAL_FORMS": "0",
            "consent_records-INITIAL_FORMS": "0",
        },
    )

    # Then only the editable fields change; the normalized email follows the email
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.email, lead.email_normalized, lead.score, lead.status) == (
        "ADA@Contoso.example",
        "ada@contoso.example",
        0,
        Lead.Status.NEW,
    )


def test_lead_page_lists_its_status_changes(staff_client, publisher, staff_user):
    lead = factories.make_lead(publisher=publisher)
    LeadTransition.objects.create(
        lead=lead, from_status="new", to_status="qualified", changed_by=staff_user, reason="Call"
    )

    response = staff_client.get(reverse("admin:leads_lead_change", args=[lead.pk]))

    inline = next(
        f for f in response.context["inline_admin_formsets"] if f.formset.model is LeadTransition
    )
    assert [(f.instance.to_status, f.instance.reason) for f in inline.formset.forms] == [
        ("qualified", "Call")
    ]
