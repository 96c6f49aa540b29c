"""Failure alerts: one email per target per day when its deliveries fail for good."""

from datetime import timedelta

from django.conf import settings
from django.utils.translation import gettext as _

from crm.models import CrmTarget
from portal.alerts import alert_claim, alert_send_on_commit

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
    recipients = alert_claim(
        rows=CrmTarget.objects.filter(pk=target.pk),
        field="last_alert_sent_at",
        now=now,
        interval=ALERT_INTERVAL,
        recipients=lambda: alert_recipients(target),
    )
    if not recipients:
        return False
    alert_send_on_commit(
        subject=_("Lead Portal: leads are failing to reach %(target)s") % {"target": target.name},
        template="emails/delivery_failure.txt",
        context={
            "target": target,
            "error": error[:500],
            "portal_url": f"{settings.PORTAL_BASE_URL}/crm/targets/{target.pk}/",
        },
        recipients=recipients,
        log_event="crm.alert.not_sent",
        log_extra={"target_id": target.pk},
    )
    return True
