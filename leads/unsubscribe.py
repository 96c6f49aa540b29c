"""Unsubscribe tokens and the per-publisher suppression list (RFC 8058; DESIGN §3).

A token is a `django.core.signing` value with a salt of its own, so that no other signed
value of the portal can stand in for it. It carries the publisher, the SHA-256 of the
normalized address (never the address itself) and, for a real nurture message, the send
it came in. It never expires: CAN-SPAM wants an opt-out to work for at least 30 days,
and a reader may find an old message years later.
"""

import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import connection, transaction
from django.db.models import Func, QuerySet, TextField
from django.urls import reverse
from django.utils import timezone

from leads.models import Enrollment, Lead, Suppression

logger = logging.getLogger(__name__)

TOKEN_SALT = "leads.unsubscribe.v1"


def email_hash(email: str) -> str:
    """The SHA-256 (hex) of the normalized address: how suppressions name an address."""
    return hashlib.sha256(Lead.normalize_email(email).encode()).hexdigest()


@dataclass(frozen=True)
class UnsubscribeToken:
    publisher_id: int
    email_hash: str
    send_id: int | None = None


def token_make(*, publisher_id: int, email: str, send_id: int | None = None) -> str:
    """A signed, URL-safe token naming (publisher, address hash, send)."""
    payload = {"p": publisher_id, "h": email_hash(email)}
    if send_id is not None:
        payload["s"] = send_id
    return signing.dumps(payload, salt=TOKEN_SALT)


def token_read(token: str) -> UnsubscribeToken | None:
    """The token's content, or None when it was altered or is not ours."""
    try:
        payload = signing.loads(token, salt=TOKEN_SALT)
    except signing.BadSignature:
        return None
    try:
        publisher_id, hashed, send_id = payload["p"], payload["h"], payload.get("s")
    except (KeyError, TypeError):
        return None
    if not isinstance(publisher_id, int) or not isinstance(hashed, str) or len(hashed) != 64:
        return None
    if send_id is not None and not isinstance(send_id, int):
        return None
    return UnsubscribeToken(publisher_id, hashed, send_id)


def unsubscribe_url(*, publisher_id: int, email: str, send_id: int | None = None) -> str:
    """The absolute one-click URL for List-Unsubscribe and the visible link."""
    token = token_make(publisher_id=publisher_id, email=email, send_id=send_id)
    return settings.PORTAL_BASE_URL + reverse("unsubscribe", kwargs={"token": token})


class _Sha256Hex(Func):
    """PostgreSQL's built-in sha256() as hex (Django's SHA256 needs pgcrypto)."""

    template = "encode(sha256(convert_to(%(expressions)s, 'UTF8')), 'hex')"
    output_field = TextField()


def leads_with_email_hash(*, publisher_id: int, hashed_email: str) -> QuerySet | list[int]:
    """The publisher's leads (any origin) whose normalized address has this hash."""
    leads = Lead.objects.filter(publisher_id=publisher_id)
    if connection.vendor == "postgresql":
        return leads.annotate(hashed=_Sha256Hex("email_normalized")).filter(hashed=hashed_email)
    # The first-run SQLite has no sha256(): hash in Python (small databases only).
    return [
        pk
        for pk, email in leads.values_list("pk", "email_normalized")
        if email_hash(email) == hashed_email
    ]


@transaction.atomic
def suppression_add(
    *,
    publisher_id: int,
    hashed_email: str,
    reason: str,
    send_id: int | None = None,
    detail: str = "",
) -> bool:
    """Suppress an address for a publisher and stop its enrolments; True if it was new."""
    from leads.models import EmailSend

    if (
        send_id is not None
        and not EmailSend.objects.filter(
            pk=send_id, enrollment__campaign__publisher_id=publisher_id
        ).exists()
    ):
        send_id = None  # a token's send of another publisher is ignored, not trusted
    _, is_new = Suppression.objects.get_or_create(
        publisher_id=publisher_id,
        email_hash=hashed_email,
        defaults={"reason": reason, "send_id": send_id, "detail": detail[:300]},
    )
    stop_reason = {
        Suppression.Reason.UNSUBSCRIBED: Enrollment.StopReason.UNSUBSCRIBED,
        Suppression.Reason.BOUNCED: Enrollment.StopReason.BOUNCED,
    }.get(reason, Enrollment.StopReason.SUPPRESSED)
    lead_ids = leads_with_email_hash(publisher_id=publisher_id, hashed_email=hashed_email)
    Enrollment.objects.filter(lead_id__in=lead_ids, state=Enrollment.State.ACTIVE).update(
        state=Enrollment.State.STOPPED,
        stop_reason=stop_reason,
        stopped_at=timezone.now(),
        next_send_at=None,
    )
    logger.info(
        "leads.nurture.suppressed",
        extra={"publisher_id": publisher_id, "reason": reason, "new": is_new},
    )
    return is_new


def unsubscribe(*, token: UnsubscribeToken) -> bool:
    """The reader's opt-out: suppress the token's address for its publisher (idempotent)."""
    return suppression_add(
        publisher_id=token.publisher_id,
        hashed_email=token.email_hash,
        reason=Suppression.Reason.UNSUBSCRIBED,
        send_id=token.send_id,
    )


def suppression_add_email(*, publisher_id: int, email: str, reason: str, detail: str = "") -> bool:
    """Suppress a written-out address (staff, bounce handling)."""
    return suppression_add(
        publisher_id=publisher_id, hashed_email=email_hash(email), reason=reason, detail=detail
    )
