"""Intake's per-process reference data (leads.intake.reference): a change to a key, a
listing, a rule, a campaign, a publisher's threshold or a crm target is seen by the next
request; a repeated POST reads none of them from the database; publishers never share."""

from datetime import date

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import CrmTarget, Delivery
from leads.intake import api_keys, reference
from leads.models import ApiKey, Lead, Listing
from leads.scoring import services as scoring_services
from tests.factories import make_campaign, make_publisher, make_rule, make_target
from tests.leads.conftest import lead_payload, offer_published

pytestmark = pytest.mark.sqlite

REFERENCE_TABLES = (
    "leads_apikey",
    "leads_listing",
    "leads_scoringrule",
    "leads_campaign",
    "crm_crmtarget",
    "portal_publisher",
)


def _reference_reads(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith("SELECT")
        and any(f'FROM "{table}"' in q["sql"] for table in REFERENCE_TABLES)
    ]


def _other_process_bumps(family: str) -> None:
    """What another process's save does to this one: a new token in the shared cache."""
    cache.set(f"reference-token:{family}", "set-by-another-process", timeout=None)


def test_a_repeated_post_reads_no_reference_data(market, django_assert_max_num_queries):
    make_target(publisher=market.publisher)
    make_campaign(publisher=market.publisher, storefront="azure-marketplace", code="launch")
    market.post(lead_payload(email="first@contoso.example", CampaignCode="launch"))

    with CaptureQueriesContext(connection) as captured, django_assert_max_num_queries(11):
        answer = market.post(lead_payload(email="second@contoso.example", CampaignCode="launch"))

    assert answer.status_code == 201
    assert _reference_reads(captured.captured_queries) == []


def test_a_revoked_key_stops_at_the_next_request(market):
    assert market.post(lead_payload(email="a@contoso.example")).status_code == 201
    api_keys.api_key_revoke(api_key=ApiKey.objects.get(name="azure"))

    assert market.post(lead_payload(email="b@contoso.example")).status_code == 401


def test_a_key_revoked_by_another_process_stops_at_the_next_request(market):
    assert market.post(lead_payload(email="a@contoso.example")).status_code == 201
    # The other process's write goes round this one's signals; its token bump does not.
    ApiKey.objects.filter(name="azure").update(revoked_at=timezone.now())
    _other_process_bumps("keys")

    assert market.post(lead_payload(email="b@contoso.example")).status_code == 401


def test_an_entry_older_than_the_ttl_is_read_again(market, monkeypatch):
    assert market.post(lead_payload(email="a@contoso.example")).status_code == 201
    ApiKey.objects.filter(name="azure").update(revoked_at=timezone.now())  # no signal, no bump
    assert market.post(lead_payload(email="b@contoso.example")).status_code == 201

    monkeypatch.setattr(reference, "TTL_SECONDS", -1.0)

    assert market.post(lead_payload(email="c@contoso.example")).status_code == 401


def test_a_new_key_and_a_lost_token_are_seen(market):
    assert market.post(lead_payload(email="a@contoso.example")).status_code == 201
    _, key = api_keys.api_key_create(
        kind=ApiKey.Kind.STOREFRONT, name="new", storefront="appsource"
    )
    cache.clear()  # the tokens are lost: every process starts again from the database

    assert market.post(lead_payload(email="b@contoso.example"), key=key).status_code == 201
    assert market.post(lead_payload(email="c@contoso.example")).status_code == 201


def test_a_listing_change_is_seen_by_the_next_request(market):
    unknown = lead_payload(email="a@contoso.example", offer_id="contoso.brand-new")
    assert market.post(unknown).json()["detail"][0]["type"] == "unknown_offer"
    listing = offer_published(
        publisher=market.publisher, offer_id="contoso.brand-new", name="Brand New"
    )
    assert market.post(unknown).status_code == 201

    Listing.objects.filter(pk=listing.pk).update(status=Listing.Status.UNPUBLISHED)
    _other_process_bumps("listings")

    refused = market.post(lead_payload(email="b@contoso.example", offer_id="contoso.brand-new"))
    assert refused.json()["detail"][0]["type"] == "listing_not_published"


def test_rules_and_threshold_changes_are_seen_by_the_next_request(market):
    first = market.post(lead_payload(email="a@contoso.example")).json()
    rule = make_rule(publisher=market.publisher, condition="country_in", value="GB", points=40)

    second = market.post(lead_payload(email="b@contoso.example")).json()
    assert second["score"] == min(first["score"] + 40, 100)

    rule.is_active = False
    rule.save()
    assert market.post(lead_payload(email="c@contoso.example")).json()["score"] == first["score"]

    market.publisher.qualification_threshold = 100
    market.publisher.save()
    assert market.post(lead_payload(email="d@contoso.example")).json()["status"] == "new"
    market.publisher.qualification_threshold = 0
    market.publisher.save()
    assert market.post(lead_payload(email="e@contoso.example")).json()["status"] == "qualified"


