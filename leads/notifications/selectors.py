"""Reads for new-lead email: each member's effective choice, and when a lead is due."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings

from leads.notifications.models import (
    DEFAULT_DIGEST_HOUR,
    DEFAULT_TIME_ZONE,
    NotificationPreference,
)
from portal.tenancy.models import Membership

Mode = NotificationPreference.Mode


@dataclass(frozen=True)
class Choice:
    """What one member wants: the mode, the listing ids (None: every listing), the digest's
    hour in the member's time zone, and the email's language."""

    membership_id: int
    mode: str
    listing_ids: frozenset[int] | None
    digest_hour: int = DEFAULT_DIGEST_HOUR
    time_zone: str = DEFAULT_TIME_ZONE
    language: str = ""

    def wants(self, listing_id: int | None) -> bool:
        if self.mode == Mode.OFF:
            return False
        return self.listing_ids is None or listing_id in self.listing_ids

    def due_at(self, now: datetime) -> datetime:
        """Now, or the next digest hour after now in the member's time zone."""
        if self.mode != Mode.DIGEST:
            return now
        return next_digest_at(now=now, hour=self.digest_hour, time_zone=self.time_zone)

    @property
    def zone(self) -> ZoneInfo:
        return zone_or_utc(self.time_zone)


def zone_or_utc(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def next_digest_at(*, now: datetime, hour: int, time_zone: str) -> datetime:
    """The first `hour`:00 in the time zone strictly after now."""
    zone = zone_or_utc(time_zone)
    local = now.astimezone(zone)
    candidate = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if candidate <= local:
        candidate = (local + timedelta(days=1)).replace(
            hour=hour, minute=0, second=0, microsecond=0
        )
    return candidate


def choice_for(membership: Membership, preference: NotificationPreference | None, listing_ids=()):
    """The member's effective choice. Without a saved preference, owners get an email as
    leads arrive for every listing (as Partner Center mails the offer's contacts), and
    members get none until they choose."""
    if preference is None:
        mode = Mode.IMMEDIATE if membership.is_owner else Mode.OFF
        return Choice(membership.pk, mode, None, language=settings.LANGUAGE_CODE)
    return Choice(
        membership.pk,
        preference.mode,
        None if preference.all_listings else frozenset(listing_ids),
        preference.digest_hour,
        preference.time_zone,
        preference.language or settings.LANGUAGE_CODE,
    )


def _preferences_with_listings(memberships: list[Membership]) -> dict[int, tuple]:
    """membership id -> (preference or None, its chosen listing ids), in two queries."""
    preferences = {
        p.membership_id: p
        for p in NotificationPreference.objects.filter(membership__in=memberships)
    }
    chosen: dict[int, set[int]] = {pk: set() for pk in preferences}
    links = NotificationPreference.listings.through.objects.filter(
        notificationpreference_id__in=[pk for pk, p in preferences.items() if not p.all_listings]
    )
    for membership_id, listing_id in links.values_list("notificationpreference_id", "listing_id"):
        chosen[membership_id].add(listing_id)
    return {m.pk: (preferences.get(m.pk), chosen.get(m.pk, set())) for m in memberships}


def choices_for_publishers(*, publisher_ids: set[int]) -> dict[int, list[Choice]]:
    """publisher id -> the choices of its members who want some email and can get it
    (an active user with an address), in three queries."""
    memberships = list(
        Membership.objects.filter(publisher_id__in=publisher_ids, user__is_active=True).exclude(
            user__email=""
        )
    )
    found = _preferences_with_listings(memberships)
    choices: dict[int, list[Choice]] = {publisher_id: [] for publisher_id in publisher_ids}
    for membership in memberships:
        choice = choice_for(membership, *found[membership.pk])
        if choice.mode != Mode.OFF:
            choices[membership.publisher_id].append(choice)
    return choices


def choice_for_membership(*, membership: Membership) -> Choice:
    """One member's effective choice (their settings form, and the sender's re-check)."""
    return choice_for(membership, *_preferences_with_listings([membership])[membership.pk])


def preference_for_membership(*, membership: Membership) -> NotificationPreference | None:
    return NotificationPreference.objects.filter(membership=membership).first()
