"""Intake: storefront leads become scored, qualified, attributed and delivered leads.

One code path serves the single and the bulk endpoint: a batch is ingested with a
fixed number of queries whatever its size, in one transaction (DESIGN §4). For each
item, in order, it
  1. consolidates on the normalized email per publisher and origin (a merged lead's
     address consolidates into its survivor, `Lead.merged_into`),
  2. rescores the lead,
  3. qualifies it when the score reaches the threshold,
  4. attributes the campaign (CampaignCode, else the listing's active campaign),
  5. writes the outbox rows: lead.qualified when it has just qualified, lead.updated
     when an already qualified lead gets a new activity.
Celery hears of the deliveries only after commit, and intake never depends on it.

Writes: existing leads are locked (one SELECT … FOR UPDATE); a new person's lead is
built in memory and inserted whole, once. Leads, activities, consent evidence and
transitions are then written one statement each (`leads.intake.writes`: set-based
`unnest` on PostgreSQL, in `leads.intake.sql`; the ORM elsewhere).

Idempotency: the unique (storefront, external_id) constraint is the arbiter. When a
concurrent request already holds one of a batch's external ids, the batch is split and
retried, and the loser answers 200 with the winner's stored answer.

Isolation: when the database refuses a batch (a unique or data error), the batch is
halved and each half retried in its own transaction, down to the single item, so one
item the database refuses costs about 2·log2(n) attempts and never sinks the others; that
item answers 422 `unstorable`. A clean batch still costs its fixed number of queries.

Concurrency: rows are locked in one order in every transaction (existing leads locked
by primary key first, then new leads inserted sorted by (publisher, normalized email),
activities inserted sorted by (storefront, external id)), so two batches of the same
people in different orders wait for each other instead of deadlocking. The one that
finds a new person created by the other meanwhile (`writes.LeadRaced`) runs again, in a
new transaction, claiming its new people first (empty rows, ON CONFLICT DO NOTHING, then
locked with the others, as before the whole insert): it consolidates into that lead, and
cannot race again. Should PostgreSQL still
report a deadlock or a serialization failure, the transaction is retried here, a few
times with a short jittered backoff; the client never sees it.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID, uuid4

from django.db import DataError, IntegrityError
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.catalog.storefronts import storefront_mask
from leads.consent import services as consent_services
from leads.consent.policy import consent_decide, consent_stated
from leads.intake import reference, writes
from leads.intake.offers import listings_for
from leads.intake.schemas import LeadPayload, UserDetails, parse_lead_source
from leads.intake.transactions import ItemOutcome, run_atomic, unstorable
from leads.lifecycle.services import LeadEvent, lead_move, leads_changes_record
from leads.models import Campaign, Lead, LeadActivity, Listing
from leads.nurture import services as nurture
from leads.scoring.rules import (
    SCORED_FIELDS,
    ActivityFact,
    Assessment,
    RuleSpec,
    activity_facts,
    lead_assess,
)
from portal import metrics

logger = logging.getLogger(__name__)

POST_QUALIFIED = {
    Lead.Status.QUALIFIED,
    Lead.Status.ACCEPTED,
    Lead.Status.WON,
    Lead.Status.LOST,
}


@dataclass
class IntakeItem:
    payload: LeadPayload
    raw: dict
    idempotency_key: str | None = None
    # From a publisher's file: a MarketingConsent it states is evidenced as "import".
    is_imported: bool = False

    @property
    def external_id(self) -> str | None:
        # An empty Idempotency-Key header is no key (it would collide with every other).
        return self.payload.LeadId or self.idempotency_key or None


def leads_ingest(*, storefront: str, items: list[IntakeItem]) -> list[ItemOutcome]:
    """Ingest a batch of storefront leads; one outcome per item, in order."""
    outcomes: list[ItemOutcome | None] = [None] * len(items)
    listings = listings_for(storefront=storefront, payloads=[item.payload for item in items])
    replays = _stored_answers(storefront=storefront, items=items)
    first_index_of: dict[str, int] = {}
    todo: list[int] = []
    for index, item in enumerate(items):
        key = item.external_id
        if key and key in replays:
            outcomes[index] = ItemOutcome(200, answer=replays[key])
        elif isinstance(listings[index], ItemOutcome):
            outcomes[index] = listings[index]
        elif key and key in first_index_of:
            continue  # the same id twice in one batch: answered below as a replay
        else:
            if key:
                first_index_of[key] = index
            todo.append(index)

    created = _ingest_isolated(storefront, [(i, items[i], listings[i]) for i in todo])
    for index, outcome in created.items():
        outcomes[index] = outcome
        if outcome.status_code == 201:
            counter = (
                metrics.LEADS_CONSOLIDATED
                if outcome.answer["consolidated"]
                else metrics.LEADS_CREATED
            )
            counter.labels(storefront=storefront).inc()

    for index, item in enumerate(items):
        if outcomes[index] is None:  # a repeated id within the batch
            first = outcomes[first_index_of[item.external_id]]
            outcomes[index] = ItemOutcome(200, answer=first.answer) if first.answer else first
    return outcomes


def _ingest_isolated(storefront: str, entries: list) -> dict[int, ItemOutcome]:
    """Ingest entries in one transaction; on a refusal, halve them until it is isolated."""
    if not entries:
        return {}
    try:
        return _run_batch(storefront, entries)
    except (IntegrityError, DataError) as exc:
        if len(entries) > 1:
            middle = len(entries) // 2
            return {
                **_ingest_isolated(storefront, entries[:middle]),
                **_ingest_isolated(storefront, entries[middle:]),
            }
        ((index, item, _listing),) = entries
        if isinstance(exc, IntegrityError):
            # A concurrent request committed this external id first: answer with its answer.
            stored = _stored_answers(storefront=storefront, items=[item])
            if item.external_id in stored:
                return {index: ItemOutcome(200, answer=stored[item.external_id])}
        return {index: unstorable(exc)}


def _run_batch(storefront: str, entries: list) -> dict[int, ItemOutcome]:
    """One transaction for the batch.

    A single lead's new person is inserted whole at the end (one statement fewer). A batch
    of several claims its new people before anything else (empty rows, ON CONFLICT DO
    NOTHING, then locked with the others): bulk imports of the same people at once race
    often, and a raced batch would do its work twice (measured: 603 against 1,203 leads/s,
    docs/benchmarks.md). When a single lead races, it runs again claiming: that run cannot
    race, so intake never gives up on it."""
    claim_new = len(entries) > 1
    try:
        return run_atomic(lambda: _ingest_batch(storefront, entries, claim_new=claim_new))
    except writes.LeadRaced:
        logger.info("leads.intake.raced")
    return run_atomic(lambda: _ingest_batch(storefront, entries, claim_new=True))


def _stored_answers(*, storefront: str, items: list[IntakeItem]) -> dict[str, dict]:
    keys = {item.external_id for item in items if item.external_id}
    return writes.stored_answers(storefront=storefront, keys=keys)


@dataclass
class _Person:
    """One lead being worked on in a batch: its row, what it was, and its activities."""

    lead: Lead
    is_new: bool
    facts: list[ActivityFact] = field(default_factory=list)
    seen_in_batch: bool = False
    stored: bool = True  # its row exists (locked); else it is inserted whole at the end


def _ingest_batch(
    storefront: str, entries: list[tuple[int, IntakeItem, Listing]], *, claim_new: bool = False
):
    if not entries:
        return {}
    now = timezone.now()
    people = _lock_people(entries, now, claim_new=claim_new)
    rules = _rules_by_publisher({listing.publisher_id for _, _, listing in entries})
    campaigns = _campaigns_for(entries, now)

    activities, transitions, events, outcomes, consents = [], [], [], {}, []
    for index, item, listing in entries:
        person = people[
            (listing.publisher_id, Lead.normalize_email(item.payload.UserDetails.Email))
        ]
        consolidated = not person.is_new or person.seen_in_batch
        activity, evidence = _apply_item(person, item, listing, campaigns, now)
        if not activity.is_test:  # a validation lead is never nurtured: no evidence needed
            consents.append(evidence)
        assessment = _rescore(person, rules[listing.publisher_id], listing, activity, now)
        event = _qualify(person, assessment, now, transitions)
        if event and not activity.is_test:
            events.append(LeadEvent(person.lead, event, listing.pk))
        answer = {
            "id": str(person.lead.uuid),
            "status": person.lead.status,
            "score": person.lead.score,
            "consolidated": consolidated,
        }
        activity.intake_response = answer
        activities.append(activity)
        person.seen_in_batch = True
        outcomes[index] = ItemOutcome(201, answer=answer)

    # One person per lead: a survivor and a lead merged into it share theirs. New leads
    # are inserted whole, sorted by person (see the docstring); the others were locked.
    persons = list({id(person): person for person in people.values()}.values())
    writes.leads_insert(
        leads=sorted(
            (person.lead for person in persons if not person.stored),
            key=lambda lead: (lead.publisher_id, lead.email_normalized),
        )
    )
    writes.leads_update(
        leads=[person.lead for person in persons if person.stored],
        fields=_LEAD_UPDATE_FIELDS,
    )
    # Unique external ids are taken in one order by every transaction (see the docstring).
    writes.rows_insert(objs=sorted(activities, key=_activity_lock_order), returning=True)
    # Consent evidence, one row per activity (after them: it references their ids).
    writes.rows_insert(objs=consents)
    writes.rows_insert(objs=transitions)
    leads_changes_record(transitions=transitions, events=events, now=now, written=True)
    # Stop the sequences of leads that acquired the offer (INS or Create) and enrol
    # newly attributed leads; at most two queries per batch.
    nurture.intake_batch_nurture(
        activities=activities,
        now=now,
        policy_grants={record.activity.pk for record in consents if record.is_policy_grant},
    )
    return outcomes


# The lead's contact fields a storefront payload updates, with their names in UserDetails.
FOLDED_CONTACT_FIELDS = (
    ("first_name", "FirstName"),
    ("last_name", "LastName"),
    ("phone", "Phone"),
    ("country", "Country"),
    ("company", "Company"),
    ("title", "Title"),
)
_LEAD_UPDATE_FIELDS = [
    *(field_name for field_name, _detail_name in FOLDED_CONTACT_FIELDS),
    *SCORED_FIELDS,
    "marketing_consent",
    "marketing_consent_at",
    "first_campaign",
    "latest_campaign",
    "last_activity_at",
    "storefronts",
    "updated_at",
]


def _activity_lock_order(activity: LeadActivity) -> tuple:
    # Keyed activities first, by key; the others keep their batch order (a stable sort).
    if activity.external_id is None:
        return (1, "", "")
    return (0, activity.storefront, activity.external_id)


def _lock_people(entries, now: datetime, *, claim_new: bool) -> dict[tuple[int, str], _Person]:
    """Lock the batch's existing leads, in primary-key order; the people without a lead
    get a new one, in memory, inserted whole once the batch is worked out. With
    `claim_new`, the new people's leads are first inserted empty (sorted, ON CONFLICT DO
    NOTHING: one a concurrent request just created is simply found) and locked with the
    others, then written like them.

    Every transaction locks its existing leads before inserting any new one, and inserts
    its new ones sorted by (publisher, normalized email): two transactions that insert
    the same people then wait on the first common one instead of each holding one the
    other needs. The second finds them created (writes.LeadRaced) and runs again.
    """
    wanted: dict[tuple[int, str], tuple[IntakeItem, Listing]] = {}
    for _index, item, listing in entries:
        key = (listing.publisher_id, Lead.normalize_email(item.payload.UserDetails.Email))
        wanted.setdefault(key, (item, listing))
    fresh: dict[tuple[int, str], UUID] = {}
    if claim_new:
        fresh = {key: uuid4() for key in wanted}
        writes.leads_claim(
            rows=[
                {
                    "uuid": fresh[key],
                    "publisher_id": key[0],
                    "email": wanted[key][0].payload.UserDetails.Email,
                    "email_normalized": key[1],
                    "is_test": wanted[key][0].payload.is_test,
                }
                for key in sorted(fresh)
            ],
            now=now,
        )

    # A merged (hidden) lead's address consolidates into its survivor: the survivors of the
    # batch's merged leads are locked by the same statement, all rows in primary-key order.
    leads = writes.leads_lock(keys=list(wanted))
    rows = {lead.pk: lead for lead in leads}
    late = {lead.merged_into_id for lead in rows.values()} - {None, *rows}
    if late:  # a merge committed while this statement waited for a merged lead's lock
        survivors_late = Lead.objects.select_for_update().filter(pk__in=late)
        rows.update((lead.pk, lead) for lead in survivors_late)
    people: dict[tuple[int, str], _Person] = {}
    by_lead: dict[int, _Person] = {}
    for lead in rows.values():
        key = (lead.publisher_id, lead.email_normalized)
        if key not in wanted:
            continue  # a survivor reached through the address of a lead merged into it
        target = rows[lead.merged_into_id] if lead.merged_into_id else lead
        if target.pk not in by_lead:
            is_new = key in fresh and target.uuid == fresh[key]
            by_lead[target.pk] = _Person(lead=target, is_new=is_new)
        people[key] = by_lead[target.pk]
    _load_facts(people)
    for key, (item, listing) in wanted.items():
        if key not in people:
            lead = _new_lead(item, listing.publisher_id, key[1], now)
            people[key] = _Person(lead=lead, is_new=True, stored=False)
    return people


def _new_lead(item: IntakeItem, publisher_id: int, email_normalized: str, now) -> Lead:
    details = item.payload.UserDetails
    return Lead(
        publisher_id=publisher_id,
        origin=Lead.Origin.MARKETPLACE,
        email=details.Email,
        email_normalized=email_normalized,
        is_test=item.payload.is_test,
        created_at=now,
        updated_at=now,
    )


def _load_facts(people: dict[tuple[int, str], _Person]) -> None:
    by_lead = {person.lead.pk: person for person in people.values() if not person.is_new}
    if not by_lead:
        return
    for lead_id, facts in activity_facts(lead_ids=by_lead).items():
        by_lead[lead_id].facts.extend(facts)


def _rules_by_publisher(publisher_ids: set[int]) -> dict[int, list[RuleSpec]]:
    return reference.rules_by_publisher(publisher_ids=publisher_ids)


class _Campaigns:
    """The batch's campaigns: by attribution code, and each listing's active one."""

    def __init__(self, by_code: dict, by_listing: dict):
        self.by_code = by_code
        self.by_listing = by_listing

    def attribute(self, listing: Listing, code: str | None) -> Campaign | None:
        campaign = self.by_code.get((listing.publisher_id, (code or "").lower()))
        if campaign is not None and campaign.storefront == listing.storefront:
            return campaign
        return self.by_listing.get(listing.pk)


def _campaigns_for(entries, now: datetime) -> _Campaigns:
    codes = {
        (listing.publisher_id, item.payload.CampaignCode.lower())
        for _, item, listing in entries
        if item.payload.CampaignCode
    }
    by_code = reference.campaigns_by_code(codes=codes) if codes else {}
    by_listing = reference.campaigns_active(
        listing_ids={listing.pk for _, _, listing in entries}, today=now.date()
    )
    return _Campaigns(by_code, by_listing)


def contact_fold(lead: Lead, details: UserDetails) -> None:
    """Fold a payload's contact fields into the lead: the newest non-empty value wins."""
    for field_name, detail_name in FOLDED_CONTACT_FIELDS:
        value = getattr(details, detail_name)
        if value:  # an empty field never erases
            setattr(lead, field_name, value)


