"""Unsubscribe tokens and the per-publisher suppression list (RFC 8058; DESIGN §3).

A token is a compact signed value, `<publisher hex>.<send hex>.<address HMAC>.<signature>`
(about 75 characters, so that List-Unsubscribe stays one literal line; docs/email.md). It
carries the publisher, the keyed HMAC of the normalized address (leads.nurture.address_hash;
never the address itself, base64url) and, for a real nurture message, the send it came in
(0 for none). The signature is a salted HMAC-SHA256 of the rest under SECRET_KEY,
truncated to 128 bits, with a salt of its own so that no other signed value of the portal
can stand in for it; SECRET_KEY_FALLBACKS are accepted. It never expires: CAN-SPAM wants
an opt-out to work for at least 30 days, and a reader may find an old message years later.
Older tokens keep working: `django.core.signing` values with salt "…v2" (the HMAC) and
"…v1" (the bare SHA-256).

Every suppression check (enrolment, send time, unsubscribe, admin) goes through this
module or leads.nurture.address_hash, which match an address under every key and the legacy
SHA-256 rows.
"""

import base64
import binascii
import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import connection, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from leads.consent import services as consent_services
from leads.models import EmailSend, Enrollment, Lead, Suppression
from leads.nurture import address_hash
from portal import metrics

logger = logging.getLogger(__name__)

COMPACT_SALT = "leads.unsubscribe.v3"
TOKEN_SALT = "leads.unsubscribe.v2"  # signing tokens with the HMAC (before the compact form)
LEGACY_TOKEN_SALT = "leads.unsubscribe.v1"  # tokens with the bare SHA-256


def email_hash(email: str) -> str:
    """How a new suppression or token names an address: its HMAC under the current key."""
    return address_hash.address_hash(email)


@dataclass(frozen=True)
class UnsubscribeToken:
    publisher_id: int
    email_hash: str
    send_id: int | None = None
    is_legacy: bool = False  # the hash is the bare SHA-256 of a token made before the HMAC


def token_make(*, publisher_id: int, email: str, send_id: int | None = None) -> str:
    """A compact signed, URL-safe token naming (publisher, address HMAC, send)."""
    hashed = base64.urlsafe_b64encode(bytes.fromhex(email_hash(email))).rstrip(b"=").decode()
    value = f"{publisher_id:x}.{send_id or 0:x}.{hashed}"
    return f"{value}.{_signature(value, settings.SECRET_KEY)}"


