"""Beat: sync every active connection, and retry the referral changes that are due."""

from celery import shared_task
from django.utils import timezone

from crm.referrals import selectors
from crm.referrals.push import referral_push_task
from crm.referrals.sync import referral_connection_sync
from leads.referrals import selectors as referral_selectors


@shared_task(name="crm.referrals_sync")
def referrals_sync() -> None:
    """Queue one sync per active connection that is due, and every due change."""
    for connection_id in selectors.connections_due(now=timezone.now()):
        referral_connection_sync.delay(connection_id)
    for referral_id in referral_selectors.referrals_push_due(now=timezone.now()):
        referral_push_task.delay(referral_id)
