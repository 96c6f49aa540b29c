"""Publisher-written nurture templates: placeholders only, never the Django engine.

Publishers are not trusted template authors (Django's own docs say the engine is not
safe against them), so a subject or body is plain text with `{name}` placeholders from
a fixed allowlist. `string.Formatter().parse` splits it; anything but a bare allowed
name is refused at save: unknown names, attribute or index access (`{x.__class__}`,
`{x[0]}`), conversions and format specs, positional `{}`, and Django template syntax
(`{{ … }}`, `{% … %}`, `{# … #}`). Rendering substitutes strings itself (no
`str.format`), so even a template that slipped past validation cannot walk attributes.

The body is Markdown (leads.nurture.markup): the HTML part is rendered and sanitised,
every substituted value escaped; the text part comes from the same source. Our own
wrapper and footer (templates/emails/) add the unsubscribe link and the postal address to
both parts.
"""

import email
import email.policy
import re
import secrets
import string
from dataclasses import dataclass
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from functools import lru_cache

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from leads.lifecycle.snapshot import LeadSnapshot
from leads.nurture import markup

PLACEHOLDERS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "company",
    "title",
    "offer_title",
    "publisher_name",
    "unsubscribe_url",
)
_DJANGO_SYNTAX = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")


def template_errors(text: str) -> list[str]:
    """Why this subject or body is refused; empty when it may be saved."""
    if _DJANGO_SYNTAX.search(text):
        return [
            _(
                "Template tags and {{ … }} variables are not allowed. Use placeholders "
                "such as {first_name}."
            )
        ]
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:
        return [_("A { or } is unbalanced. Write placeholders as {first_name}.")]
    errors = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if conversion or spec:
            errors.append(
                _("{%(name)s…}: conversions and formats are not allowed.") % {"name": name}
            )
        elif not name:
            errors.append(_("Empty placeholder {}: name one, such as {first_name}."))
        elif not name.isidentifier():
            errors.append(
                _("{%(name)s}: only plain placeholder names are allowed.") % {"name": name}
            )
        elif name not in PLACEHOLDERS:
            errors.append(
                _("Unknown placeholder {%(name)s}. Use one of: %(allowed)s.")
                % {"name": name, "allowed": ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)}
            )
    return errors


def _pieces(text: str):
    """(literal, placeholder name or None) pairs of a validated template."""
    for literal, name, _spec, _conversion in string.Formatter().parse(text):
        yield literal, name if name in PLACEHOLDERS else None


def render_text(template: str, values: dict[str, str]) -> str:
    """Substitute the placeholders as plain text."""
    return "".join(
        literal + (values.get(name, "") if name else "") for literal, name in _pieces(template)
    )


def render_subject(template: str, values: dict[str, str]) -> str:
    """A one-line subject: line breaks from any value become spaces."""
    return _LINE_BREAKS.sub(" ", render_text(template, values)).strip()[:250]


def render_html_body(template: str, values: dict[str, str]) -> SafeString:
    """The body, written in Markdown, as sanitised HTML; every value is escaped."""
    return markup.markdown_html(_pieces(template), values)


def render_text_body(template: str, values: dict[str, str]) -> str:
    """The text part from the same Markdown source, placeholders substituted."""
    return render_text(markup.markdown_source_as_text(template), values)


@dataclass(frozen=True)
class Recipient:
    """What a message needs to know about its lead and publisher."""

    lead: LeadSnapshot
    publisher_name: str
    postal_address: str
    reply_to: str
    offer_title: str


def placeholder_values(recipient: Recipient, unsubscribe_url: str) -> dict[str, str]:
    """The allowlisted values a template may use, as plain strings."""
    return {
        "first_name": recipient.lead.first_name,
        "last_name": recipient.lead.last_name,
        "company": recipient.lead.company,
        "title": recipient.lead.title,
        "offer_title": recipient.offer_title,
        "publisher_name": recipient.publisher_name,
        "unsubscribe_url": unsubscribe_url,
    }


def from_address(publisher_name: str, address: str = "") -> str:
    """The publisher's verified address (leads.sending), else DEFAULT_FROM_EMAIL's, with the
    publisher's name as display name."""
    return _from_address(publisher_name, address, settings.DEFAULT_FROM_EMAIL)


@lru_cache(maxsize=256)
def _from_address(publisher_name: str, address: str, default_from: str) -> str:
    address = address or parseaddr(default_from)[1] or default_from
    return formataddr((_LINE_BREAKS.sub(" ", publisher_name).strip(), address))


def message_id(from_email: str) -> str:
    """A Message-ID on the sender's own domain (the host name says nothing to a reader)."""
    return make_msgid(idstring="nurture", domain=_message_id_domain(from_email))