def _apply_item(person: _Person, item: IntakeItem, listing: Listing, campaigns, now):
    """Fold one storefront interaction into the lead; build its activity row and the
    consent decision it carries."""
    lead, payload, details = person.lead, item.payload, item.payload.UserDetails
    stated_before = consent_stated(lead)
    contact_fold(lead, details)
    if payload.MarketingConsent is not None:
        lead.marketing_consent = payload.MarketingConsent
        lead.marketing_consent_at = now
    occurred_at = min(payload.CreatedTime or now, now)
    lead.last_activity_at = max(filter(None, [lead.last_activity_at, occurred_at]))
    lead.storefronts |= storefront_mask([listing.storefront])
    campaign = campaigns.attribute(listing, payload.CampaignCode)
    if campaign is not None and not payload.is_test:
        lead.first_campaign = lead.first_campaign or campaign
        lead.latest_campaign = campaign
    lead.updated_at = now
    action = payload.ActionCode or parse_lead_source(payload.LeadSource)[1]
    person.facts.append(
        ActivityFact(action, listing.storefront, listing.pk, occurred_at, payload.is_test)
    )
    decision = consent_decide(
        flag=payload.MarketingConsent,
        is_imported=item.is_imported,
        stated_before=stated_before,
        listing=listing,
        country=lead.country,
        action=action,
    )
    activity = LeadActivity(
        lead=lead,
        listing=listing,
        campaign=campaign,
        storefront=listing.storefront,
        action_code=action,
        lead_source=payload.LeadSource,
        external_id=item.external_id,
        description=payload.Description,
        occurred_at=occurred_at,
        is_test=payload.is_test,
        raw_payload=item.raw,
        created_at=now,
    )
    evidence = consent_services.consent_record_build(
        lead=lead,
        activity=activity,
        listing=listing,
        decision=decision,
        flag=payload.MarketingConsent,
        now=now,
    )
    return activity, evidence


def _rescore(
    person: _Person, rules: list[RuleSpec], listing: Listing, activity: LeadActivity, now
) -> Assessment:
    """Score the lead under its publisher's rules, against the threshold of the activity's
    campaign or the listing's publisher; the assessment says whether it may qualify."""
    assessment = lead_assess(
        person.lead,
        person.facts,
        rules,
        publisher_threshold=listing.publisher.qualification_threshold,
        campaign=activity.campaign,
        now=now,
    )
    person.lead.score = assessment.result.score
    person.lead.score_breakdown = assessment.result.breakdown
    return assessment


def _qualify(person: _Person, assessment: Assessment, now, transitions: list) -> str | None:
    """Qualify the lead if it now may be; return the delivery event this activity owes."""
    lead = person.lead
    if lead.status in POST_QUALIFIED:
        return "updated"
    if lead.status == Lead.Status.NEW and assessment.may_qualify:
        reason = _("Score %(score)s reached the threshold %(threshold)s.") % {
            "score": lead.score,
            "threshold": assessment.threshold,
        }
        transitions.append(lead_move(lead, to_status=Lead.Status.QUALIFIED, reason=reason, now=now))
        return "qualified"
    return None
