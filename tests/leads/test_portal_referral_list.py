"""The Co-Sell referral list as Partner Center shows it: its referral columns, the Partner
Center status filter, the close-date and deal-value sorts over keyset pages (referrals
without one last), tenancy, the Co-Sell activity's label and the navigation's highlight."""

import re
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads.intake.referrals import CO_SELL_ACTION
from leads.lifecycle import columns as lead_columns
from leads.lifecycle import selectors
from leads.models import Lead, Referral
from tests import factories
from tests.leads.portal_leads_support import LEADS, REFERRALS, shown
from tests.leads.test_portal_referrals import make_referral

pytestmark = pytest.mark.sqlite


@pytest.fixture
def enrolled(publisher):
    publisher.co_sell_enrolled = True
    publisher.save()
    return publisher


@pytest.fixture
def member_client(client, enrolled):
    client.force_login(factories.make_membership(publisher=enrolled, role="member").user)
    return client


def _deals(enrolled, values, *, start=0):
    """One referral per (close date, deal value); its lead's email names it."""
    for n, (close, value) in enumerate(values, start=start):
        referral = make_referral(enrolled, n, close_date=close, deal_value=value)
        Lead.objects.filter(pk=referral.lead_id).update(email=f"deal{n}@contoso.example")


def test_the_referral_columns_are_offered_only_on_the_referral_list():
    referral_keys = {c.key for c in lead_columns.columns_for(Lead.Origin.CO_SELL)}
    lead_keys = {c.key for c in lead_columns.columns_for(Lead.Origin.MARKETPLACE)}

    wanted = {"pc_status", "pc_substatus", "deal_value", "close_date", "seller"}
    assert wanted <= referral_keys
    assert not wanted & lead_keys


def test_the_list_shows_value_close_date_statuses_and_seller(member_client, enrolled):
    make_referral(
        enrolled,
        status="Active",
        substatus="Accepted",
        deal_value=Decimal("9900.50"),
        currency="EUR",
        close_date=date(2027, 3, 1),
        seller_name="Maria Vendedora",
    )

    text = member_client.get(REFERRALS).content.decode()

    assert '<span class="badge badge-co-sell">Active</span>' in text
    assert '<td class="col-pc_substatus">Accepted\n</td>' in text
    assert "9,900.50 EUR" in text or "9900.50 EUR" in text
    assert 'datetime="2027-03-01"' in text
    assert "Maria Vendedora" in text
    for label in ("Partner Center status", "Sub-status", "Deal value", "Close date"):
        assert f">{label}<" in text


def test_the_referral_cells_link_the_referral_and_speak_the_language(member_client, enrolled):
    # Given a referral whose answer is on its way to Partner Center
    referral = make_referral(enrolled, status="Active", substatus="Accepted", sync_state="pending")

    # When the list is read in English, then in Spanish
    english = member_client.get(REFERRALS).content.decode()
    spanish = member_client.get(REFERRALS, headers={"accept-language": "es"}).content.decode()

    # Then the referral links its own page, and the statuses are the language's labels
    link = reverse("referral-detail", args=[referral.pk])
    assert f'<a href="{link}">Deal 1</a>' in english
    assert '<span class="badge badge-sync-pending">Sending to Partner Center</span>' in english
    assert '<span class="badge badge-co-sell">Activa</span>' in spanish
    assert '<td class="col-pc_substatus">Aceptado\n</td>' in spanish
    assert '<span class="badge badge-sync-pending">Enviando a Partner Center</span>' in spanish


def test_the_column_chooser_hides_a_referral_column(member_client, enrolled):
    make_referral(enrolled)

    response = member_client.get(REFERRALS, {"col": ["name", "pc_status", "close_date"]})

    assert [c.key for c in response.context["columns"]] == ["pc_status", "close_date"]
    chooser = {c["column"].key: c["is_shown"] for c in response.context["column_choices"]}
    assert chooser["pc_substatus"] is False and chooser["deal_value"] is False


