"""The storefront simulator: its generator (demo.simulation) and `simulate_storefront`."""

import io
import re
from collections import Counter
from datetime import UTC, datetime
from random import Random

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pydantic import ValidationError

from demo import selectors, simulation
from demo.simulation import Kind, LeadGenerator, Target
from leads.intake.schemas import LeadPayload, parse_lead_source
from leads.models import ApiKey, Lead, LeadActivity
from tests.leads.conftest import Storefronts

TARGETS = [
    Target("contoso.contoso-crm", "Contoso CRM", "appsource"),
    Target("contoso.d365-quick-start", "Contoso Dynamics 365 Quick Start", "appsource"),
    Target("contoso.contoso-crm", "Contoso CRM", "azure-marketplace"),
    Target("contoso.data-platform", "Contoso Data Platform", "azure-marketplace"),
]
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def generate(seed: int, count: int, targets=TARGETS) -> list[simulation.SimulatedLead]:
    return LeadGenerator(Random(seed), targets, clock=lambda: NOW).take(count)


def shares(values) -> dict:
    counts = Counter(values)
    total = sum(counts.values())
    return {key: number / total for key, number in counts.items()}


@pytest.fixture(scope="module")
def sample():
    return generate(seed=2026, count=2000)


# --- The generator --------------------------------------------------------------------


def test_the_same_seed_gives_the_same_leads():
    first, second = generate(seed=7, count=300), generate(seed=7, count=300)

    assert first == second
    assert generate(seed=8, count=300) != first


def test_the_mix_has_the_expected_shares(sample):
    kinds = shares(lead.kind for lead in sample)

    assert kinds[Kind.BAD] == pytest.approx(0.02, abs=0.01)
    assert kinds[Kind.TEST] == pytest.approx(0.01, abs=0.007)
    assert kinds[Kind.REPEAT] + kinds[Kind.REPLAY] == pytest.approx(0.20, abs=0.03)
    assert kinds[Kind.REPLAY] == pytest.approx(0.05, abs=0.02)
    assert kinds[Kind.NEW] == pytest.approx(0.77, abs=0.03)


def test_each_storefront_has_its_own_action_codes(sample):
    visits = [lead for lead in sample if lead.kind in {Kind.NEW, Kind.REPEAT}]
    appsource = shares(v.payload["ActionCode"] for v in visits if v.storefront == "appsource")
    azure = shares(v.payload["ActionCode"] for v in visits if v.storefront != "appsource")

    assert appsource.keys() == {"PLT", "INS", "DNC", "StartTestDrive"}
    assert appsource["PLT"] == pytest.approx(0.40, abs=0.05)
    assert appsource["DNC"] == pytest.approx(0.15, abs=0.04)
    assert azure.keys() == {"INS", "Create", "StartTestDrive"}
    assert azure["Create"] == pytest.approx(0.35, abs=0.05)
    assert azure["StartTestDrive"] == pytest.approx(0.25, abs=0.05)


def test_lead_sources_take_every_form_partner_center_sends(sample):
    visits = [lead.payload for lead in sample if lead.kind in {Kind.NEW, Kind.REPEAT}]
    sources = Counter(parse_lead_source(p["LeadSource"])[0] for p in visits)
    with_offer = [p for p in visits if "|" in p["LeadSource"]]
    by_name = [p for p in with_offer if p["LeadSource"].endswith(p["OfferTitle"])]

    assert set(sources) == {"AppSource", "AzureMarketplace", "AzurePortal", "TestDrive"}
    assert len(with_offer) / len(visits) == pytest.approx(0.65, abs=0.05)
    assert 0 < len(by_name) < len(with_offer)  # by display name and by publisherid.offerid
    assert any("OfferId" in p and "|" not in p["LeadSource"] for p in visits)
    assert any("OfferId" not in p and "|" not in p["LeadSource"] for p in visits)
    assert sum("LeadId" in p for p in visits) / len(visits) == pytest.approx(0.85, abs=0.04)
    consent = Counter(p.get("MarketingConsent") for p in visits)
    assert set(consent) == {True, False, None}


def test_countries_come_as_codes_and_names(sample):
    countries = {lead.payload["UserDetails"]["Country"] for lead in sample if lead.kind == "new"}

    assert {"US", "USA", "United States"} <= countries


def test_repeat_visitors_reuse_an_earlier_email_and_replays_an_earlier_lead(sample):
    seen_emails, seen_payloads = set(), {}
    for lead in sample:
        if lead.kind == Kind.REPEAT:
            assert lead.payload["UserDetails"]["Email"] in seen_emails
        if lead.kind == Kind.REPLAY:
            assert seen_payloads[lead.payload["LeadId"]] == lead.payload
        if lead.kind in {Kind.NEW, Kind.REPEAT}:
            seen_emails.add(lead.payload["UserDetails"]["Email"])
            if "LeadId" in lead.payload:
                seen_payloads[lead.payload["LeadId"]] = lead.payload


