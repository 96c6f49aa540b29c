"""What happens to a nurture email after it left (docs/email.md).

ESP tracking events arrive through django-anymail's webhooks, which authenticate them and
normalise each ESP's format; its `tracking` signal calls `esp_event_receive`. A click on a
tracked link (leads.nurture.links) calls `email_event_record` directly. Each event is stored
once per (source, event id) and matched to its send by message id:
  delivered: the send's delivered time;   bounced: hard suppresses, soft is counted;
  complained: suppresses (consent evidence); unsubscribed at the ESP: suppresses;
  opened, clicked: recorded.
"""

import hashlib
import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from leads.models import EmailEvent, EmailSend, Suppression
from leads.nurture.unsubscribe import suppression_add_email

logger = logging.getLogger(__name__)

Kind = EmailEvent.Kind

# anymail's normalised event types that we keep; the others (queued, sent, rejected…) are not
# about a delivered message's fate.
_KINDS = {
    "delivered": Kind.DELIVERED,
    "bounced": Kind.BOUNCED,
    "deferred": Kind.SOFT_BOUNCED,
    "complained": Kind.COMPLAINED,
    "opened": Kind.OPENED,
    "clicked": Kind.CLICKED,
    "unsubscribed": Kind.UNSUBSCRIBED,
}
_SUPPRESS = {
    Kind.BOUNCED: Suppression.Reason.BOUNCED,
    Kind.COMPLAINED: Suppression.Reason.COMPLAINED,
    Kind.UNSUBSCRIBED: Suppression.Reason.UNSUBSCRIBED,
}


def esp_event_receive(sender=None, event=None, esp_name: str = "", **kwargs) -> None:
    """anymail's `tracking` signal: one normalised event from an authenticated webhook."""
    kind = _KINDS.get(event.event_type)
    if kind is None or not event.message_id:
        return
    if kind == Kind.BOUNCED and _is_soft_bounce(event.esp_event):
        kind = Kind.SOFT_BOUNCED
    email_event_record(
        esp=esp_name,
        event_id=event.event_id or _derived_id(event),
        kind=kind,
        message_id=str(event.message_id),
        url=event.click_url or "",
        # The normalised reason only: an ESP's free text can quote the address.
        detail=str(event.reject_reason or ""),
        occurred_at=event.timestamp,
    )


@transaction.atomic
def email_event_record(
    *,
    esp: str,
    event_id: str,
    kind: str,
    message_id: str = "",
    send: EmailSend | None = None,
    url: str = "",
    detail: str = "",
    occurred_at: datetime | None = None,
) -> EmailEvent | None:
    """Store one event of a send (found by `send` or its `message_id`) and apply it; None when
    the send is unknown or the event was seen already (an ESP retries its webhooks)."""
    if send is None:
        send = (
            EmailSend.objects.select_related("enrollment__lead", "enrollment__campaign")
            .filter(message_id=message_id)
            .first()
        )
    if send is None:
        logger.info("leads.nurture.event_unmatched", extra={"esp": esp, "kind": kind})
        return None
    row, is_new = EmailEvent.objects.get_or_create(
        esp=esp[:40],
        event_id=event_id[:200],
        defaults={
            "send": send,
            "kind": kind,
            "url": url[:2000],
            "detail": detail[:300],
            "occurred_at": occurred_at or timezone.now(),
        },
    )
    if not is_new:
        return None
    _apply(send, row)
    logger.info("leads.nurture.event", extra={"esp": esp, "kind": kind, "send_id": send.pk})
    return row


def _apply(send: EmailSend, event: EmailEvent) -> None:
    if event.kind == Kind.DELIVERED:
        EmailSend.objects.filter(pk=send.pk, delivered_at__isnull=True).update(
            delivered_at=event.occurred_at
        )
    elif event.kind == Kind.BOUNCED:
        EmailSend.objects.filter(pk=send.pk).update(status=EmailSend.Status.BOUNCED)
    reason = _SUPPRESS.get(event.kind)
    if reason is not None:
        suppression_add_email(
            publisher_id=send.enrollment.campaign.publisher_id,
            email=send.enrollment.lead.email,
            reason=reason,
            send_id=send.pk,
            detail=f"{event.esp}: {event.kind}",
        )


def _is_soft_bounce(esp_event) -> bool:
    """A bounce the ESP calls temporary (Postmark's SoftBounce, SES's Transient)."""
    if not isinstance(esp_event, dict):
        return False
    if esp_event.get("Type") == "SoftBounce":
        return True
    bounce = esp_event.get("bounce")
    return isinstance(bounce, dict) and bounce.get("bounceType") == "Transient"


def _derived_id(event) -> str:
    """ESPs without an event id (Postmark's deliveries and opens): a stable digest of it."""
    stamp = event.timestamp.isoformat() if event.timestamp else ""
    key = f"{event.event_type}|{event.message_id}|{stamp}|{event.recipient or ''}"
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()
