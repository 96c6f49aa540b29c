"""Sending a publisher's accept, decline, won or lost to Partner Center (a worker task).

`leads.referrals.services.referral_act` checked the move and left the row pending with
its JSON Patch; this claims it (a lease, so two workers never send it twice at once),
reads the referral for a fresh eTag, and PATCHes under `If-Match`. When Partner Center
already shows the wanted status (the answer to an earlier attempt was lost), nothing is
sent again. A throttle, a 5xx, a timeout or a stale eTag is retried on the outbox's
schedule (crm.pacing); a refusal fails at once and the row shows Partner Center's copy.
"""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from crm import pacing
from crm.connectors.base import ConfigurationError
from crm.connectors.oauth import CallFailure
from crm.models import ReferralConnection
from crm.referrals.partner_center import row_values, session_for
from leads.referrals import services as referral_services

logger = logging.getLogger(__name__)
LEASE_SECONDS = 300


def _retry_at(attempts: int, failure: CallFailure | None):
    """When to try again after `attempts` failed attempts, or None to give up."""
    if failure is None or failure.outcome != "retryable" or attempts >= settings.CRM_MAX_ATTEMPTS:
        return None
    delay = pacing.next_delay(attempts, retry_after=failure.fields.get("retry_after"))
    return timezone.now() + timedelta(seconds=delay)


def referral_push(*, referral_id: int) -> str:
    """One attempt at a pending change: "synced", "retry", "failed" or "not-due"."""
    claim = referral_services.referral_push_claim(
        referral_id=referral_id, now=timezone.now(), lease_seconds=LEASE_SECONDS
    )
    if claim is None:
        return "not-due"
    connection = ReferralConnection.objects.filter(publisher_id=claim["publisher_id"]).first()
    if connection is None or not connection.is_active:
        error = _("The Partner Center connection is missing or paused.")
        retry_at = None if connection is None else timezone.now() + timedelta(hours=1)
        referral_services.referral_push_failed(
            referral_id=referral_id, error=error, retry_at=retry_at
        )
        return "failed" if retry_at is None else "retry"
    current = None
    try:
        session = session_for(connection)
        current = session.referral_read(claim["partner_center_id"])
        if (current.status, current.substatus) == (claim["status"], claim["substatus"]):
            result = current  # an earlier attempt landed; its answer was lost
        else:
            result = session.referral_update(
                claim["partner_center_id"], ops=claim["ops"], etag=current.etag
            )
    except (CallFailure, ConfigurationError) as exc:
        failure = exc if isinstance(exc, CallFailure) else None
        retry_at = _retry_at(claim["attempts"] + 1, failure)
        referral_services.referral_push_failed(
            referral_id=referral_id,
            error=failure.error if failure else str(exc),
            retry_at=retry_at,
            values=row_values(current) if current is not None else None,
        )
        logger.warning(
            "crm.referrals.push_failed",
            extra={
                "referral": referral_id,
                "status": failure.fields.get("status_code") if failure else None,
                "retry": retry_at is not None,
            },
        )
        return "failed" if retry_at is None else "retry"
    referral_services.referral_push_succeeded(
        referral_id=referral_id, values=row_values(result), now=timezone.now()
    )
    logger.info("crm.referrals.pushed", extra={"referral": referral_id})
    return "synced"


@shared_task(name="crm.referral_push")
def referral_push_task(referral_id: int) -> None:
    """Send one referral's pending change (queued on commit by referral_act, and by beat
    for the retries)."""
    referral_push(referral_id=referral_id)
