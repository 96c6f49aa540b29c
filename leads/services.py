"""Writes for listings and campaigns. Views, admin and commands call these, never save()."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from leads import tasks
from leads.catalog.selectors import PublishBlocker, listing_publish_blockers
from leads.intake import api_keys
from leads.lifecycle.services import LeadEvent, lead_move, leads_changes_record
from leads.models import (
    ApiKey,
    Campaign,
    CampaignListing,
    Lead,
    Listing,
    PublisherApiToken,
    RescoreRun,
    ScoringRule,
)
from portal.models import Publisher


class ListingPublishRefused(ValidationError):
    """The publish gate refused; `blockers` says why, each with its fix."""

    def __init__(self, blockers: list[PublishBlocker]):
        self.blockers = blockers
        super().__init__([blocker.message for blocker in blockers], code="publish_refused")


@transaction.atomic
def listing_publish(*, listing: Listing) -> Listing:
    """Publish a listing, or raise ListingPublishRefused with every reason it cannot be."""
    listing = Listing.objects.select_for_update().select_related("publisher").get(pk=listing.pk)
    if listing.is_published:
        return listing
    blockers = listing_publish_blockers(listing=listing)
    if blockers:
        raise ListingPublishRefused(blockers)
    listing.status = Listing.Status.PUBLISHED
    listing.published_at = timezone.now()
    listing.save(update_fields=["status", "published_at", "updated_at"])
    return listing


@transaction.atomic
def listing_unpublish(*, listing: Listing) -> Listing:
    """Take a listing off the storefront; its leads and history stay."""
    listing = Listing.objects.select_for_update().get(pk=listing.pk)
    if listing.is_published:
        listing.status = Listing.Status.UNPUBLISHED
        listing.save(update_fields=["status", "updated_at"])
    return listing


@transaction.atomic
def listing_set_lead_management(*, listing: Listing, enabled: bool) -> Listing:
    """Turn lead management on or off. A published listing cannot lose it (DESIGN §1)."""
    listing = Listing.objects.select_for_update().get(pk=listing.pk)
    if not enabled and listing.is_published:
        raise ValidationError(
            _("Unpublish the listing first: a published listing must keep lead management."),
            code="published_needs_lead_management",
        )
    listing.lead_management_enabled = enabled
    listing.save(update_fields=["lead_management_enabled", "updated_at"])
    return listing


@transaction.atomic
def campaign_set_listings(*, campaign: Campaign, listings: Iterable[Listing]) -> Campaign:
    """Replace a campaign's listings. Each must be the publisher's and on its storefront."""
    listings = list(listings)
    errors = []
    for listing in listings:
        if listing.publisher_id != campaign.publisher_id:
            errors.append(_("%(listing)s belongs to another publisher.") % {"listing": listing})
        elif listing.storefront != campaign.storefront:
            errors.append(
                _("%(listing)s is not on this campaign's storefront (%(storefront)s).")
                % {"listing": listing.name, "storefront": campaign.get_storefront_display()}
            )
    if errors:
        raise ValidationError({"listings": errors})
    CampaignListing.objects.filter(campaign=campaign).delete()
    CampaignListing.objects.bulk_create(
        CampaignListing(campaign=campaign, listing=listing, storefront=campaign.storefront)
        for listing in listings
    )
    return campaign


# The rules every new publisher starts with (DESIGN §3); the publisher edits them later.
DEFAULT_SCORING_RULES: tuple[dict, ...] = (
    {
        "name": "Installed or created",
        "condition": "action_code",
        "value": "INS,Create",
        "points": 35,
    },
    {"name": "Asked to be contacted", "condition": "action_code", "value": "PLT", "points": 30},
    {
        "name": "Started a test drive",
        "condition": "action_code",
        "value": "StartTestDrive",
        "points": 25,
    },
    {"name": "Business email", "condition": "business_email", "value": "", "points": 15},
    {"name": "Free-mail address", "condition": "free_email", "value": "", "points": -10},
    {"name": "Phone given", "condition": "phone_present", "value": "", "points": 10},
    {
        "name": "Decision maker",
        "condition": "title_matches",
        "value": "CEO,CTO,CIO,CFO,VP,Director,Head,Chief,Owner,Founder",
        "points": 15,
    },
    {"name": "Came back", "condition": "activity_count_at_least", "value": "2", "points": 10},
    {
        "name": "Active this month",
        "condition": "days_since_last_activity_at_most",
        "value": "30",
        "points": 5,
    },
)


def scoring_rules_seed_defaults(*, publisher: Publisher) -> list[ScoringRule]:
    """Give a publisher the default rules, unless it already has rules."""
    if publisher.scoring_rules.exists():
        return list(publisher.scoring_rules.all())
    return ScoringRule.objects.bulk_create(
        ScoringRule(publisher=publisher, position=position, **rule)
        for position, rule in enumerate(DEFAULT_SCORING_RULES)
    )


@transaction.atomic
def publisher_onboard(
    *,
    name: str,
    slug: str,
    publisher_id: str,
    lead_contact_email: str = "",
    co_sell_enrolled: bool = False,
    **fields,
) -> Publisher:
    """Create a publisher with its default scoring rules (staff onboarding)."""
    publisher = Publisher(
        name=name,
        slug=slug,
        publisher_id=publisher_id,
        lead_contact_email=lead_contact_email,
        co_sell_enrolled=co_sell_enrolled,
        **fields,
    )
    publisher.full_clean()
    publisher.save()
    scoring_rules_seed_defaults(publisher=publisher)
    return publisher


def api_key_create(*, kind: str, name: str, storefront: str = "") -> tuple[ApiKey, str]:
    """Create a storefront or Microsoft-seller key; the plaintext is returned once."""
    key, hashed, prefix = api_keys.key_generate(kind)
    api_key = ApiKey(kind=kind, storefront=storefront, name=name, prefix=prefix, key_hash=hashed)
    api_key.full_clean()
    api_key.save()
    return api_key, key


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key: it stops working at once and cannot be restored."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def publisher_token_create(*, publisher: Publisher, name: str, created_by=None):
    """Create a publisher API token; the plaintext is returned once."""
    token, hashed, prefix = api_keys.key_generate("publisher")
    api_token = PublisherApiToken.objects.create(
        publisher=publisher, name=name, prefix=prefix, token_hash=hashed, created_by=created_by
    )
    return api_token, token


def publisher_token_revoke(*, api_token: PublisherApiToken) -> PublisherApiToken:
    """Revoke a publisher API token."""
    if api_token.revoked_at is None:
        api_token.revoked_at = timezone.now()
        api_token.save(update_fields=["revoked_at"])
    return api_token


@transaction.atomic
def lead_transition(*, lead: Lead, to_status: str, by, reason: str) -> Lead:
    """Move a lead along its lifecycle by hand, recording who, when and why."""
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if not lead.can_move_to(to_status):
        raise ValidationError(
            _("A %(current)s lead cannot become %(target)s.")
            % {
                "current": lead.get_status_display().lower(),
                "target": str(Lead.Status(to_status).label).lower()
                if to_status in Lead.Status.values
                else to_status,
            },
            code="illegal_transition",
        )
    if not reason.strip():
        raise ValidationError(_("Say why the lead moves."), code="reason_required")
    now = timezone.now()
    transition = lead_move(lead, to_status=to_status, reason=reason.strip()[:500], now=now, by=by)
    lead.save(
        update_fields=[
            "status",
            "status_changed_at",
            "status_changed_by",
            "status_reason",
            "qualified_at",
            "updated_at",
        ]
    )
    events = []
    if to_status == Lead.Status.QUALIFIED:
        listing_id = (
            lead.activities.order_by("-occurred_at").values_list("listing_id", flat=True).first()
        )
        events.append(LeadEvent(lead, "qualified", listing_id))
    leads_changes_record(transitions=[transition], events=events, now=now)
    return lead


@transaction.atomic
def scoring_rules_changed(*, publisher: Publisher, requested_by=None):
    """After rules or the threshold change, rescore the publisher's leads in the background."""
    run = RescoreRun.objects.create(publisher=publisher, requested_by=requested_by)
    transaction.on_commit(lambda: tasks.rescore_publisher.delay(run.pk), robust=True)
    return run


