"""Failure alerts: one email per target per day when its deliveries fail for good."""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from crm.models import CrmTarget

logger = logging.getLogger(__name__)

ALERT_INTERVAL = timedelta(days=1)


def alert_recipients(target: CrmTarget) -> list[str]:
    """The publisher's lead contact, and the target's own contactEmail list."""
    recipients = []
    if target.publisher and target.publisher.lead_contact_email:
        recipients.append(target.publisher.lead_contact_email)
    contacts = target.config.get("contactEmail") or []
    if isinstance(contacts, str):
        contacts = contacts.replace(";", ",").split(",")
    recipients.extend(c.strip() for c in contacts if c and c.strip())
    return list(dict.fromkeys(recipients))


def failure_alert_maybe(*, target: CrmTarget, error: str, now) -> bool:
    """Send the alert unless this target had one in the last day. The conditional UPDATE
    is the arbiter, so concurrent failures on many workers send one email."""
    claimed = CrmTarget.objects.filter(
        Q(last_alert_sent_at__isnull=True) | Q(last_alert_sent_at__lte=now - ALERT_INTERVAL),
        pk=target.pk,
    ).update(last_alert_sent_at=now)
    if not claimed:
        return False
    recipients = alert_recipients(target)
    if not recipients:
        return False
    context = {
        "target": target,
        "error": error[:500],
        "portal_url": f"{settings.PORTAL_BASE_URL}/crm/targets/{target.pk}/",
    }
    subject = _("Lead Portal: leads are failing to reach %(target)s") % {"target": target.name}
    body = render_to_string("emails/delivery_failure.txt", context)
    transaction.on_commit(lambda: _send(subject, body, recipients, target.pk), robust=True)
    return True


def _send(subject: str, body: str, recipients: list[str], target_id: int) -> None:
    try:
        send_mail(subject, body, None, recipients)
    except Exception:
        logger.warning("crm.alert.not_sent", extra={"target_id": target_id}, exc_info=True)
