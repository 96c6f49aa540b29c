"""Reads of intake's credentials, always scoped by publisher."""

from django.db.models import QuerySet

from leads.intake.models import PublisherApiToken
from portal.models import Publisher


def publisher_tokens_active(*, publisher: Publisher) -> QuerySet[PublisherApiToken]:
    """The publisher's API tokens that are not revoked, newest first."""
    return PublisherApiToken.objects.filter(publisher=publisher, revoked_at__isnull=True).order_by(
        "-created_at", "-id"
    )


def publisher_token_get_for_publisher(
    *, publisher: Publisher, token_id: int
) -> PublisherApiToken | None:
    """One API token of this publisher, revoked or not, or None (another publisher's included)."""
    return PublisherApiToken.objects.filter(publisher=publisher, pk=token_id).first()