def test_the_list_filters_on_the_partner_center_status(member_client, enrolled):
    _deals(enrolled, [(None, None)] * 3)
    Referral.objects.filter(partner_center_id="ref-1").update(status="Active", substatus="Accepted")
    Referral.objects.filter(partner_center_id="ref-2").update(status="Closed", substatus="Won")

    assert shown(member_client.get(REFERRALS, {"referral_status": "Active"})) == [
        "deal1@contoso.example"
    ]
    both = {"referral_status": "Closed", "referral": "Won"}
    assert shown(member_client.get(REFERRALS, both)) == ["deal2@contoso.example"]
    assert (
        shown(member_client.get(REFERRALS, {"referral_status": "Closed", "referral": "Lost"})) == []
    )


def test_an_unknown_status_is_a_field_error_and_no_filter(member_client, enrolled):
    make_referral(enrolled)

    response = member_client.get(REFERRALS, {"referral_status": "Bogus"})

    assert response.status_code == 200
    assert "referral_status" in response.context["form"].errors
    assert len(shown(response)) == 1


def test_the_status_filter_offers_partner_centers_statuses(member_client, enrolled):
    field = member_client.get(REFERRALS).context["form"].fields["referral_status"]

    assert [value for value, _label in field.choices] == ["", "New", "Active", "Closed"]


CLOSES = [
    (date(2027, 5, 1), Decimal("500.00")),
    (None, Decimal("70000.00")),
    (date(2027, 1, 15), None),
    (date(2027, 9, 30), Decimal("12.50")),
    (None, None),
    (date(2027, 1, 15), Decimal("500.00")),
]


def _expected(key, *, descending):
    """The emails in the order wanted: by the key, ties by lead id; missing ones last."""
    rows = [(values, n) for n, values in enumerate(CLOSES)]
    present = [r for r in rows if r[0][key] is not None]
    missing = [r for r in rows if r[0][key] is None]
    present.sort(key=lambda r: (r[0][key], r[1]), reverse=descending)
    missing.sort(key=lambda r: r[1], reverse=descending)
    return [f"deal{n}@contoso.example" for _v, n in present + missing]


@pytest.mark.parametrize(
    ("sort", "key", "descending"),
    [
        ("close_date", 0, False),
        ("-close_date", 0, True),
        ("deal_value", 1, False),
        ("-deal_value", 1, True),
    ],
)
def test_the_sorts_page_across_boundaries_with_missing_values_last(
    member_client, enrolled, sort, key, descending
):
    _deals(enrolled, CLOSES)
    # Leads are created in order, so lead ids follow n: the tie-break is the id.
    pages, cursor = [], ""
    while True:
        response = member_client.get(REFERRALS, {"sort": sort, "size": 25, "after": cursor})
        pages.append(shown(response))
        cursor = response.context["page"].next_cursor
        if not cursor:
            break

    assert [email for page in pages for email in page] == _expected(key, descending=descending)


def _pages_of_two(client, sort):
    """The list's pages at two rows a page, through the lead_page keyset machinery."""
    publisher = client.get(REFERRALS).context["request"].publisher
    filters = selectors.LeadFilters(origin=Lead.Origin.CO_SELL)
    order, forward, cursor = [], [], ""
    while True:
        page = selectors.lead_page(
            publisher=publisher,
            filters=filters,
            sort=selectors.LEAD_SORTS[sort],
            cursor=cursor,
            size=2,
        )
        forward.append(page)
        order += [lead.email for lead in page.leads]
        cursor = page.next_cursor
        if not cursor:
            break
    # Back from the last page: the previous cursors give the same pages.
    back = selectors.lead_page(
        publisher=publisher,
        filters=filters,
        sort=selectors.LEAD_SORTS[sort],
        cursor=forward[-1].previous_cursor,
        backwards=True,
        size=2,
    )
    assert [lead.pk for lead in back.leads] == [lead.pk for lead in forward[-2].leads]
    return order, len(forward)


@pytest.mark.parametrize(
    ("sort", "key", "descending"),
    [
        ("close_date", 0, False),
        ("-close_date", 0, True),
        ("deal_value", 1, False),
        ("-deal_value", 1, True),
    ],
)
def test_the_sorts_page_by_two_forward_and_back(member_client, enrolled, sort, key, descending):
    _deals(enrolled, CLOSES)

    order, pages = _pages_of_two(member_client, sort)

    assert pages == 3
    assert order == _expected(key, descending=descending)


