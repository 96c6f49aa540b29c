"""The tenancy matrix (reliability-security S3), continued: no list, filter, search, sort,
export, chart or API answer shows another publisher's rows, and the CRM secret is on no
page, admin pages included.
"""

import json
import re
from urllib.parse import parse_qs

import pytest
from django.test import Client
from django.urls import reverse

from crm.models import CrmTarget
from leads.lifecycle.columns import LEAD_COLUMNS
from leads.lifecycle.selectors import LEAD_SORTS
from leads.models import Lead
from portal.tenancy.middleware import SESSION_KEY
from tests.portal.tenancy_world import (
    A_MARK,
    B_MARK,
    LEADS_EACH,
    UUID_RE,
    World,
    body_of,
    client_for,
    foreign_rows,
)

NEXT_RE = re.compile(r'rel="next" href="[^"]*?[?&;]after=([\w-]+)')

pytestmark = pytest.mark.django_db


# --- No list, filter, search, sort, export, chart or API answer shows A's rows -----------


def _list_queries(w: World) -> list[str]:
    a_lead = Lead.objects.filter(publisher=w.a.publisher).order_by("pk").first()
    queries = [
        "",
        f"q={a_lead.email}",
        f"q={A_MARK}",
        "q=Ada",
        "q=Ada Alphaqz",
        f"listing={w.a.listing.pk}",
        f"campaign={w.a.campaigns[0].pk}",
        "storefront=appsource",
        "storefront=azure-marketplace&status=qualified&score_min=10&score_max=90",
        "created_from=2000-01-01&created_to=2100-01-01",
    ]
    return queries + [f"sort={sort}" for sort in LEAD_SORTS]


@pytest.mark.parametrize("path", ["/leads/", "/referrals/", "/leads/export.csv"])
def test_lists_filters_searches_sorts_and_exports_show_no_foreign_row(world, path):
    client = client_for(world.b.member)

    # Every column shown, those a list hides by default too (the referral list's email).
    columns = "&".join(f"col={column.key}" for column in LEAD_COLUMNS)
    for query in _list_queries(world):
        response = client.get(f"{path}?{query}&{columns}")
        text = body_of(response)
        assert response.status_code == 200, query
        typed = parse_qs(query).get("q", [""])[0]
        assert foreign_rows(text, world, typed=typed) == (0, set()), f"{path}?{query}"


def test_the_lists_show_the_publishers_own_rows(world):
    """The other side of the coin: the pages above do show rows, B's own."""
    client = client_for(world.b.member)

    assert body_of(client.get("/leads/")).count(f"@{B_MARK}.example") >= 50
    # The referral list hides the email by default: the column chooser shows it.
    assert body_of(client.get("/referrals/?col=email")).count(f"@{B_MARK}.example") == 20
    assert body_of(client.get(f"/leads/?q=lead3@{B_MARK}.example")).count(f"lead3@{B_MARK}") >= 1


def test_paging_through_the_whole_list_never_reaches_a_foreign_row(world):
    client, url, seen = client_for(world.b.owner), "/leads/?sort=name", set()

    while url:
        text = body_of(client.get(url))
        assert foreign_rows(text, world) == (0, set())
        seen |= set(UUID_RE.findall(text)) & world.b.lead_uuids
        after = NEXT_RE.search(text)
        url = f"/leads/?sort=name&after={after.group(1)}" if after else None

    assert len(seen) == LEADS_EACH - LEADS_EACH // 25  # every marketplace lead of B


def test_the_export_holds_exactly_the_publishers_leads(world):
    text = body_of(client_for(world.b.owner).get("/leads/export.csv"))
    ids = set(UUID_RE.findall(text))

    assert ids == {
        str(u)
        for u in Lead.objects.filter(publisher=world.b.publisher, origin="marketplace").values_list(
            "uuid", flat=True
        )
    }


