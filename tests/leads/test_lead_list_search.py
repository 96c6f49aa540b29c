"""The lead list's search, total count, page size and columns."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.lifecycle import search
from leads.lifecycle import selectors as lead_selectors
from leads.lifecycle.selectors import LeadCount
from leads.models import Lead
from leads.views.leads import total_text
from tests.factories import make_activity, make_lead, make_listing
from tests.leads.portal_leads_support import LEADS, shown


@pytest.fixture
def people(publisher):
    """Four leads with accents, a domain and a listing to find them by."""
    listing = make_listing(publisher=publisher, name="Fabrikam Ánalytics")
    leads = {
        "lopez": make_lead(
            publisher=publisher,
            email="m.lopez@northwind.example",
            first_name="María",
            last_name="López",
            company="Northwind Traders",
        ),
        "muller": make_lead(
            publisher=publisher,
            email="jm@adventure-works.example",
            first_name="Jürgen",
            last_name="Müller",
            company="Adventure Works",
        ),
        "oconnor": make_lead(
            publisher=publisher,
            email="sean@contoso.example",
            first_name="Seán",
            last_name="O'Connor",
            company="Contoso Ltd",
        ),
        "plain": make_lead(
            publisher=publisher,
            email="bob@tailspin.example",
            first_name="Bob",
            last_name="Smith",
            company="Tailspin",
        ),
    }
    make_activity(lead=leads["plain"], listing=listing)
    return leads


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("lopez", ["m.lopez@northwind.example"]),  # unaccented finds accented
        ("LÓPEZ", ["m.lopez@northwind.example"]),  # case and accent aside
        ("maria lop", ["m.lopez@northwind.example"]),  # parts of both names
        ("ulle", ["jm@adventure-works.example"]),  # inside a name
        ("adventure-works", ["jm@adventure-works.example"]),  # the email's domain
        ("@northwind.example", ["m.lopez@northwind.example"]),  # the domain with its @
        ("contoso ltd", ["sean@contoso.example"]),  # the company
        ("sean", ["sean@contoso.example"]),  # "Seán"
        ("analytics", ["bob@tailspin.example"]),  # the listing's name, "Ánalytics"
        ("sm", ["bob@tailspin.example"]),  # under three letters: a prefix
        ("jm@ADVENTURE-works.example", ["jm@adventure-works.example"]),  # a whole address
        ("zzqx", []),
    ],
)
def test_search_is_accent_and_case_insensitive_on_parts(people, owner_client, term, expected):
    # When the owner searches, Then exactly the expected leads are found
    assert sorted(shown(owner_client.get(LEADS, {"q": term}))) == expected


def test_search_never_finds_another_publishers_leads(people, other_publisher, owner_client):
    # Given a lead of another publisher who would match
    make_lead(publisher=other_publisher, email="x@northwind.example", last_name="López")

    # When the owner searches, Then only their own lead is found
    assert shown(owner_client.get(LEADS, {"q": "lopez"})) == ["m.lopez@northwind.example"]


def test_the_search_follows_a_changed_name(people, owner_client):
    # Given a lead whose name and address change after it was found (an edit, a merge, an
    # erasure): on PostgreSQL its stored search text is generated from the columns
    Lead.objects.filter(pk=people["lopez"].pk).update(
        last_name="Gómez", company="Wide World", email_normalized="m.gomez@fabrikam.example"
    )

    # When the owner searches the old and the new name and domain, Then only the new are found
    assert shown(owner_client.get(LEADS, {"q": "lopez"})) == []
    assert shown(owner_client.get(LEADS, {"q": "northwind"})) == []
    assert shown(owner_client.get(LEADS, {"q": "gomez"})) == ["m.lopez@northwind.example"]
    assert shown(owner_client.get(LEADS, {"q": "fabrikam.example"})) == [
        "m.lopez@northwind.example"
    ]


def test_the_needle_is_folded_as_unaccent_folds():
    assert search.needle("  Łódź Ørsted STRAßE Crème ") == "lodz orsted strasse creme"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's GIN index")
def test_a_search_word_is_a_lookup_in_the_trigram_index(db, publisher):
    # Given the search's condition, alone (the publisher's btree indexes would compete on
    # a small table; at a million leads the planner picks the trigram index, docs/benchmarks.md)
    leads = search.search_filter(
        Lead.objects.order_by(), publisher_id=publisher.pk, term="lopez", listing_ids=()
    )

    # When PostgreSQL plans it with sequential scans forbidden (a small table would scan)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = leads.explain()

    # Then the GIN trigram index of the publisher and its stored searchable text answers it
    # (leads/0029)
    assert "Bitmap Index Scan on lead_pub_search_trgm" in plan
    assert "~~ '%lopez%'" in plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's GIN index")
def test_the_searchable_text_function_is_immutable_and_unaccents(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT lp_lead_search_text('María', 'López', 'Crème', 'a@Fóo.example')")
        assert cursor.fetchone()[0] == "maria lopez creme foo.example"
        cursor.execute("SELECT provolatile FROM pg_proc WHERE proname = 'lp_unaccent'")
        assert cursor.fetchone()[0] == "i"


def test_the_list_counts_its_matches_exactly_below_the_limit(people, owner_client):
    response = owner_client.get(LEADS, {"q": "works"})  # a company and a domain

    assert response.context["total"] == LeadCount(1)
    assert "Leads 1–1 of 1" in response.content.decode()
    everyone = owner_client.get(LEADS, {"q": ".example"})  # every domain
    assert everyone.context["total"] == LeadCount(4)
    assert "Leads 1–4 of 4" in everyone.content.decode()


def test_past_the_limit_postgresql_estimates_and_the_page_says_so(
    publisher, owner_client, monkeypatch
):
    # Given more leads than the exact-count limit
    monkeypatch.setattr(lead_selectors, "COUNT_EXACT_LIMIT", 3)
    for n in range(5):
        make_lead(publisher=publisher, email=f"n{n}@x.example")

    # When the owner opens the list
    response = owner_client.get(LEADS)
    total = response.context["total"]

    # Then PostgreSQL gives the planner's estimate (never below what was counted) and the
    # page says it is one; SQLite counts exactly
    html = response.content.decode()
    if connection.vendor == "postgresql":
        assert total.is_estimate and total.value >= 4
        assert f"of about {total.value}" in html
        assert "an estimate" in html
    else:
        assert total == LeadCount(5)


@pytest.mark.parametrize(
    ("total", "text"),
    [
        (LeadCount(12408), "12,408"),
        (LeadCount(1_234_567, is_estimate=True), "about 1.2 million"),
        (LeadCount(46_123, is_estimate=True), "about 46,000"),
    ],
)
def test_the_total_is_written_as_a_person_would(total, text):
    assert total_text(total) == text


def test_the_page_size_is_chosen_among_four(publisher, owner_client):
    # Given 30 leads
    for n in range(30):
        make_lead(publisher=publisher, email=f"s{n}@x.example")

    # When the owner asks for 25 a page, or for a size not offered
    small = owner_client.get(LEADS, {"size": "25"})
    odd = owner_client.get(LEADS, {"size": "7"})

    # Then 25 show with a Next link that keeps the size; an odd size is the default 50
    assert len(shown(small)) == 25
    assert "Leads 1–25 of 30" in small.content.decode()
    next_href = re.search(r'rel="next" href="([^"]+)"', small.content.decode()).group(1)
    assert "size=25" in next_href
    assert len(shown(odd)) == 30


def test_the_column_chooser_shows_the_chosen_columns_only(people, owner_client):
    # When the owner chooses company and country (name is always there)
    response = owner_client.get(LEADS, {"col": ["name", "company", "country"]})
    html = response.content.decode()

    # Then only those columns show, in table order; without a choice the defaults show
    assert [column.key for column in response.context["columns"]] == ["company", "country"]
    assert "Northwind Traders" in html
    assert 'class="col-score' not in html
    default = owner_client.get(LEADS).context["columns"]
    assert [column.key for column in default] == [
        "email",
        "company",
        "status",
        "score",
        "listing",
        "campaign",
        "created",
        "last_activity",
    ]


def test_a_column_of_the_other_list_or_unknown_is_ignored(people, owner_client):
    response = owner_client.get(LEADS, {"col": ["name", "seller", "nope"]})

    assert response.status_code == 200
    assert [column.key for column in response.context["columns"]] == [
        "email",
        "company",
        "status",
        "score",
        "listing",
        "campaign",
        "created",
        "last_activity",
    ]


def test_the_export_keeps_finding_the_searched_leads(people, owner_client):
    response = owner_client.get("/leads/export.csv", {"q": "lopez"})
    body = b"".join(response.streaming_content).decode("utf-8-sig")

    assert "m.lopez@northwind.example" in body
    assert "bob@tailspin.example" not in body
    assert Lead.objects.count() == 4


def test_a_search_counts_exactly_to_a_lower_limit(people, owner_client, monkeypatch):
    # Given a search limit below the four matches of ".example" (the list's stays high)
    monkeypatch.setattr(lead_selectors, "SEARCH_COUNT_EXACT_LIMIT", 2)

    # When the owner searches, and lists without a search
    searched = owner_client.get(LEADS, {"q": ".example"}).context["total"]
    listed = owner_client.get(LEADS).context["total"]

    # Then the search's total is estimated on PostgreSQL (exact on SQLite); the list's exact
    assert listed == LeadCount(4)
    if connection.vendor == "postgresql":
        assert searched.is_estimate and searched.value >= 3
    else:
        assert searched == LeadCount(4)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the planner's estimate")
def test_a_search_expected_on_many_leads_shows_the_estimate_without_counting(
    people, owner_client, monkeypatch
):
    # Given a search the planner expects on more leads than the trusted estimate
    monkeypatch.setattr(lead_selectors, "SEARCH_ESTIMATE_TRUSTED", 1)

    # When the owner searches
    with CaptureQueriesContext(connection) as queries:
        total = owner_client.get(LEADS, {"q": "lopez"}).context["total"]

    # Then the total is the planner's estimate, and no COUNT ran
    assert total.is_estimate and total.value >= 1
    assert not [q for q in queries.captured_queries if q["sql"].startswith("SELECT COUNT(")]
    assert any(q["sql"].startswith("EXPLAIN") for q in queries.captured_queries)


@pytest.mark.sqlite
def test_the_search_works_on_either_database(publisher, owner_client):
    # Given a lead stored without accents (SQLite's fallback folds only the term)
    make_lead(
        publisher=publisher,
        email="j@northwind.example",
        first_name="Jose",
        last_name="Lopez",
        company="Northwind",
    )
    make_lead(publisher=publisher, email="b@tailspin.example", last_name="Smith")

    # When searching with accents, a part of a name, or the domain, Then the lead is found
    for term in ("LÓPEZ", "ope", "josé lop", "northwind.example"):
        assert shown(owner_client.get(LEADS, {"q": term})) == ["j@northwind.example"], term
    assert owner_client.get(LEADS, {"q": "ope"}).context["total"] == LeadCount(1)