def test_the_list_pages_by_link_across_a_page_boundary(member_client, enrolled):
    _deals(enrolled, [(date(2027, 1, n + 1), Decimal(n)) for n in range(30)])

    first = member_client.get(REFERRALS, {"sort": "-close_date", "size": 25})
    second = member_client.get(
        REFERRALS, {"sort": "-close_date", "size": 25, "after": first.context["page"].next_cursor}
    )

    assert shown(first) + shown(second) == [f"deal{n}@contoso.example" for n in range(29, -1, -1)]
    assert len(shown(second)) == 5


@pytest.mark.parametrize("sort", ["close_date", "-deal_value"])
def test_a_sorted_page_costs_the_same_queries_for_many_referrals(
    member_client, enrolled, django_assert_max_num_queries, sort
):
    _deals(enrolled, [(date(2027, 2, 1), Decimal("1.00"))] * 3)
    with django_assert_max_num_queries(14) as few:
        member_client.get(REFERRALS, {"sort": sort})
    _deals(enrolled, [(date(2027, 2, n), Decimal(n)) for n in range(1, 26)], start=3)

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = member_client.get(REFERRALS, {"sort": sort})

    assert len(shown(response)) == 28


def test_a_forged_sort_cursor_starts_again(member_client, enrolled):
    _deals(enrolled, CLOSES)

    response = member_client.get(
        REFERRALS,
        {"sort": "-deal_value", "after": "eyJzIjoiZGVhbF92YWx1ZSIsInYiOlsiTmFOIl0sImlkIjoxfQ"},
    )

    assert len(shown(response)) == len(CLOSES)


def test_the_lead_list_ignores_a_referral_sort(client, enrolled):
    client.force_login(factories.make_membership(publisher=enrolled, role="member").user)
    factories.make_lead(publisher=enrolled)

    response = client.get(LEADS, {"sort": "close_date"})

    assert response.status_code == 200
    assert response.context["sort"].name == "created"
    assert "col-close_date" not in response.content.decode()


def test_another_publisher_sees_none_of_the_referrals(client, enrolled):
    _deals(enrolled, CLOSES)
    stranger = factories.make_publisher(co_sell_enrolled=True)
    client.force_login(factories.make_membership(publisher=stranger).user)

    for params in ({}, {"sort": "close_date"}, {"referral_status": "New"}):
        assert shown(client.get(REFERRALS, params)) == []
    referral = Referral.objects.first()
    assert client.get(reverse("referral-detail", args=[referral.pk])).status_code == 404
    assert client.get(reverse("lead-detail", args=[referral.lead.uuid])).status_code == 404


def _current(text: str) -> list[str]:
    """The labels of the navigation links marked as the current page."""
    nav = text.split('<nav class="main-nav"', 1)[1].split("</nav>", 1)[0]
    return re.findall(r'aria-current="page">([^<]+)</a>', nav)


def test_the_navigation_highlights_co_sell_on_a_referral_and_its_lead(member_client, enrolled):
    referral = make_referral(enrolled)
    marketplace = factories.make_lead(publisher=enrolled)

    pages = {
        "referral": reverse("referral-detail", args=[referral.pk]),
        "co-sell lead": reverse("lead-detail", args=[referral.lead.uuid]),
        "list": REFERRALS,
    }
    for name, url in pages.items():
        assert _current(member_client.get(url).content.decode()) == ["Co-Sell referrals"], name
    lead_page = member_client.get(reverse("lead-detail", args=[marketplace.uuid]))
    assert _current(lead_page.content.decode()) == ["Leads"]


def test_a_co_sell_activity_has_a_label_not_unknown_action(member_client, enrolled):
    referral = make_referral(enrolled)
    factories.make_activity(lead=referral.lead, action_code=CO_SELL_ACTION)

    for url in (
        reverse("lead-detail", args=[referral.lead.uuid]),
        reverse("referral-detail", args=[referral.pk]),
    ):
        text = member_client.get(url).content.decode()
        assert "Unknown action" not in text
    lead_text = member_client.get(reverse("lead-detail", args=[referral.lead.uuid])).content
    assert "Co-Sell referral from Partner Center" in lead_text.decode()