@transaction.atomic
def listing_create(
    *, publisher: Publisher, storefront: str, listing_type: str, name: str, offer_id: str
) -> Listing:
    """Create a draft listing; the storefront is fixed from now on."""
    listing = Listing(
        publisher=publisher,
        storefront=storefront,
        listing_type=listing_type,
        name=name,
        offer_id=offer_id,
    )
    listing.full_clean()
    listing.save()
    return listing


@transaction.atomic
def listing_update(*, listing: Listing, listing_type: str, name: str, offer_id: str) -> Listing:
    """Edit a listing's type, name and offer id; its storefront never changes."""
    listing = Listing.objects.select_for_update().get(pk=listing.pk)
    listing.listing_type, listing.name, listing.offer_id = listing_type, name, offer_id
    listing.full_clean()
    listing.save(update_fields=["listing_type", "name", "offer_id", "updated_at"])
    return listing


@dataclass(frozen=True)
class ScoringRuleEdit:
    """One row of the rules editor: an existing rule (by id) or a new one, or a deletion."""

    id: int | None
    name: str
    condition: str
    value: str
    points: int
    is_active: bool
    position: int
    listing: Listing | None = None
    delete: bool = False


_RULE_FIELDS = ["name", "condition", "value", "listing", "points", "is_active", "position"]


@transaction.atomic
def scoring_rules_save(
    *, publisher: Publisher, edits: list[ScoringRuleEdit], threshold: int, requested_by=None
):
    """Write the rules and the threshold in one transaction, then start the rescoring."""
    existing = {
        rule.pk: rule
        for rule in ScoringRule.objects.select_for_update().filter(publisher=publisher)
    }
    for edit in edits:
        if edit.id is not None and edit.id not in existing:
            raise ValidationError(_("This rule belongs to another publisher."), code="foreign_rule")
        if edit.delete:
            if edit.id is not None:
                existing[edit.id].delete()
            continue
        rule = existing[edit.id] if edit.id is not None else ScoringRule(publisher=publisher)
        for name in _RULE_FIELDS:
            setattr(rule, name, getattr(edit, name))
        rule.full_clean()
        rule.save()
    publisher = Publisher.objects.select_for_update().get(pk=publisher.pk)
    publisher.qualification_threshold = threshold
    publisher.full_clean(validate_unique=False, validate_constraints=False)
    publisher.save(update_fields=["qualification_threshold"])
    return scoring_rules_changed(publisher=publisher, requested_by=requested_by)
