"""The demo's leads, generated row by row from a seeded `random.Random`.

Each lead gets one to four storefront visits, the score the portal's own scorer gives
them, a lifecycle consistent with that score (DESIGN §3) and, once qualified, its outbox
row. The rows are tuples in the column order of demo.bulk, which writes them.
"""

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from demo.catalogue import DEMO_PUBLISHERS, DEMO_SLUGS, DEMO_TARGET_NAME
from demo.people import (
    COMPANIES,
    CONTACT_NOTES,
    COUNTRIES,
    COUNTRY_WEIGHTS,
    FIRST_NAMES,
    LAST_NAMES,
    TITLES,
    ascii_fold,
    company_domain,
    phone_draw,
)
from leads.catalog.storefronts import ListingType, storefront_mask
from leads.models import Campaign, Lead, Listing
from leads.scoring.rules import LeadFacts, RuleSpec, score_lead
from portal.models import Publisher

# (source, action) per listing type, repeated to weight them.
ACTIONS_BY_TYPE = {
    ListingType.APP: (("AppSource", "INS"),) * 4 + (("AppSource", "PLT"),) * 3
    + (("TestDrive", "StartTestDrive"), ("AppSource", "DNC")),
    ListingType.CONSULTING_SERVICE: (("AppSource", "PLT"),) * 5 + (("AppSource", "DNC"),),
    ListingType.OFFER: (("AzureMarketplace", "INS"),) * 3 + (("AzurePortal", "Create"),) * 3
    + (("AzureMarketplace", "PLT"), ("TestDrive", "StartTestDrive")),
    ListingType.TECHNOLOGY: (("AzureMarketplace", "INS"),) * 2
    + (("AzureMarketplace", "PLT"), ("AzurePortal", "Create")),
}  # fmt: skip
REFERRAL_NOTES = (
    "Referred by a Microsoft seller: customer is consolidating data platforms this year.",
    "Microsoft account team referral: migration of 200 VMs, budget approved.",
    "Co-Sell referral: customer asked for a joint workshop with Microsoft.",
)
STATUS_REASONS = {
    Lead.Status.ACCEPTED: ("Opportunity created in the CRM", "Discovery call booked"),
    Lead.Status.WON: ("Signed a 12-month subscription", "Purchase order received"),
    Lead.Status.LOST: ("Chose a competitor", "No budget this year"),
    Lead.Status.DISQUALIFIED: ("Student project", "Not a decision maker", "Existing customer"),
}
# The lifecycle of DESIGN §3: the moves after qualification that end in each status.
FATE_PATHS = {
    Lead.Status.ACCEPTED: (Lead.Status.ACCEPTED,),
    Lead.Status.WON: (Lead.Status.ACCEPTED, Lead.Status.WON),
    Lead.Status.LOST: (Lead.Status.ACCEPTED, Lead.Status.LOST),
    Lead.Status.DISQUALIFIED: (Lead.Status.DISQUALIFIED,),
}
QUALIFIED_FATES = (
    (Lead.Status.QUALIFIED,) * 9 + (Lead.Status.ACCEPTED,) * 4 + (Lead.Status.WON,) * 2
    + (Lead.Status.LOST,) * 2 + (Lead.Status.DISQUALIFIED,) * 3
)  # fmt: skip
SPREAD_SECONDS = 90 * 86_400 - 3_600  # activities fall within the last 90 days


@dataclass(frozen=True)
class DemoListing:
    id: int
    storefront: str
    listing_type: str
    name: str
    offer_id: str
    campaigns: tuple[tuple[int, str, datetime, datetime], ...]  # (id, code, start, end)


@dataclass(frozen=True)
class DemoPublisher:
    id: int
    threshold: int
    co_sell_enrolled: bool
    share: float
    rules: tuple[tuple, ...]  # (id, name, condition, parsed value, points)
    listings: tuple[DemoListing, ...]
    actor_id: int  # who made the manual status moves
    target_id: int | None  # the HTTPS target that qualified leads go to