def test_a_lead_with_two_referrals_sorts_once_by_its_latest(member_client, enrolled):
    _deals(enrolled, [(date(2027, 1, 1), Decimal("1.00")), (date(2027, 6, 1), Decimal("2.00"))])
    first = Referral.objects.get(partner_center_id="ref-0")
    Referral.objects.create(
        publisher=enrolled,
        lead=first.lead,
        partner_center_id="ref-newer",
        name="Newer deal",
        close_date=date(2027, 12, 1),
        deal_value=Decimal("3.00"),
    )

    response = member_client.get(REFERRALS, {"sort": "close_date"})

    assert shown(response) == ["deal1@contoso.example", "deal0@contoso.example"]
    assert "Newer deal" in response.content.decode()


@pytest.mark.no_sqlite
@pytest.mark.parametrize(
    ("sort", "index"),
    [
        ("close_date", "referral_pub_close_hi"),
        ("-close_date", "referral_pub_close_lo"),
        ("deal_value", "referral_pub_value_hi"),
        ("-deal_value", "referral_pub_value_lo"),
    ],
)
def test_a_referral_sort_walks_its_index(enrolled, sort, index):
    # Given the Co-Sell list's query in a referral sort (as lead_page builds it)
    _deals(enrolled, CLOSES)
    order = selectors.LEAD_SORTS[sort]
    leads = selectors.with_latest_referral(
        selectors.leads_matching(
            publisher=enrolled, filters=selectors.LeadFilters(origin=Lead.Origin.CO_SELL)
        ),
        publisher=enrolled,
    ).annotate(**{alias: expression for alias, expression, _kind in order.keys})
    direction = "-" if order.descending else ""
    leads = leads.order_by(*(f"{direction}{a}" for a, _e, _k in order.keys), f"{direction}id")

    # When PostgreSQL plans a page with sequential scans forbidden (the table is small)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = leads[:51].explain()

    # Then it reads the referrals in the sort's order from its index
    assert index in plan


@pytest.mark.no_sqlite
@pytest.mark.parametrize(
    ("sort", "is_serial"), [("close_date", True), ("-deal_value", True), ("-created", False)]
)
def test_a_referral_sort_page_is_planned_without_parallel_workers(
    member_client, enrolled, sort, is_serial
):
    # Given referrals with deals
    _deals(enrolled, CLOSES)

    # When a page of the sort is read
    with CaptureQueriesContext(connection) as captured:
        response = member_client.get(REFERRALS, {"sort": sort})

    # Then a referral sort's page query alone runs without parallel workers (a Gather of
    # parallel walks cost more to start than the page), and the page is whole
    sql = [query["sql"] for query in captured.captured_queries]
    serial = "SET LOCAL max_parallel_workers_per_gather = 0"
    assert (serial in sql) is is_serial
    if is_serial:
        assert 'FROM "leads_lead"' in sql[sql.index(serial) + 1]
    assert len(shown(response)) == len(CLOSES)


def test_the_export_follows_a_referral_sort_and_status_filter(member_client, enrolled):
    _deals(enrolled, CLOSES)
    Referral.objects.filter(partner_center_id="ref-5").update(status="Closed", substatus="Won")

    response = member_client.get(
        reverse("leads-export"),
        {"origin": "co-sell", "sort": "-deal_value", "referral_status": "New"},
    )

    body = b"".join(response.streaming_content).decode()
    emails = re.findall(r"deal\d@contoso\.example", body)
    wanted = [e for e in _expected(1, descending=True) if e != "deal5@contoso.example"]
    assert response.status_code == 200
    assert emails == wanted


def test_the_marketplace_export_ignores_a_referral_sort(member_client, enrolled):
    factories.make_lead(publisher=enrolled, email="market@contoso.example")

    response = member_client.get(reverse("leads-export"), {"sort": "close_date"})

    assert "market@contoso.example" in b"".join(response.streaming_content).decode()
