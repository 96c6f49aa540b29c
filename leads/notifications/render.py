"""New-lead email, the message: the least personal data that is useful (docs/notifications.md).

Each lead is shown by its name and company, the listing, the action and the time, with
a link to its page. Never its email address, phone, title, country or description: the
email may be forwarded or read on a shared screen, and the portal has the rest behind a
sign-in. Test leads (MSFT_TEST_…) are marked in the subject and beside each line.
"""

import re
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from leads.intake.referrals import CO_SELL_ACTION
from leads.models import LeadActivity, LeadNotification, NotificationEmail
from leads.notifications import selectors
from leads.nurture.render import from_address
from portal.tenancy.models import Membership

_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")


@dataclass(frozen=True)
class LeadLine:
    name: str
    company: str
    listing: str
    action: str
    when: str
    url: str
    is_test: bool


def _one_line(value: str) -> str:
    return _LINE_BREAKS.sub(" ", value or "").strip()


def _action_label(code: str) -> str:
    if code == CO_SELL_ACTION:
        return _("Co-Sell referral")
    labels = dict(LeadActivity.ActionCode.choices)
    return str(labels.get(code, code or _("Unknown action")))


def _line(notification: LeadNotification, choice: selectors.Choice) -> LeadLine:
    activity = notification.activity
    lead = activity.lead
    local = activity.occurred_at.astimezone(choice.zone)
    path = reverse("lead-open", args=[notification.publisher_id, lead.uuid])
    return LeadLine(
        name=_one_line(f"{lead.first_name} {lead.last_name}") or _("(no name)"),
        company=_one_line(lead.company),
        listing=_one_line(activity.listing.name if activity.listing else ""),
        action=_action_label(activity.action_code),
        when=f"{local:%Y-%m-%d %H:%M} ({choice.zone.key})",
        url=settings.PORTAL_BASE_URL + path,
        is_test=activity.is_test,
    )


def _subject(*, email: NotificationEmail, publisher: str, first: LeadLine, tests: int) -> str:
    total = email.lead_count
    if email.kind == NotificationEmail.Kind.DIGEST:
        subject = ngettext(
            "Daily digest for %(publisher)s: %(count)s new lead",
            "Daily digest for %(publisher)s: %(count)s new leads",
            total,
        ) % {"publisher": publisher, "count": total}
    elif total == 1:
        who = f"{first.name}, {first.company}" if first.company else first.name
        subject = _("New lead for %(publisher)s: %(who)s") % {"publisher": publisher, "who": who}
    else:
        subject = ngettext(
            "%(publisher)s: %(count)s new lead", "%(publisher)s: %(count)s new leads", total
        ) % {"publisher": publisher, "count": total}
    if tests and tests == total:
        subject = _("[Test] %(subject)s") % {"subject": subject}
    elif tests:
        subject += ngettext(" (%(tests)s test lead)", " (%(tests)s test leads)", tests) % {
            "tests": tests
        }
    return _one_line(subject)[:250]


def notification_message(*, email: NotificationEmail) -> EmailMultiAlternatives | None:
    """The email for one member: text and HTML parts, up to LEAD_NOTIFY_MAX_LISTED leads;
    None when its leads were deleted (erased) before it went out."""
    membership = Membership.objects.select_related("user", "publisher").get(pk=email.membership_id)
    choice = selectors.choice_for_membership(membership=membership)
    attached = LeadNotification.objects.filter(email=email)
    tests = attached.filter(activity__is_test=True).count()
    listed = attached.select_related("activity__lead", "activity__listing").order_by(
        "-activity__occurred_at", "-activity_id"
    )[: settings.LEAD_NOTIFY_MAX_LISTED]
    publisher = _one_line(membership.publisher.name)
    with translation.override(choice.language):
        lines = [_line(notification, choice) for notification in listed]
        if not lines:
            return None
        more = max(email.lead_count - len(lines), 0)
        context = {
            "publisher": publisher,
            "lines": lines,
            "digest": email.kind == NotificationEmail.Kind.DIGEST,
            "count": email.lead_count,
            "more": ngettext("…and %(more)s more.", "…and %(more)s more.", more) % {"more": more}
            if more
            else "",
            "leads_url": settings.PORTAL_BASE_URL + reverse("leads"),
            "settings_url": settings.PORTAL_BASE_URL + reverse("settings") + "#notifications",
        }
        message = EmailMultiAlternatives(
            subject=_subject(email=email, publisher=publisher, first=lines[0], tests=tests),
            body=render_to_string("emails/lead_notification.txt", context),
            from_email=from_address(publisher),
            to=[membership.user.email],
            # RFC 3834: an automatic message, so auto-responders stay quiet.
            headers={"Auto-Submitted": "auto-generated"},
        )
        message.attach_alternative(
            render_to_string("emails/lead_notification.html", context), "text/html"
        )
    return message