@lru_cache(maxsize=256)
def _message_id_domain(from_email: str) -> str:
    domain = parseaddr(from_email)[1].rpartition("@")[2] or "localhost"
    return domain.encode("idna").decode("ascii")


class NurtureMessage(EmailMultiAlternatives):
    """A message whose headers fold at RFC 5322's 998 characters, not 78.

    Python's email policy folds a header with a word longer than its line length by
    rewriting it as RFC 2047 encoded words; mailbox providers then no longer see the
    literal `<https://…>` of List-Unsubscribe. At 998 the header stays one literal line
    (the compact token keeps it far shorter); other headers are still encoded when they
    are not ASCII.
    """

    # bytes -> the DKIM-Signature header, set when the portal signs (leads.sending.signing).
    signer = None
    # leads.nurture.overlap.Handover while the courier sends its envelope (MAIL, RCPT).
    handover = None

    def message(self, *, policy=email.policy.default):
        policy = policy.clone(max_line_length=998)
        built = super().message(policy=policy)
        if self.signer is None:
            return built
        raw = built.as_bytes()
        # Parsed back, the message serializes to the bytes that were signed (no line is
        # refolded under 998), now with the signature first.
        return email.message_from_bytes(self.signer(raw) + raw, policy=policy)


def build_message(
    *, subject: str, body: str, recipient: Recipient, unsubscribe_url: str, from_email: str = ""
) -> EmailMultiAlternatives:
    """A nurture message: text and HTML parts, footer, and RFC 8058 headers."""
    return StepTemplate(subject, body).message(
        recipient=recipient, unsubscribe_url=unsubscribe_url, from_email=from_email
    )


class StepTemplate:
    """A step's subject and body compiled once (a sender compiles each step once per batch).

    The Markdown body is parsed once (markup.MarkdownTemplate), the subject and text part
    are split into pieces once, and our wrapper templates (templates/emails/) are rendered
    once per publisher with sentinels where the body and the unsubscribe link go. Each
    message then costs string joins and one regex pass per part; values are escaped in the
    HTML exactly as before.
    """

    def __init__(self, subject: str, body: str):
        self._subject = list(_pieces(subject))
        self._text = list(_pieces(markup.markdown_source_as_text(body)))
        self._html = markup.MarkdownTemplate(_pieces(body))
        self._wrappers: dict[tuple[str, str], _Wrapper] = {}

    def message(
        self, *, recipient: Recipient, unsubscribe_url: str, from_email: str = ""
    ) -> EmailMultiAlternatives:
        values = placeholder_values(recipient, unsubscribe_url)
        key = (recipient.publisher_name, recipient.postal_address)
        wrapper = self._wrappers.get(key) or self._wrappers.setdefault(key, _Wrapper(*key))
        text, html = wrapper.fill(
            body_text=_joined(self._text, values),
            body_html=self._html.render(values),
            unsubscribe_url=unsubscribe_url,
        )
        sender = from_address(recipient.publisher_name, from_email)
        message = NurtureMessage(
            subject=_LINE_BREAKS.sub(" ", _joined(self._subject, values)).strip()[:250],
            body=text,
            from_email=sender,
            to=[recipient.lead.email],
            reply_to=[recipient.reply_to] if recipient.reply_to else None,
            headers={
                "Message-ID": message_id(sender),
                "Date": format_datetime(timezone.now()),
                "List-Unsubscribe": f"<{unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
        message.attach_alternative(html, "text/html")
        return message


def _joined(pieces: list[tuple[str, str | None]], values: dict[str, str]) -> str:
    return "".join(literal + (values.get(name, "") if name else "") for literal, name in pieces)


class _Wrapper:
    """Our text and HTML wrappers for one publisher, rendered once with sentinels."""

    def __init__(self, publisher_name: str, postal_address: str):
        nonce = secrets.token_hex(8)
        self._body_text, self._body_html, self._url = (f"wr{nonce}x{n}x" for n in range(3))
        context = {
            "body_text": self._body_text,
            "body_html": mark_safe(self._body_html),  # noqa: S308  (an alphanumeric sentinel)
            "publisher_name": publisher_name,
            "postal_address": postal_address,
            "unsubscribe_url": self._url,
        }
        self._text = render_to_string("emails/nurture_message.txt", context)
        self._html = render_to_string("emails/nurture_message.html", context)
        self._pattern = re.compile(f"{self._body_text}|{self._body_html}|{self._url}")

    def fill(self, *, body_text: str, body_html: str, unsubscribe_url: str) -> tuple[str, str]:
        """The text and HTML parts: in the HTML the link is escaped, as the template would."""
        text = {self._body_text: body_text, self._url: unsubscribe_url}
        html = {self._body_html: body_html, self._url: str(escape(unsubscribe_url))}
        return (
            self._pattern.sub(lambda m: text[m.group(0)], self._text),
            self._pattern.sub(lambda m: html[m.group(0)], self._html),
        )
