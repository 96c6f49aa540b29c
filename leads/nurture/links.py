"""Optional click tracking without an ESP (docs/email.md, "Click tracking").

When a campaign turns it on, each http(s) link of a step goes through `/r/<signed>/`: the
signed value names the send and the exact URL. The redirect records the click and goes only
to that URL; a tampered or foreign value is refused, so it is never an open redirect. Links to
the portal itself (the unsubscribe link) are left alone. There is no tracking pixel: opens
come only from an ESP's events.
"""

import html
import re
import uuid

from django.conf import settings
from django.core import signing
from django.urls import reverse

from leads.models import EmailEvent, EmailSend, NurtureSequence
from leads.nurture.events import email_event_record

SALT = "leads.nurture.links"
# A URL in text or in an href; trailing punctuation of a sentence is not part of it.
_URL = re.compile(r"""https?://[^\s<>"'`]+""")
_TRAILING = ".,;:!?)]}"


class TrackedLink:
    """A verified /r/ value: the send it was made for and the URL it leads to."""

    def __init__(self, send_id: int, url: str):
        self.send_id, self.url = send_id, url


def campaigns_click_tracked(campaign_ids: set[int]) -> set[int]:
    """Those of the campaigns whose sequence tracks clicks (off by default)."""
    return set(
        NurtureSequence.objects.filter(
            campaign_id__in=campaign_ids, click_tracking=True
        ).values_list("campaign_id", flat=True)
    )


def link_sign(*, send_id: int, url: str) -> str:
    return signing.dumps([send_id, url], salt=SALT, compress=True)


def link_read(signed: str) -> TrackedLink | None:
    """The link a value was signed for, or None when it was tampered with."""
    try:
        send_id, url = signing.loads(signed, salt=SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(send_id, int) or not isinstance(url, str) or not _URL.fullmatch(url):
        return None
    return TrackedLink(send_id, url)


def links_tracked(html_or_text: str, *, send: EmailSend) -> str:
    """Every outside http(s) link of a message part rewritten through the signed redirect."""

    def rewrite(match: re.Match) -> str:
        found = match.group(0)
        kept = found.rstrip(_TRAILING)
        tail = found[len(kept) :]
        url = html.unescape(kept)  # an href's &amp; is the URL's &
        if url.startswith(settings.PORTAL_BASE_URL + "/"):
            return found
        signed = link_sign(send_id=send.pk, url=url)
        return settings.PORTAL_BASE_URL + reverse("tracked-link", args=[signed]) + tail

    return _URL.sub(rewrite, html_or_text)


def message_links_tracked(message, *, send: EmailSend) -> None:
    """Rewrite the links of a built message's text part and HTML alternatives in place."""
    message.body = links_tracked(message.body, send=send)
    message.alternatives = [
        type(part)(links_tracked(part.content, send=send), part.mimetype)
        for part in message.alternatives
    ]


def link_click_record(*, link: TrackedLink) -> EmailEvent | None:
    """Record one click of a tracked link (each click is its own event)."""
    send = (
        EmailSend.objects.select_related("enrollment__lead", "enrollment__campaign")
        .filter(pk=link.send_id)
        .first()
    )
    if send is None:  # the send was erased since: the link still works
        return None
    return email_event_record(
        esp="portal",
        event_id=uuid.uuid4().hex,
        kind=EmailEvent.Kind.CLICKED,
        send=send,
        url=link.url,
    )
