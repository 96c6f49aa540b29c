"""The alert a publisher's owners get when an inbound URL holds leads over its hourly limit.

One email per source per hour, as crm.alerts does for failing targets: a conditional
UPDATE of `limit_alerted_at` is the arbiter, so a flood on many web workers sends one.
The email names the listing and links to its Inbound panel; it holds no lead's data.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _

from inbound.models import InboundSource
from portal.tenancy.models import Membership

logger = logging.getLogger(__name__)

ALERT_INTERVAL = timedelta(hours=1)


def alert_recipients(source: InboundSource) -> list[str]:
    """The publisher's owners and its lead contact address."""
    owners = Membership.objects.filter(
        publisher_id=source.publisher_id, role=Membership.Role.OWNER
    ).exclude(user__email="")
    recipients = list(owners.values_list("user__email", flat=True).order_by("user__email"))
    contact = source.publisher.lead_contact_email
    if contact:
        recipients.append(contact)
    return list(dict.fromkeys(recipients))


def rate_limit_alert_maybe(*, source: InboundSource, now: datetime) -> bool:
    """Email the owners that this source holds leads, unless it did in the last hour."""
    claimed = InboundSource.objects.filter(
        Q(limit_alerted_at__isnull=True) | Q(limit_alerted_at__lte=now - ALERT_INTERVAL),
        pk=source.pk,
    ).update(limit_alerted_at=now)
    if not claimed:
        return False
    recipients = alert_recipients(source)
    if not recipients:
        return False
    path = reverse("listing-detail", kwargs={"listing_id": source.listing_id})
    context = {
        "listing": source.listing,
        "limit": source.hourly_limit,
        "portal_url": f"{settings.PORTAL_BASE_URL}{path}#inbound",
    }
    subject = _("Lead Portal: leads held at %(listing)s's inbound URL") % {
        "listing": source.listing.name
    }
    body = render_to_string("emails/inbound_rate_limited.txt", context)
    transaction.on_commit(lambda: _send(subject, body, recipients, source.pk), robust=True)
    return True


def _send(subject: str, body: str, recipients: list[str], source_id: int) -> None:
    try:
        send_mail(subject, body, None, recipients)
    except Exception:
        logger.warning("inbound.alert.not_sent", extra={"source_id": source_id}, exc_info=True)
