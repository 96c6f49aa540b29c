"""New-lead email, the writes: members' choices, and the planner that turns new activities
into per-member notifications (docs/notifications.md).

The planner is the outbox's reader. Every activity is written with
`notification_pending` true, in its lead's own transaction, whatever the intake path
(storefront API, bulk, CSV import, referrals, and any later path that calls
`leads_ingest`). Each run of `leads.notify_new_leads` then
  1. claims pending activities with SELECT … FOR UPDATE SKIP LOCKED, oldest first;
  2. reads the choices of their publishers' members (selectors.choices_for_publishers);
  3. writes one LeadNotification per (member, activity) the member wants, due now or at
     the member's next digest hour, and clears the activities' flag, in one transaction.
The unique (member, activity) pair makes a rerun harmless, and an activity stays pending
until a run commits, so a worker that was down catches up when it is back.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.models import LeadActivity, LeadNotification, Listing, NotificationPreference
from leads.notifications import selectors
from portal.tenancy.models import Membership

PLAN_BATCH_SIZE = 1000


def notifications_plan(*, batch_size: int = PLAN_BATCH_SIZE) -> int:
    """Plan the notifications of one batch of new activities; returns how many it read."""
    now = timezone.now()
    with transaction.atomic():
        activities = list(
            LeadActivity.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(notification_pending=True)
            .order_by("pk")
            .values_list("pk", "listing_id", "lead__publisher_id")[:batch_size]
        )
        if not activities:
            return 0
        choices = selectors.choices_for_publishers(
            publisher_ids={publisher_id for _pk, _listing, publisher_id in activities}
        )
        rows = [
            LeadNotification(
                membership_id=choice.membership_id,
                activity_id=pk,
                publisher_id=publisher_id,
                due_at=choice.due_at(now),
                created_at=now,
            )
            for pk, listing_id, publisher_id in activities
            for choice in choices[publisher_id]
            if choice.wants(listing_id)
        ]
        LeadNotification.objects.bulk_create(rows, ignore_conflicts=True)
        LeadActivity.objects.filter(pk__in=[pk for pk, _l, _p in activities]).update(
            notification_pending=False
        )
    return len(activities)


@transaction.atomic
def notification_preference_save(
    *,
    membership: Membership,
    mode: str,
    all_listings: bool,
    listings: list[Listing],
    digest_hour: int,
    time_zone: str,
    language: str,
) -> NotificationPreference:
    """Save a member's choice, and move their waiting notifications to its schedule."""
    if any(listing.publisher_id != membership.publisher_id for listing in listings):
        raise ValidationError({"listings": _("Choose among this publisher's listings.")})
    if not all_listings and not listings and mode != NotificationPreference.Mode.OFF:
        raise ValidationError({"listings": _("Choose at least one listing, or every listing.")})
    preference, _created = NotificationPreference.objects.update_or_create(
        membership=membership,
        defaults={
            "mode": mode,
            "all_listings": all_listings,
            "digest_hour": digest_hour,
            "time_zone": selectors.zone_or_utc(time_zone).key,
            "language": language[:10],
        },
    )
    preference.listings.set([] if all_listings else listings)
    # Waiting notifications follow the new schedule; the sender drops those the member no
    # longer wants (a listing left out, or no email) when they fall due.
    choice = selectors.choice_for(membership, preference, {listing.pk for listing in listings})
    LeadNotification.objects.filter(membership=membership, email__isnull=True).update(
        due_at=choice.due_at(timezone.now())
    )
    return preference
