"""Reads of referrals; every publisher-facing one takes its publisher."""

from django.db.models import QuerySet

from leads.models import Lead
from leads.referrals.models import Referral
from portal.models import Publisher

# The long columns of a referral that the lead list's cells do not read.
LIST_DEFERRED = ("raw", "pending_change", "customer_need", "status_reason")


def referral_get_for_publisher(*, publisher: Publisher, referral_id: int) -> Referral | None:
    """The publisher's referral, or None (another publisher's id is the same as none)."""
    return (
        Referral.objects.filter(publisher=publisher, pk=referral_id)
        .select_related("lead", "changed_by")
        .first()
    )


def referral_by_partner_center_id(*, publisher_id: int, partner_center_id: str) -> Referral | None:
    return Referral.objects.filter(
        publisher_id=publisher_id, partner_center_id=partner_center_id
    ).first()


def referrals_by_partner_center_id(*, publisher_id: int, ids: list[str]) -> dict[str, Referral]:
    """The publisher's referrals with these Partner Center ids, by id (one query)."""
    rows = Referral.objects.filter(publisher_id=publisher_id, partner_center_id__in=ids)
    return {row.partner_center_id: row for row in rows}


def latest_referrals(*, leads: list[Lead]) -> dict[int, Referral]:
    """Per lead, its most recently updated referral (one query for the page), without the
    columns a list row never shows (Partner Center's whole copy, the pending patch)."""
    latest: dict[int, Referral] = {}
    rows = (
        Referral.objects.filter(lead__in=leads)
        .defer(*LIST_DEFERRED)
        .order_by("lead_id", "-updated_at", "-id")
    )
    for row in rows:
        latest.setdefault(row.lead_id, row)
    return latest


def referrals_of_lead(*, lead: Lead) -> QuerySet[Referral]:
    return Referral.objects.filter(lead=lead).order_by("-updated_at", "-id")


def referrals_push_due(*, now, limit: int = 100) -> list[int]:
    """Ids of referrals whose change is due to (re)try reaching Partner Center."""
    return list(
        Referral.objects.filter(sync_state=Referral.SyncState.PENDING, next_push_at__lte=now)
        .order_by("next_push_at")
        .values_list("pk", flat=True)[:limit]
    )
