"""The alert a publisher's owners get when an inbound URL holds leads over its hourly limit.

One email per source per hour, as crm.alerts does for failing targets: a conditional
UPDATE of `limit_alerted_at` is the arbiter, so a flood on many web workers sends one.
The email names the listing and links to its Inbound panel; it holds no lead's data.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _

from inbound.models import InboundSource
from portal.alerts import alert_claim, alert_send_on_commit
from portal.tenancy.models import Membership

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
    recipients = alert_claim(
        rows=InboundSource.objects.filter(pk=source.pk),
        field="limit_alerted_at",
        now=now,
        interval=ALERT_INTERVAL,
        recipients=lambda: alert_recipients(source),
    )
    if not recipients:
        return False
    path = reverse("listing-detail", kwargs={"listing_id": source.listing_id})
    alert_send_on_commit(
        subject=_("Lead Portal: leads held at %(listing)s's inbound URL")
        % {"listing": source.listing.name},
        template="emails/inbound_rate_limited.txt",
        context={
            "listing": source.listing,
            "limit": source.hourly_limit,
            "portal_url": f"{settings.PORTAL_BASE_URL}{path}#inbound",
        },
        recipients=recipients,
        log_event="inbound.alert.not_sent",
        log_extra={"source_id": source.pk},
    )
    return True