def test_campaign_changes_are_seen_by_the_next_request(market):
    market.post(lead_payload(email="a@contoso.example", CampaignCode="launch"))
    launch = make_campaign(
        publisher=market.publisher, storefront="azure-marketplace", code="launch"
    )
    market.post(lead_payload(email="b@contoso.example", CampaignCode="launch"))
    current = make_campaign(
        publisher=market.publisher,
        storefront="azure-marketplace",
        listings=[market.azure],
        status="active",
        starts_on=date(2026, 1, 1),
    )
    market.post(lead_payload(email="c@contoso.example"))
    current.status = "paused"
    current.save()
    market.post(lead_payload(email="d@contoso.example"))

    campaigns = dict(Lead.objects.values_list("email", "latest_campaign"))
    assert campaigns == {
        "a@contoso.example": None,
        "b@contoso.example": launch.pk,
        "c@contoso.example": current.pk,
        "d@contoso.example": None,
    }


def test_crm_target_changes_are_seen_by_the_next_request(market):
    market.publisher.qualification_threshold = 0
    market.publisher.save()
    market.post(lead_payload(email="a@contoso.example"))
    target = make_target(publisher=market.publisher)
    market.post(lead_payload(email="b@contoso.example"))
    target.scope = CrmTarget.Scope.CHOSEN_LISTINGS
    target.save()
    target.listings.set([market.azure_other])
    market.post(lead_payload(email="c@contoso.example"))
    target.listings.add(market.azure)
    market.post(lead_payload(email="d@contoso.example"))

    delivered = set(
        Delivery.objects.filter(target__publisher=market.publisher).values_list(
            "lead__email", flat=True
        )
    )
    assert delivered == {"b@contoso.example", "d@contoso.example"}


def test_publishers_never_share_rules_campaigns_or_targets(market):
    other = make_publisher(name="Fabrikam", publisher_id="fabrikam", qualification_threshold=0)
    offer_published(publisher=other, offer_id="fabrikam.crm", name="Fabrikam CRM")
    make_rule(publisher=market.publisher, condition="country_in", value="GB", points=60)
    theirs = make_campaign(publisher=other, storefront="azure-marketplace", code="spring")
    ours = make_campaign(publisher=market.publisher, storefront="azure-marketplace", code="spring")
    make_target(publisher=market.publisher)
    market.publisher.qualification_threshold = 0
    market.publisher.save()

    for n in range(2):  # the second round is served from the cache
        contoso = market.post(lead_payload(email=f"c{n}@x.example", CampaignCode="spring"))
        fabrikam = market.post(
            lead_payload(email=f"f{n}@x.example", offer_id="fabrikam.crm", CampaignCode="spring")
        )
        assert contoso.json()["score"] >= 60
        assert fabrikam.json()["score"] < 60

    leads = {lead.email: lead for lead in Lead.objects.all()}
    assert {leads[f"c{n}@x.example"].latest_campaign_id for n in range(2)} == {ours.pk}
    assert {leads[f"f{n}@x.example"].latest_campaign_id for n in range(2)} == {theirs.pk}
    delivered = set(Delivery.objects.values_list("lead__email", flat=True))
    assert delivered == {"c0@x.example", "c1@x.example"}


def test_default_rules_seeded_in_bulk_are_seen(db):
    publisher = make_publisher()
    assert reference.rules_by_publisher(publisher_ids={publisher.pk}) == {publisher.pk: []}

    scoring_services.scoring_rules_seed_defaults(publisher=publisher)

    assert len(reference.rules_by_publisher(publisher_ids={publisher.pk})[publisher.pk]) > 0


def test_the_cache_keeps_at_most_max_entries(db, monkeypatch):
    monkeypatch.setattr(reference, "MAX_ENTRIES", 3)
    loads = []

    def load(keys):
        loads.append(sorted(keys))
        return {key: key * 10 for key in keys}

    found = reference.cached_many(family="scoring", keys=[1, 2, 3, 4], load=load)
    again = reference.cached_many(family="scoring", keys=[1, 4], load=load)

    assert found == {1: 10, 2: 20, 3: 30, 4: 40}
    assert again == {1: 10, 4: 40}
    assert loads == [[1, 2, 3, 4], [1]]  # 1 was the least recently used: dropped


def test_keys_the_loader_does_not_find_are_cached_only_with_a_default(db):
    loads = []

    def load(keys):
        loads.append(list(keys))
        return {}

    assert reference.cached_many(family="keys", keys=["x"], load=load) == {}
    assert reference.cached_many(family="keys", keys=["x"], load=load) == {}
    assert reference.cached_many(family="crm", keys=[7], load=load, default=()) == {7: ()}
    assert reference.cached_many(family="crm", keys=[7], load=load, default=()) == {7: ()}

    assert loads == [["x"], ["x"], [7]]
