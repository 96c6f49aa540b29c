"""A nurture message's SMTP bytes without the `email` package's per-message header parsing.

Django's route (`EmailMessage.message()`, then `as_bytes()`) parses every header under
`email.policy` and folds it again, for every message: about 1.8 ms of CPU. A nurture message
has one shape (a text part and one HTML alternative, a dozen headers), so `message_wire`
writes its bytes directly, the bytes Django's route writes for the same message
(tests/leads/test_nurture_wire.py compares them header by header and part by part):
- a header whose value is plain printable ASCII (words between single spaces, no encoded
  word) is written as it is, which is what the `email` package's folding does with such a
  value under 998 octets; any other value (a non-ASCII subject or display name, an unusual
  address) is folded by the `email` package itself. From and Reply-To, the same for a whole
  batch, are folded once and kept (`_folded` is cached);
- each part's transfer encoding is chosen and applied by the function the `email` package's
  content manager uses (7bit, 8bit, or quoted-printable or base64 past 998 octets a line);
- the multipart boundary has the `email` package's form and is checked against the parts.
A message of any other shape (Cc or Bcc, attachments, a non-UTF-8 charset, its own From
header, an address with a non-ASCII domain) gets None and takes Django's route.
"""

import email.policy
import re
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass
from email import contentmanager
from email.headerregistry import AddressHeader
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache

from django.conf import settings

# What Django's SMTP backend serializes a NurtureMessage under (render.NurtureMessage.message).
POLICY = email.policy.SMTP.clone(max_line_length=998)
_MAX = 998
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOMAIN = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_DOMAIN}")
_MESSAGE_ID = re.compile(rf"<{_ATOM}(?:\.{_ATOM})*@{_DOMAIN}>")
_PLAIN = re.compile(r"[!-~]+(?: [!-~]+)*")  # printable ASCII words between single spaces
_NEWLINE = re.compile(rb"\r\n|\r|\n")
# Django writes these itself, or refuses them, rather than copying them from extra_headers.
_OWN_HEADERS = frozenset({"from", "to", "cc", "reply-to", "bcc"})


class Unsupported(Exception):
    """The message is not of the shape written here: Django's route writes it."""


@dataclass(frozen=True)
class Wire:
    """What goes over SMTP: the envelope and the message's bytes (CRLF line ends)."""

    sender: str
    recipients: list[str]
    data: bytes


def message_wire(message, *, prep_address: Callable[[str], str]) -> Wire | None:
    """The envelope and bytes Django's SMTP backend would send for `message` (a
    render.NurtureMessage, after click tracking), or None when it is of another shape.

    `prep_address` is the backend's own (an address to its envelope form); a plain ASCII
    address is its own envelope form and skips it.
    """
    try:
        return _wire(message, prep_address)
    except Unsupported:
        return None


def _wire(message, prep_address) -> Wire:
    names = {name.lower() for name in message.extra_headers}
    if (
        message.cc
        or message.bcc
        or message.attachments
        or len(message.to) != 1
        or not message.body
        or message.content_subtype != "plain"
        or (message.encoding or settings.DEFAULT_CHARSET).lower() not in {"utf-8", "utf8"}
        or len(message.alternatives) != 1
        or message.alternatives[0].mimetype != "text/html"
        or not isinstance(message.alternatives[0].content, str)
        or names & _OWN_HEADERS
        or not {"date", "message-id"} <= names
    ):
        raise Unsupported
    text = _part(str(message.body), "plain", mime_version=False)
    html = _part(message.alternatives[0].content, "html", mime_version=True)
    boundary = _boundary(text + html)
    lines = [
        b"MIME-Version: 1.0\r\n",
        b'Content-Type: multipart/alternative; boundary="' + boundary + b'"\r\n',
        _header("Subject", str(message.subject)),
        _folded("From", str(message.from_email)),
        _header("To", str(message.to[0])),
    ]
    if message.reply_to:
        lines.append(_folded("Reply-To", ", ".join(str(r) for r in message.reply_to)))
    for name, value in message.extra_headers.items():
        lines.append(_header(name, str(value)))
    separator = b"--" + boundary
    data = b"".join(
        [
            *lines,
            b"\r\n",
            separator + b"\r\n",
            text,
            b"\r\n" + separator + b"\r\n",
            html,
            b"\r\n" + separator + b"--\r\n",
        ]
    )
    signer = getattr(message, "signer", None)
    if signer is not None:
        data = signer(data) + data
    return Wire(
        sender=_envelope(str(message.from_email), prep_address),
        recipients=[_envelope(str(message.to[0]), prep_address)],
        data=data,
    )


def _header(name: str, value: str) -> bytes:
    """One header line: written as it is when the `email` package would not change it."""
    kind = name.lower()
    if len(name) + 2 + len(value) <= _MAX:
        if kind == "to":
            plain = _ADDRESS.fullmatch(value)
        elif kind == "message-id":
            plain = _MESSAGE_ID.fullmatch(value)
        elif kind == "date":
            plain = _PLAIN.fullmatch(value) and _date_canonical(value)
        elif kind in {"subject", "list-unsubscribe", "list-unsubscribe-post"}:
            plain = _PLAIN.fullmatch(value) and "=?" not in value
        else:
            plain = False
        if plain:
            return f"{name}: {value}\r\n".encode("ascii")
    return _folded(name, value)


def _date_canonical(value: str) -> bool:
    """Whether the `email` package would write this date back unchanged."""
    try:
        return format_datetime(parsedate_to_datetime(value)) == value
    except (TypeError, ValueError):
        return False


@lru_cache(maxsize=512)
def _folded(name: str, value: str) -> bytes:
    """The header line as the `email` package folds it (as `msg[name] = value` then
    `as_bytes()` would); cached, since From and Reply-To repeat for a whole batch."""
    if len(value.splitlines()) > 1:
        raise Unsupported  # `msg[name] = value` refuses it with a ValueError
    header = POLICY.header_factory(name, value)
    if isinstance(header, AddressHeader) and any(
        not address.domain.isascii() for address in header.addresses
    ):
        raise Unsupported  # Django IDNA-encodes these domains first
    return POLICY.fold_binary(name, header)


@lru_cache(maxsize=512)
def _envelope_prepared(address: str, prep_address) -> str:
    return prep_address(address)


def _envelope(address: str, prep_address) -> str:
    if _ADDRESS.fullmatch(address):
        return address
    return _envelope_prepared(address, prep_address)


def _part(content: str, subtype: str, *, mime_version: bool) -> bytes:
    """A text part as `set_content(content, subtype=…, charset="utf-8")` writes it: the
    content manager's own choice of transfer encoding, lines ended with CRLF."""
    try:
        # The content manager's text encoder, as set_content calls it.
        cte, payload = contentmanager._encode_text(content, "utf-8", None, POLICY)
        body = _NEWLINE.sub(b"\r\n", payload.encode("ascii", "surrogateescape"))
    except UnicodeError as exc:
        raise Unsupported from exc
    head = (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {cte}\r\n" + ("MIME-Version: 1.0\r\n" if mime_version else "")
    )
    return head.encode("ascii") + b"\r\n" + body


def _boundary(parts: bytes) -> bytes:
    """A boundary of the `email` package's form, found in no part."""
    boundary = f"{'=' * 15}{secrets.randbelow(sys.maxsize):019d}==".encode("ascii")
    candidate, counter = boundary, 0
    while b"--" + candidate in parts:
        candidate = boundary + b".%d" % counter
        counter += 1
    return candidate