@dataclass(frozen=True)
class LeadContext:
    now: datetime
    publishers: tuple[DemoPublisher, ...]

    def publisher_for(self, rng: random.Random, *, co_sell: bool) -> DemoPublisher:
        if co_sell:
            return next(p for p in self.publishers if p.co_sell_enrolled)
        draw = rng.random()
        for publisher in self.publishers:
            draw -= publisher.share
            if draw < 0:
                return publisher
        return self.publishers[-1]


def context_load(*, users: dict, now: datetime) -> LeadContext:
    shares = {spec["slug"]: spec["share"] for spec in DEMO_PUBLISHERS}
    publishers = []
    for publisher in Publisher.objects.filter(slug__in=DEMO_SLUGS).order_by("pk"):
        member_ids = set(publisher.memberships.values_list("user_id", flat=True))
        owner = users["owner"]
        target = publisher.crm_targets.filter(name=DEMO_TARGET_NAME).first()
        publishers.append(
            DemoPublisher(
                id=publisher.pk,
                threshold=publisher.qualification_threshold,
                co_sell_enrolled=publisher.co_sell_enrolled,
                share=shares[publisher.slug],
                rules=_rules_load(publisher=publisher),
                listings=_listings_load(publisher=publisher, now=now),
                actor_id=owner.pk if owner.pk in member_ids else users["staff"].pk,
                target_id=target.pk if target else None,
            )
        )
    return LeadContext(now=now, publishers=tuple(p for p in publishers if p.listings))


def _listings_load(*, publisher: Publisher, now: datetime) -> tuple[DemoListing, ...]:
    campaigns = {c.pk: c for c in publisher.campaigns.prefetch_related("listings")}
    listings = []
    for listing in publisher.listings.filter(status=Listing.Status.PUBLISHED).order_by("pk"):
        windows = tuple(
            (c.pk, c.code, *_window_of(c, now=now))
            for c in campaigns.values()
            if c.status != Campaign.Status.DRAFT and listing in c.listings.all()
        )
        listings.append(
            DemoListing(
                id=listing.pk,
                storefront=listing.storefront,
                listing_type=listing.listing_type,
                name=listing.name,
                offer_id=listing.offer_id,
                campaigns=windows,
            )
        )
    return tuple(listings)


def _window_of(campaign: Campaign, *, now: datetime) -> tuple[datetime, datetime]:
    start = datetime.combine(campaign.starts_on, datetime.min.time(), tzinfo=UTC)
    if campaign.ends_on is None:
        return start, now
    return start, datetime.combine(campaign.ends_on, datetime.max.time(), tzinfo=UTC)


def _rules_load(*, publisher: Publisher) -> tuple[RuleSpec, ...]:
    rules = publisher.scoring_rules.filter(is_active=True).order_by("position", "pk")
    return tuple(RuleSpec.from_rule(rule) for rule in rules)


def _score(rules: tuple[RuleSpec, ...], person: dict, visits: list[tuple], now: datetime):
    """Score with the portal's own scorer, on the facts intake would have gathered."""
    facts = LeadFacts(
        email=person["email"],
        country=person["country"],
        title=person["title"],
        company=person["company"],
        phone=person["phone"],
        action_codes=frozenset(visit[2] for visit in visits if visit[2]),
        storefronts=frozenset(visit[1].storefront for visit in visits),
        listing_ids=frozenset(visit[1].id for visit in visits),
        activity_count=len(visits),
        last_activity_at=visits[-1][0],
    )
    result = score_lead(rules, facts, now=now)
    return result.score, result.breakdown


def _person(rng: random.Random, index: int) -> dict:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    company = rng.choice(COMPANIES)
    country, _, _, calling_code, _ = rng.choices(COUNTRIES, weights=COUNTRY_WEIGHTS)[0]
    return {
        "first_name": first,
        "last_name": last,
        "email": f"{ascii_fold(first)}.{ascii_fold(last)}.{index}@{company_domain(company)}",
        "phone": phone_draw(rng, calling_code),
        "country": country,
        "company": company,
        "title": rng.choice(TITLES),
        "marketing_consent": rng.random() < 0.55,
        "is_test": False,
    }