def test_every_good_payload_validates(sample):
    good = [lead for lead in sample if lead.kind != Kind.BAD]

    for lead in good:
        payload = LeadPayload.model_validate(lead.payload)
        assert payload.is_test == (lead.kind == Kind.TEST)
        assert lead.expected_status == (200 if lead.kind == Kind.REPLAY else 201)


def test_every_bad_payload_is_refused(sample):
    bad = [lead for lead in sample if lead.kind == Kind.BAD]
    offer_ids = {target.offer_id for target in TARGETS}

    assert {lead.defect for lead in bad} == {"email", "country", "offer"}
    for lead in bad:
        assert lead.expected_status == 422
        if lead.defect == "offer":  # valid JSON; intake refuses the offer no listing has
            assert LeadPayload.model_validate(lead.payload).OfferId not in offer_ids
            continue
        with pytest.raises(ValidationError) as refused:
            LeadPayload.model_validate(lead.payload)
        assert refused.value.errors()[0]["type"] == lead.defect


def test_an_ambiguous_display_name_is_never_used_to_name_the_offer():
    twins = [
        Target("contoso.crm", "CRM Suite", "azure-marketplace"),
        Target("fabrikam.crm", "CRM Suite", "azure-marketplace"),
    ]

    leads = generate(seed=1, count=300, targets=twins)

    for lead in leads:
        if lead.kind != Kind.BAD:
            assert "OfferId" in lead.payload or lead.payload["LeadSource"].endswith(".crm")


@pytest.mark.parametrize(
    ("text", "per_second"),
    [("5/s", 5.0), ("300/m", 5.0), ("7200/h", 2.0), ("2.5", 2.5), ("100 / s", 100.0)],
)
def test_rates_are_read_per_second_minute_or_hour(text, per_second):
    assert simulation.parse_rate(text) == per_second


@pytest.mark.parametrize("text", ["", "fast", "0/s", "5/d", "-1/s"])
def test_a_rate_that_is_not_one_is_refused(text):
    with pytest.raises(ValueError, match="Not a rate"):
        simulation.parse_rate(text)


# --- The command, end to end through a real HTTP server ----------------------------------

SUMMARY = re.compile(
    r"Summary: sent (?P<sent>\d+), 201: (?P<s201>\d+), 200: (?P<s200>\d+), "
    r"422: (?P<s422>\d+), other: (?P<other>\d+), [\d.]+ leads/s"
)


def simulate(live_server, *args) -> tuple[dict[str, int], str]:
    out = io.StringIO()
    call_command("simulate_storefront", "--url", live_server.url, "--wait", "5", *args, stdout=out)
    output = out.getvalue()
    match = SUMMARY.search(output)
    assert match, output
    return {name: int(value) for name, value in match.groupdict().items()}, output


def expected_answers(seed: int, count: int) -> Counter:
    targets = selectors.targets_published()
    leads = LeadGenerator(Random(seed), targets).take(count)
    return Counter(lead.expected_status for lead in leads)


@pytest.mark.parametrize("bulk", [[], ["--bulk", "10"]], ids=["single", "bulk"])
def test_the_simulator_posts_leads_through_the_api(live_server, transactional_db, bulk):
    market = Storefronts()
    expected = expected_answers(seed=0, count=30)  # new, repeat, replay, test and bad

    summary, output = simulate(
        live_server,
        *("--count", "30", "--rate", "100/s", "--seed", "0"),
        *("--key", market.azure_key, "--key", market.appsource_key),
        *bulk,
    )

    assert summary["sent"] == 30
    assert summary["s201"] + summary["s200"] + summary["s422"] == 30
    assert (summary["s201"], summary["s200"], summary["s422"]) == (
        expected[201],
        expected[200],
        expected[422],
    )
    assert "Answers other than the generator expected: 0." in output
    assert LeadActivity.objects.count() == summary["s201"]
    assert LeadActivity.objects.filter(is_test=True).count() >= 1
    assert Lead.objects.count() < summary["s201"]  # returning visitors were consolidated


def test_create_key_makes_a_key_per_storefront_and_revokes_it(live_server, transactional_db):
    Storefronts()

    summary, _ = simulate(live_server, "--count", "5", "--rate", "100/s", "--create-key")

    assert summary["sent"] == 5
    created = ApiKey.objects.filter(name="simulate_storefront")
    assert sorted(created.values_list("storefront", flat=True)) == [
        "appsource",
        "azure-marketplace",
    ]
    assert not created.filter(revoked_at__isnull=True).exists()


def test_without_a_key_the_command_says_how_to_get_one(transactional_db):
    Storefronts()

    with pytest.raises(CommandError, match="--create-key"):
        call_command("simulate_storefront", "--count", "1", stdout=io.StringIO())

    assert not LeadActivity.objects.exists()