def _signature(value: str, secret: str) -> str:
    digest = salted_hmac(COMPACT_SALT, value, secret=secret, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


_COMPACT = re.compile(
    r"([0-9a-f]{1,15})\.([0-9a-f]{1,15})\.([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{22})"
)


def _compact_read(token: str) -> UnsubscribeToken | None:
    match = _COMPACT.fullmatch(token)
    if match is None:
        return None
    value = token.rsplit(".", 1)[0]
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    if not any(constant_time_compare(match[4], _signature(value, secret)) for secret in secrets):
        return None
    try:
        hashed = base64.urlsafe_b64decode(match[3] + "=").hex()
    except (binascii.Error, ValueError):
        return None
    return UnsubscribeToken(int(match[1], 16), hashed, int(match[2], 16) or None)


def token_read(token: str) -> UnsubscribeToken | None:
    """The token's content, or None when it was altered or is not ours."""
    compact = _compact_read(token)
    if compact is not None:
        return compact
    for salt, is_legacy in ((TOKEN_SALT, False), (LEGACY_TOKEN_SALT, True)):
        try:
            payload = signing.loads(token, salt=salt)
        except signing.BadSignature:
            continue
        return _token_fields(payload, is_legacy=is_legacy)
    return None


def _token_fields(payload, *, is_legacy: bool) -> UnsubscribeToken | None:
    try:
        publisher_id, hashed, send_id = payload["p"], payload["h"], payload.get("s")
    except (KeyError, TypeError):
        return None
    if not isinstance(publisher_id, int) or not isinstance(hashed, str) or len(hashed) != 64:
        return None
    if send_id is not None and not isinstance(send_id, int):
        return None
    return UnsubscribeToken(publisher_id, hashed, send_id, is_legacy)


def unsubscribe_url(*, publisher_id: int, email: str, send_id: int | None = None) -> str:
    """The absolute one-click URL for List-Unsubscribe and the visible link."""
    token = token_make(publisher_id=publisher_id, email=email, send_id=send_id)
    return settings.PORTAL_BASE_URL + reverse("unsubscribe", kwargs={"token": token})


# --- Matching -------------------------------------------------------------------------------


def suppression_match(email: str) -> Q:
    """Rows that name this address: its HMAC under any key, or a legacy row's SHA-256."""
    return Q(is_legacy=False, email_hash__in=address_hash.address_hashes(email)) | Q(
        is_legacy=True, email_hash=address_hash.legacy_hash(email)
    )


def suppressed_addresses(*, pairs: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which (publisher id, normalized address) pairs are suppressed; one query."""
    if not pairs:
        return set()
    named: dict[tuple[int, str, bool], tuple[int, str]] = {}
    for publisher_id, email in pairs:
        for hashed in address_hash.address_hashes(email):
            named[(publisher_id, hashed, False)] = (publisher_id, email)
        named[(publisher_id, address_hash.legacy_hash(email), True)] = (publisher_id, email)
    rows = Suppression.objects.filter(
        publisher_id__in={publisher_id for publisher_id, _email in pairs},
        email_hash__in={hashed for _p, hashed, _legacy in named},
    ).values_list("publisher_id", "email_hash", "is_legacy")
    return {named[row] for row in rows if row in named}


def is_suppressed(*, publisher_id: int, email: str) -> bool:
    """Whether the publisher must not email this address."""
    return Suppression.objects.filter(suppression_match(email), publisher_id=publisher_id).exists()


def _address_of(*, publisher_id: int, token: UnsubscribeToken) -> str | None:
    """The normalized address a token names, when a lead of the publisher still has it:
    the lead of the token's send first (one row), else a scan of the publisher's leads."""
    if token.send_id is not None:
        email = (
            EmailSend.objects.filter(
                pk=token.send_id, enrollment__campaign__publisher_id=publisher_id
            )
            .values_list("enrollment__lead__email_normalized", flat=True)
            .first()
        )
        if email is not None and _names(token, email):
            return email
    leads = Lead.objects.filter(publisher_id=publisher_id)
    if connection.vendor != "postgresql":
        # The first-run SQLite has no sha256(): hash in Python (small databases only).
        emails = leads.values_list("email_normalized", flat=True).distinct()
        return next((email for email in emails if _names(token, email)), None)
    if token.is_legacy:
        expressions = [(address_hash.legacy_sql('"leads_lead"."email_normalized"'), [])]
    else:
        expressions = [
            address_hash.hmac_sql('"leads_lead"."email_normalized"', key)
            for key in address_hash.hash_keys()
        ]
    for sql, params in expressions:
        found = (
            leads.annotate(hashed=RawSQL(sql, params))  # noqa: S611  (our SQL, bound keys)
            .filter(hashed=token.email_hash)
            .values_list("email_normalized", flat=True)
            .first()
        )
        if found is not None:
            return found
    return None


def _names(token: UnsubscribeToken, email: str) -> bool:
    if token.is_legacy:
        return address_hash.legacy_hash(email) == token.email_hash
    return token.email_hash in address_hash.address_hashes(email)


# --- Writing --------------------------------------------------------------------------------

_STOP_REASONS = {
    Suppression.Reason.UNSUBSCRIBED: Enrollment.StopReason.UNSUBSCRIBED,
    Suppression.Reason.BOUNCED: Enrollment.StopReason.BOUNCED,
}


@transaction.atomic
def suppression_add_email(
    *,
    publisher_id: int,
    email: str,
    reason: str,
    send_id: int | None = None,
    detail: str = "",
    by=None,
) -> bool:
    """Suppress an address for a publisher, stop its enrolments and record the consent
    evidence (`by`: the staff user who reported it); True if the suppression was new."""
    email = address_hash.normalize(email)
    send_id = _own_send(publisher_id, send_id)
    existing = Suppression.objects.filter(suppression_match(email), publisher_id=publisher_id)
    is_new = not existing.exists()
    if is_new:
        _, is_new = Suppression.objects.get_or_create(
            publisher_id=publisher_id,
            email_hash=email_hash(email),
            defaults={
                "reason": reason,
                "send_id": send_id,
                "detail": detail[:300],
            },
        )
    Enrollment.objects.filter(
        lead__publisher_id=publisher_id,
        lead__email_normalized=email,
        state=Enrollment.State.ACTIVE,
    ).update(
        state=Enrollment.State.STOPPED,
        stop_reason=_STOP_REASONS.get(reason, Enrollment.StopReason.SUPPRESSED),
        stopped_at=timezone.now(),
        next_send_at=None,
    )
    # A second unsubscribe says nothing new; every bounce and complaint is evidence.
    if is_new or reason != Suppression.Reason.UNSUBSCRIBED:
        consent_services.consent_records_for_suppression(
            publisher_id=publisher_id,
            email_normalized=email,
            reason=reason,
            send_id=send_id,
            by=by,
        )
    _log(publisher_id, reason, is_new)
    return is_new


@transaction.atomic
def unsubscribe(*, token: UnsubscribeToken) -> bool:
    """The reader's opt-out: suppress the token's address for its publisher (idempotent).

    When a lead still has the address, the row is written under the current HMAC key,
    whatever the token carries; otherwise the token's own hash is kept (a legacy one
    marked so), which every lookup still matches."""
    reason = Suppression.Reason.UNSUBSCRIBED
    email = _address_of(publisher_id=token.publisher_id, token=token)
    if email is not None:
        return suppression_add_email(
            publisher_id=token.publisher_id, email=email, reason=reason, send_id=token.send_id
        )
    _, is_new = Suppression.objects.get_or_create(
        publisher_id=token.publisher_id,
        email_hash=token.email_hash,
        is_legacy=token.is_legacy,
        defaults={"reason": reason, "send_id": _own_send(token.publisher_id, token.send_id)},
    )
    _log(token.publisher_id, reason, is_new)
    return is_new


def _own_send(publisher_id: int, send_id: int | None) -> int | None:
    if send_id is None:
        return None
    is_own = EmailSend.objects.filter(
        pk=send_id, enrollment__campaign__publisher_id=publisher_id
    ).exists()
    return send_id if is_own else None  # a token's send of another publisher is ignored


def _log(publisher_id: int, reason: str, is_new: bool) -> None:
    if is_new:
        metrics.SUPPRESSIONS.labels(reason=reason).inc()
    logger.info(
        "leads.nurture.suppressed",
        extra={"publisher_id": publisher_id, "reason": reason, "new": is_new},
    )
