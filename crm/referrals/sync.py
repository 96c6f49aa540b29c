"""The incremental read of a connection's referrals (beat, or "sync now").

1. Claim the connection with a lease (one sync at a time per connection; a dead worker's
   lease runs out), unless it is paused or Partner Center asked us to wait.
2. Read incoming referrals newest update first (connector: $orderby=updatedDateTime desc),
   page by page, down to the watermark minus an overlap (PARTNER_CENTER_SYNC_OVERLAP_SECONDS).
3. Each referral in its own transaction: a new one becomes a Co-Sell lead through
   `referral_ingest` (qualified on arrival, the CRM outbox rows in the same transaction)
   with its referral row; a known one updates its row when Partner Center changed it.
4. Only then move the watermark to the newest updatedDateTime read. A crash before that
   leaves the watermark where it was: the next sync reads the same referrals again, and
   both writes are idempotent (the activity's external id, the row's unique id).
"""

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from pydantic import ValidationError as PydanticValidationError

from crm.connectors.base import ConfigurationError
from crm.connectors.oauth import CallFailure
from crm.connectors.partner_center import RemoteReferral
from crm.models import ReferralConnection
from crm.referrals.partner_center import row_values, session_for
from leads.intake import referrals as referral_intake
from leads.models import Referral
from leads.referrals import selectors as referral_selectors
from leads.referrals import services as referral_services

logger = logging.getLogger(__name__)
FREE_TEXT_MAX = 4000


@dataclass
class SyncReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    without_lead: int = 0  # no customer contact with a valid email: a row, no lead
    refused: int = 0  # intake refused it (not Co-Sell enrolled, …): read again next time


def connection_claim(
    *, connection_id: int, now: datetime, force: bool
) -> ReferralConnection | None:
    """Take the connection for one sync, or None (paused, leased, or asked to wait)."""
    lease = now + timedelta(seconds=settings.PARTNER_CENTER_SYNC_LEASE_SECONDS)
    due = Q(pk=connection_id, is_active=True) & (
        Q(sync_lease_until__isnull=True) | Q(sync_lease_until__lt=now)
    )
    if not force:
        due &= Q(next_sync_at__isnull=True) | Q(next_sync_at__lte=now)
    if not ReferralConnection.objects.filter(due).update(sync_lease_until=lease):
        return None
    return ReferralConnection.objects.select_related("listing", "publisher").get(pk=connection_id)


def _payload_for(connection: ReferralConnection, remote: RemoteReferral):
    """The lead JSON of a new referral, validated as POST /api/v1/referrals validates it."""
    contact = remote.customer_contact
    raw = {
        "ReferralId": remote.id,
        "OfferId": connection.listing.offer_id,
        "OfferTitle": remote.name[:200],
        "UserDetails": {
            "FirstName": contact.first_name,
            "LastName": contact.last_name,
            "Email": contact.email,
            "Phone": contact.phone,
            "Country": remote.customer_country,
            "Company": remote.customer_name,
        },
        "Description": remote.customer_need[:FREE_TEXT_MAX],
        "CreatedTime": remote.pc_created_at.isoformat() if remote.pc_created_at else None,
    }
    return referral_intake.ReferralPayload.model_validate(raw)


def _referral_new(connection: ReferralConnection, remote: RemoteReferral, report: SyncReport):
    values = row_values(remote)
    try:
        payload = _payload_for(connection, remote)
    except PydanticValidationError:
        referral_services.referral_store(
            publisher=connection.publisher,
            lead=None,
            partner_center_id=remote.id,
            values=values,
            sync_state=Referral.SyncState.SYNCED,
        )
        report.without_lead += 1
        return ""
    outcome = referral_intake.referral_ingest(
        payload=payload, raw=remote.raw, listing=connection.listing, referral_values=values
    )
    if outcome.errors:
        report.refused += 1
        return outcome.errors[0]["msg"]
    report.created += 1
    return ""


def _sync_page(connection: ReferralConnection, page: list[RemoteReferral], report: SyncReport):
    """Store one page; answers intake's first refusal ("" when none)."""
    refusal = ""
    known = referral_selectors.referrals_by_partner_center_id(
        publisher_id=connection.publisher_id, ids=[remote.id for remote in page if remote.id]
    )
    now = timezone.now()
    for remote in page:
        if not remote.id:
            continue
        referral = known.get(remote.id)
        # A referral kept without a lead gets one once Partner Center names a contact.
        lead_wanted = (
            referral is not None and not referral.lead_id and remote.customer_contact.email
        )
        if referral is None or lead_wanted:
            refusal = _referral_new(connection, remote, report) or refusal
        elif referral_services.referral_update_from_remote(
            referral=referral, values=row_values(remote), now=now
        ):
            report.updated += 1
        else:
            report.unchanged += 1
    return refusal


def connection_sync(*, connection_id: int, force: bool = False) -> SyncReport | None:
    """Read the connection's new and changed referrals; None when it was not due."""
    now = timezone.now()
    connection = connection_claim(connection_id=connection_id, now=now, force=force)
    if connection is None:
        return None
    report, refusal, newest = SyncReport(), "", connection.watermark
    overlap = timedelta(seconds=settings.PARTNER_CENTER_SYNC_OVERLAP_SECONDS)
    since = connection.watermark - overlap if connection.watermark else None
    try:
        session = session_for(connection)
        for page in session.referral_pages(
            since=since, page_size=settings.PARTNER_CENTER_PAGE_SIZE
        ):
            refusal = _sync_page(connection, page, report) or refusal
            times = [remote.pc_updated_at for remote in page if remote.pc_updated_at]
            newest = max([newest, *times] if newest else times, default=None)
    except (CallFailure, ConfigurationError) as failure:
        _sync_failed(connection, failure, report)
        return report
    if report.refused:  # read them again next time: keep the watermark
        newest = connection.watermark
    ReferralConnection.objects.filter(pk=connection.pk).update(
        last_synced_at=timezone.now(),
        watermark=newest,
        last_counts=asdict(report),
        last_error=refusal[:500],
        last_error_at=timezone.now() if refusal else None,
        next_sync_at=None,
        sync_lease_until=None,
    )
    logger.info(
        "crm.referrals.synced",
        extra={
            "connection": connection.pk,
            "publisher": connection.publisher_id,
            "counts": asdict(report),
        },
    )
    return report


def _sync_failed(connection: ReferralConnection, failure: Exception, report: SyncReport) -> None:
    """Keep the error and the watermark; after a 429, wait as long as asked."""
    error = failure.error if isinstance(failure, CallFailure) else str(failure)
    retry_after = failure.fields.get("retry_after") if isinstance(failure, CallFailure) else None
    now = timezone.now()
    ReferralConnection.objects.filter(pk=connection.pk).update(
        last_error=error[:500],
        last_error_at=now,
        last_counts=asdict(report),
        next_sync_at=now + timedelta(seconds=retry_after) if retry_after else None,
        sync_lease_until=None,
    )
    logger.warning(
        "crm.referrals.sync_failed",
        extra={
            "connection": connection.pk,
            "publisher": connection.publisher_id,
            "status": failure.fields.get("status_code")
            if isinstance(failure, CallFailure)
            else None,
        },
    )


@shared_task(name="crm.referral_connection_sync")
def referral_connection_sync(connection_id: int, force: bool = False) -> None:
    """A connection's sync: from beat, or the owner's "sync now" (force: even when asked
    to wait, never while another sync holds the lease)."""
    connection_sync(connection_id=connection_id, force=force)
