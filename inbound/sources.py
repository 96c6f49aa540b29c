"""A listing's Partner Center inbound URL: create, rotate, revoke, and find by its token.

A listing has at most one webhook source. Its URL carries a token that is shown once
(inbound.tokens); rotating keeps the replaced token working for INBOUND_TOKEN_GRACE_HOURS,
so the publisher can paste the new URL into Partner Center without losing a lead in
between. Revoking stops both at once. Creating a URL again after a revocation reuses the
source, so its items stay together.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from inbound import tokens
from inbound.models import InboundSource
from leads.models import Listing

logger = logging.getLogger(__name__)


def inbound_url_path(token: str) -> str:
    return reverse("api:inbound_partner_center", kwargs={"token": token})


def inbound_url_absolute(token: str) -> str:
    """The URL to paste into Partner Center, on the portal's public origin."""
    return settings.PORTAL_BASE_URL + inbound_url_path(token)


def _set_new_token(source: InboundSource, *, keep_previous: bool) -> str:
    token, hashed = tokens.token_generate()
    now = timezone.now()
    if keep_previous and source.token_hash:
        source.previous_token_hash = source.token_hash
        source.previous_valid_until = now + timedelta(hours=settings.INBOUND_TOKEN_GRACE_HOURS)
    else:
        source.previous_token_hash, source.previous_valid_until = "", None
    source.token_hash = hashed
    source.revoked_at = None
    # The new URL is connected once Partner Center's test lead reaches it.
    source.connected_at = None
    source.save()
    return token


@transaction.atomic
def inbound_url_create(*, listing: Listing) -> tuple[InboundSource, str]:
    """A new inbound URL for the listing; (source, token), the token shown once.

    A listing whose URL is live gets it rotated instead (the old one in its grace period).
    """
    source = (
        InboundSource.objects.select_for_update()
        .filter(kind=InboundSource.Kind.WEBHOOK, listing=listing)
        .first()
    )
    if source is None:
        source = InboundSource(
            publisher_id=listing.publisher_id, kind=InboundSource.Kind.WEBHOOK, listing=listing
        )
    is_live = source.pk is not None and source.revoked_at is None and source.token_hash
    token = _set_new_token(source, keep_previous=bool(is_live))
    logger.info("inbound.url.created", extra={"source_id": source.pk, "rotated": bool(is_live)})
    return source, token


@transaction.atomic
def inbound_url_rotate(*, source: InboundSource) -> tuple[InboundSource, str]:
    """A new token; the replaced one keeps working for INBOUND_TOKEN_GRACE_HOURS."""
    source = InboundSource.objects.select_for_update().get(pk=source.pk)
    token = _set_new_token(source, keep_previous=source.revoked_at is None)
    logger.info("inbound.url.rotated", extra={"source_id": source.pk})
    return source, token


@transaction.atomic
def inbound_url_revoke(*, source: InboundSource) -> InboundSource:
    """The URL, and a rotated one still in its grace period, stop working now."""
    source = InboundSource.objects.select_for_update().get(pk=source.pk)
    if source.revoked_at is None:
        source.revoked_at = timezone.now()
        source.previous_valid_until = None
        source.save(update_fields=["revoked_at", "previous_valid_until", "updated_at"])
        logger.info("inbound.url.revoked", extra={"source_id": source.pk})
    return source


@dataclass(frozen=True)
class TokenMatch:
    """What a token names: a live source (`source`, and whether through the rotated-out
    token), or a source that no longer takes it (`source` None, `is_known` True)."""

    source: InboundSource | None
    is_known: bool = False
    via_previous: bool = False


def webhook_source_for_token(*, token: str) -> TokenMatch:
    """The webhook source whose current, or still valid previous, token this is."""
    hashes = tokens.token_hashes(token)
    if not hashes:
        return TokenMatch(source=None)
    source = (
        InboundSource.objects.filter(kind=InboundSource.Kind.WEBHOOK)
        .filter(Q(token_hash__in=hashes) | Q(previous_token_hash__in=hashes))
        .select_related("listing")
        .first()
    )
    if source is None:
        return TokenMatch(source=None)
    if source.revoked_at is not None:
        return TokenMatch(source=None, is_known=True)
    if tokens.hash_matches(source.token_hash, hashes):
        return TokenMatch(source=source)
    in_grace = source.previous_valid_until and source.previous_valid_until > timezone.now()
    if in_grace and tokens.hash_matches(source.previous_token_hash, hashes):
        return TokenMatch(source=source, via_previous=True)
    return TokenMatch(source=None, is_known=True)


class UrlState:
    NONE = "none"
    ACTIVE = "active"
    ROTATED = "rotated"
    REVOKED = "revoked"


def webhook_url_state(source: InboundSource | None) -> str:
    """none, active, rotated (the previous URL still in its grace period) or revoked."""
    if source is None or not source.token_hash:
        return UrlState.NONE
    if source.revoked_at is not None:
        return UrlState.REVOKED
    if source.previous_valid_until and source.previous_valid_until > timezone.now():
        return UrlState.ROTATED
    return UrlState.ACTIVE
