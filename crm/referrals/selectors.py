"""Reads of the Partner Center connections."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from crm.models import ReferralConnection
from portal.models import Publisher


def connection_for_publisher(*, publisher: Publisher) -> ReferralConnection | None:
    return ReferralConnection.objects.filter(publisher=publisher).select_related("listing").first()


def connections_due(*, now: datetime) -> list[int]:
    """Active connections that no sync holds and Partner Center did not ask to wait."""
    return list(
        ReferralConnection.objects.filter(is_active=True)
        .filter(Q(sync_lease_until__isnull=True) | Q(sync_lease_until__lt=now))
        .filter(Q(next_sync_at__isnull=True) | Q(next_sync_at__lte=now))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


@dataclass(frozen=True)
class ConnectionStatus:
    """What the settings page shows of a connection."""

    connection: ReferralConnection
    lag_seconds: int | None  # since the last good sync; None before the first

    @property
    def is_healthy(self) -> bool:
        return self.connection.is_active and not self.connection.last_error


def connection_status(*, publisher: Publisher) -> ConnectionStatus | None:
    connection = connection_for_publisher(publisher=publisher)
    if connection is None:
        return None
    lag = None
    if connection.last_synced_at:
        lag = int((timezone.now() - connection.last_synced_at).total_seconds())
    return ConnectionStatus(connection, lag)
