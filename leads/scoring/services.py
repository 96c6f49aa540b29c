"""Writes for scoring: the default rules, the rules editor, and the rescoring it starts."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from leads import tasks
from leads.intake import reference
from leads.models import Listing, RescoreRun, ScoringRule
from portal.models import Publisher

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
    rules = ScoringRule.objects.bulk_create(
        ScoringRule(publisher=publisher, position=position, **rule)
        for position, rule in enumerate(DEFAULT_SCORING_RULES)
    )
    reference.bump("scoring")  # bulk_create sends no post_save
    return rules


@transaction.atomic
def publisher_onboard(*, name: str, slug: str, publisher_id: str, **fields) -> Publisher:
    """Create a publisher with its default scoring rules (staff onboarding); `fields` sets
    its other fields (lead_contact_email, co_sell_enrolled…), else their defaults."""
    publisher = Publisher(name=name, slug=slug, publisher_id=publisher_id, **fields)
    publisher.full_clean()
    publisher.save()
    scoring_rules_seed_defaults(publisher=publisher)
    return publisher


@transaction.atomic
def scoring_rules_changed(*, publisher: Publisher, requested_by=None):
    """After rules or the threshold change, rescore the publisher's leads in the background."""
    run = RescoreRun.objects.create(publisher=publisher, requested_by=requested_by)
    transaction.on_commit(lambda: tasks.rescore_publisher.delay(run.pk), robust=True)
    return run


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