def _test_person(index: int) -> dict:
    """A Partner Center validation lead, exactly as its MSFT_TEST_ fields come."""
    token = f"MSFT_TEST_{636573304831318844 + index * 7919}"
    return {
        "first_name": token,
        "last_name": token,
        "email": f"{token}@test.com",
        "phone": "1234567890",
        "country": "US",
        "company": token,
        "title": token,
        "marketing_consent": False,
        "is_test": True,
    }


def _visits(rng: random.Random, publisher: DemoPublisher, now: datetime, *, is_test: bool):
    """One to four storefront interactions: (occurred, listing, action, source, campaign, note)."""
    first_at = now - timedelta(seconds=SPREAD_SECONDS * (1 - rng.random() ** 0.7))
    moments = [first_at]
    if not is_test and rng.random() < 0.15:  # a repeat visitor
        span = (now - first_at).total_seconds()
        moments += sorted(
            first_at + timedelta(seconds=span * rng.random()) for _ in range(rng.randint(1, 3))
        )
    listing = rng.choice(publisher.listings)
    visits = []
    for occurred in moments:
        if rng.random() < 0.4:
            listing = rng.choice(publisher.listings)
        source, action = rng.choice(ACTIONS_BY_TYPE[listing.listing_type])
        running = [c for c in listing.campaigns if c[2] <= occurred <= c[3]]
        attributed = running and not is_test and rng.random() < 0.45
        campaign = rng.choice(running) if attributed else None
        note = rng.choice(CONTACT_NOTES) if action == "PLT" else ""
        visits.append((occurred, listing, action, source, campaign, note))
    return visits


def _lifecycle(rng: random.Random, *, lead_id: int, qualified: str | None, since, ctx) -> tuple:
    """A status consistent with the score, and the transitions that led to it.

    `qualified` is the reason intake would have given when the score reached the
    threshold, or None for a lead that never reached it.
    """
    now, actor_id = ctx
    moves, at = [], since + timedelta(seconds=2)
    if qualified:
        moves.append((Lead.Status.NEW, Lead.Status.QUALIFIED, None, qualified, at))
        fate = rng.choice(QUALIFIED_FATES)
    else:
        fate = Lead.Status.DISQUALIFIED if rng.random() < 0.12 else Lead.Status.NEW
    for to_status in FATE_PATHS.get(fate, ()):
        at += (now - at) * rng.random()
        from_status = moves[-1][1] if moves else Lead.Status.NEW
        reason = rng.choice(STATUS_REASONS[to_status])
        moves.append((from_status, to_status, actor_id, reason, at))
    life = {"status": Lead.Status.NEW, "changed_at": None, "by": None, "reason": ""}
    life["qualified_at"] = moves[0][4] if qualified else None
    if moves:
        _, life["status"], life["by"], life["reason"], life["changed_at"] = moves[-1]
    return life, [(lead_id, *move) for move in moves]


def _payload(person: dict, visit: tuple) -> str:
    """The Partner Center JSON the storefront would have posted (DESIGN §5)."""
    _, listing, action, source, campaign, note = visit
    payload = {
        "UserDetails": {
            "FirstName": person["first_name"],
            "LastName": person["last_name"],
            "Email": person["email"],
            "Phone": person["phone"],
            "Country": person["country"],
            "Company": person["company"],
            "Title": person["title"],
        },
        "LeadSource": source,
        "ActionCode": action,
        "OfferTitle": listing.name,
        "OfferId": listing.offer_id,
        "Description": note,
    }
    if campaign:
        payload["CampaignCode"] = campaign[1]
    return json.dumps(payload, ensure_ascii=False)


def _activity_rows(lead_id: int, person: dict, visits: list[tuple], rng: random.Random) -> list:
    rows = []
    for visit in visits:
        occurred, listing, action, source, campaign, note = visit
        offer = listing.name if rng.random() < 0.7 else listing.offer_id
        lead_source = f"{source}-{action}|{offer}" if source != "Co-Sell" else source
        if person["is_test"]:
            lead_source = f"{person['title']}-{person['title']}|{listing.name}"
            note = person["title"]
        payload = _payload(person, visit) if source != "Co-Sell" else "{}"
        row = (
            lead_id, listing.id, campaign[0] if campaign else None, listing.storefront, action,
            lead_source, note, occurred, person["is_test"], payload,
            occurred + timedelta(milliseconds=rng.randint(40, 900)),
        )  # fmt: skip
        rows.append(row)
    return rows


