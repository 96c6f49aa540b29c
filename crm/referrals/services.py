"""Writes of a publisher's Partner Center connection: save, pause, resume, sync now."""

from django.db import transaction

from crm.models import ReferralConnection
from crm.referrals.sync import referral_connection_sync
from leads.models import Listing
from portal.models import Publisher


@transaction.atomic
def referral_connection_save(
    *,
    publisher: Publisher,
    listing: Listing,
    tenant_id: str,
    client_id: str,
    username: str,
    client_secret: str = "",
    password: str = "",
) -> ReferralConnection:
    """Create or update the publisher's connection; an empty secret keeps the stored one."""
    connection = ReferralConnection.objects.select_for_update().filter(
        publisher=publisher
    ).first() or ReferralConnection(publisher=publisher)
    connection.listing = listing
    connection.tenant_id, connection.client_id = tenant_id.strip(), client_id.strip()
    connection.username = username.strip()
    secrets = dict(connection.secrets or {})
    for key, value in (("client_secret", client_secret), ("password", password)):
        if value:
            secrets[key] = value
    connection.secrets = secrets
    connection.last_error, connection.next_sync_at = "", None
    connection.save()
    return connection


def referral_connection_pause(*, connection: ReferralConnection) -> None:
    """Stop syncing (pending changes wait too) until resumed."""
    ReferralConnection.objects.filter(pk=connection.pk).update(is_active=False)


def referral_connection_resume(*, connection: ReferralConnection) -> None:
    ReferralConnection.objects.filter(pk=connection.pk).update(is_active=True, next_sync_at=None)


def referral_connection_sync_request(*, connection: ReferralConnection) -> None:
    """Queue a sync now (the owner's button), after the caller's commit."""
    pk = connection.pk
    transaction.on_commit(lambda: referral_connection_sync.delay(pk, force=True))