def test_dashboard_chart_data_holds_only_the_publishers_figures(world):
    text = body_of(client_for(world.b.member).get("/"))
    charts = {
        name: json.loads(data)
        for name, data in re.findall(
            r'<script id="chart-(\w+)" type="application/json">(.*?)</script>', text, re.S
        )
    }

    assert sorted(charts) == ["by_action", "campaigns", "funnel", "health", "per_day"]
    assert A_MARK not in json.dumps(charts).lower()
    assert charts["campaigns"]["labels"] == [f"{B_MARK} campaign 0", f"{B_MARK} campaign 1"]
    assert charts["health"]["labels"] == [f"{B_MARK} target", f"{B_MARK} marketo"] or sorted(
        charts["health"]["labels"]
    ) == sorted([f"{B_MARK} target", f"{B_MARK} marketo"])
    assert sum(sum(dataset["data"]) for dataset in charts["funnel"]["datasets"]) > 0
    assert foreign_rows(text, world) == (0, set())


def test_the_publisher_api_returns_no_foreign_lead(world):
    client, auth = Client(), {"HTTP_AUTHORIZATION": f"Bearer {world.b_api_token}"}
    ids, cursor = set(), None

    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        response = client.get("/api/v1/publisher/leads", params, **auth)
        text = body_of(response)
        assert response.status_code == 200
        assert foreign_rows(text, world) == (0, set())
        page = response.json()
        ids |= {item["id"] for item in page["items"]}
        if not (cursor := page["next_cursor"]):
            break
    foreign = client.get(f"/api/v1/publisher/leads/{world.a.lead.uuid}", **auth)
    anonymous = client.get(f"/api/v1/publisher/leads/{world.a.lead.uuid}")
    filtered = client.get(
        "/api/v1/publisher/leads", {"listing": world.a.listing.pk, "limit": 200}, **auth
    )

    assert ids == world.b.lead_uuids
    assert foreign.status_code == 404
    assert anonymous.status_code == 401
    assert foreign_rows(body_of(filtered), world) == (0, set())


def test_a_forged_session_publisher_shows_only_the_users_own_rows(world):
    client = client_for(world.b.owner)
    session = client.session
    session[SESSION_KEY] = world.a.publisher.pk
    session.save()

    text = body_of(client.get("/leads/"))

    assert foreign_rows(text, world) == (0, set())
    assert f"@{B_MARK}.example" in text


def test_a_bulk_move_of_foreign_leads_changes_nothing(world):
    a_leads = list(
        Lead.objects.filter(publisher=world.a.publisher, status="new").values_list("uuid", "status")
    )[:5]

    response = client_for(world.b.owner).post(
        "/leads/",
        {"lead": [str(u) for u, _s in a_leads], "to_status": "accepted", "reason": "mine now"},
    )

    assert response.status_code == 302
    after = Lead.objects.filter(uuid__in=[u for u, _s in a_leads]).values_list("uuid", "status")
    assert sorted(after) == sorted(a_leads)


# --- The CRM secret is never shown ---------------------------------------------------------


def test_the_crm_secret_is_on_no_page_admin_included(world):
    staff, owner = client_for(world.staff), client_for(world.a.owner)
    target_ids = CrmTarget.objects.filter(publisher=world.a.publisher).values_list("pk", flat=True)
    pages = [
        (staff, reverse("admin:crm_crmtarget_changelist")),
        (staff, reverse("admin:crm_crmtarget_changelist") + f"?q={A_MARK}"),
        (staff, reverse("admin:crm_delivery_changelist")),
        (staff, reverse("admin:crm_delivery_change", args=[world.a.delivery.pk])),
        (staff, reverse("admin:leads_lead_change", args=[world.a.lead.pk])),
        *((staff, reverse("admin:crm_crmtarget_change", args=[pk])) for pk in target_ids),
        *((owner, f"/crm/targets/{pk}/") for pk in target_ids),
        (owner, "/crm/targets/"),
        (owner, "/crm/deliveries/"),
        (owner, f"/leads/{world.a.delivery.lead.uuid}/"),
        (owner, "/"),
    ]

    for client, url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        body_of(response)  # asserts the secret is absent