def _delivery_row(rng: random.Random, lead_id: int, target_id: int, qualified_at, now) -> tuple:
    """The outbox row of a qualified lead: mostly delivered, a few failed or still pending."""
    draw = rng.random()
    sent_at = qualified_at + timedelta(seconds=rng.uniform(0.5, 6))
    if draw < 0.04 and now - qualified_at > timedelta(hours=73):
        # Gave up after the ~72 hours of retries (DESIGN §4).
        failed_at = qualified_at + timedelta(hours=72)
        return (
            lead_id, target_id, "lead.qualified", "failed", 15, None,
            "HTTP 503 from the endpoint", 503, "Service Unavailable", None, uuid.uuid4(),
            qualified_at, failed_at,
        )  # fmt: skip
    if draw < 0.08:
        retry_at = now + timedelta(minutes=rng.randint(1, 30))
        return (
            lead_id, target_id, "lead.qualified", "pending", rng.randint(1, 3), retry_at,
            "Connection timed out after 10 s", None, "", None, uuid.uuid4(), qualified_at,
            sent_at,
        )  # fmt: skip
    return (
        lead_id, target_id, "lead.qualified", "delivered", 1, None, "", 200,
        '{"received": true}', sent_at, uuid.uuid4(), qualified_at, sent_at,
    )  # fmt: skip


def lead_generate(context: LeadContext, rng: random.Random, lead_id: int, index: int):
    """One lead with its activity and transition rows and, if qualified, its delivery row."""
    now = context.now
    co_sell = index % 500 in (17, 167, 317) and any(p.co_sell_enrolled for p in context.publishers)
    is_test = not co_sell and index % 1000 in (101, 251)
    publisher = context.publisher_for(rng, co_sell=co_sell)
    person = _test_person(index) if is_test else _person(rng, index)
    if co_sell:
        # A seller-qualified referral: never scored, nurtured or in a campaign (DESIGN §1).
        occurred = now - timedelta(seconds=SPREAD_SECONDS * rng.random())
        note = rng.choice(REFERRAL_NOTES)
        visits = [(occurred, rng.choice(publisher.listings), "", "Co-Sell", None, note)]
        score, breakdown, person["marketing_consent"] = 0, [], False
    else:
        visits = _visits(rng, publisher, now, is_test=is_test)
        score, breakdown = _score(publisher.rules, person, visits, now)
    # Intake's rule: at the threshold, not a test lead, and more than do-not-contact.
    qualified = None
    contactable = any(visit[2] != "DNC" for visit in visits)
    if not (co_sell or is_test) and score >= publisher.threshold and contactable:
        qualified = f"Score {score} reached the threshold {publisher.threshold}."
    first_at, last_at = visits[0][0], visits[-1][0]
    life, transitions = _lifecycle(
        rng, lead_id=lead_id, qualified=qualified, since=last_at, ctx=(now, publisher.actor_id)
    )
    campaigns = [visit[4][0] for visit in visits if visit[4]]
    origin = Lead.Origin.CO_SELL if co_sell else Lead.Origin.MARKETPLACE
    lead = (
        lead_id, uuid.uuid4(), publisher.id, origin, person["first_name"], person["last_name"],
        person["email"], Lead.normalize_email(person["email"]), person["phone"],
        person["country"], person["company"], person["title"], score, json.dumps(breakdown),
        life["status"], person["marketing_consent"],
        first_at if person["marketing_consent"] else None, is_test,
        campaigns[0] if campaigns else None, campaigns[-1] if campaigns else None,
        life["qualified_at"], life["changed_at"], life["by"], life["reason"], last_at, first_at,
        max(last_at, life["changed_at"] or last_at),
        storefront_mask(visit[1].storefront for visit in visits),
    )  # fmt: skip
    delivery = None
    if life["qualified_at"] and publisher.target_id:
        delivery = _delivery_row(rng, lead_id, publisher.target_id, life["qualified_at"], now)
    return lead, _activity_rows(lead_id, person, visits, rng), transitions, delivery
