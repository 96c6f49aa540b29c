"""A nurture message's SMTP bytes written directly (leads.nurture.wire) are the bytes Django's
email route writes for the same message: every header, every part, CRLF, lines of at most
998 octets. A message of another shape is left to Django's route."""

import email
import email.policy
import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.core import mail

from leads.lifecycle.snapshot import LeadSnapshot
from leads.nurture import render, wire
from leads.nurture import send as nurture_send
from tests.leads.nurture_support import Sequence, smtp  # noqa: F401

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
BODY = "Hi **{first_name}** of {company},\n\n[Read more](https://contoso.example/a?b=1&c=2)\n\n{unsubscribe_url}"
URL = "https://portal.test/unsubscribe/1f.2a.c29tZS1obWFjLXZhbHVlLWhlcmU.0123456789abcdef0123456789abcdef/"
LONG = "Ünïcode " * 70 + "x" * 1200  # lines past 998 octets: quoted-printable or base64

CASES = {
    "ascii": {},
    "non-ascii names and subject": {
        "first_name": "Zoë Ñandú",
        "company": "Société Générale & Fils",
        "publisher_name": "Café Édition ünd Söhne",
        "subject": "Grüße, {first_name} — 日本語の件名",
    },
    "long headers": {
        "first_name": "Bartholomew-" * 12,
        "publisher_name": "Contoso " * 30 + "Holdings",
        "subject": "A rather long subject line for {first_name} " * 4,
    },
    "long non-ascii subject": {"subject": "Ünïcødé subject {first_name} " * 8},
    "lines past 998 octets": {"body": BODY + "\n\n" + LONG, "first_name": "é" * 600},
    "ascii lines past 998 octets": {"body": BODY + "\n\n" + "y" * 1500},
    "an encoded word typed into the subject": {"subject": "Hi =?utf-8?q?x?= {first_name}"},
    "spaces and specials": {
        "subject": '  Hi   {first_name}  (you) <b> ; " ',
        "publisher_name": 'Quote "this", <and> (that); ok',
        "reply_to": "Sales Team <sales@contoso.example>",
    },
    "a quoted local part": {"email": '"odd name"@customer.example'},
    "markup in values": {"first_name": "<script>x</script>", "company": "A & B <Ltd>"},
}


@pytest.fixture
def prep(smtp):  # noqa: F811
    """The SMTP mailer's own envelope form of an address."""
    return mail.mailers.default.prep_address


def message_for(case: dict) -> render.NurtureMessage:
    recipient = render.Recipient(
        lead=LeadSnapshot(
            lead_id="1",
            first_name=case.get("first_name", "Ana"),
            last_name="Example",
            email=case.get("email", "ana@customer.example"),
            company=case.get("company", "Customer Inc"),
        ),
        publisher_name=case.get("publisher_name", "Contoso"),
        postal_address="Contoso Ltd\n1 Microsoft Way\nRedmond",
        reply_to=case.get("reply_to", "sales@contoso.example"),
        offer_title="Contoso CRM",
    )
    template = render.StepTemplate(
        case.get("subject", "Hello {first_name}"), case.get("body", BODY)
    )
    return template.message(recipient=recipient, unsubscribe_url=URL)


def email_route(message) -> bytes:
    """What Django's SMTP backend sends: message() under policy.SMTP, then as_bytes()."""
    return message.message(policy=email.policy.SMTP).as_bytes()


def boundary_of(raw: bytes) -> bytes:
    return re.search(rb'boundary="([^"]+)"', raw).group(1)


def without_boundary(raw: bytes) -> bytes:
    return raw.replace(boundary_of(raw), b"BOUNDARY")


def headers(part) -> list[tuple[str, str]]:
    return [
        (name, re.sub(r'boundary="[^"]+"', "boundary=B", str(value)))
        for name, value in part.items()
    ]


@pytest.mark.parametrize("name", CASES)
def test_the_bytes_are_those_of_djangos_email_route(name, prep):
    message = message_for(CASES[name])
    written = wire.message_wire(message, prep_address=prep)
    expected = email_route(message)

    assert written is not None
    assert without_boundary(written.data) == without_boundary(expected)
    assert written.sender == prep(message.from_email)
    assert written.recipients == [prep(message.to[0])]
    # CRLF only, no line over RFC 5322's 998 octets.
    lines = written.data.split(b"\r\n")
    assert lines[-1] == b"" and all(b"\r" not in line and b"\n" not in line for line in lines)
    assert max(len(line) for line in lines) <= 998
    if "998" in name:  # the content manager's encoders, not 7bit or 8bit
        assert re.search(rb"Content-Transfer-Encoding: (quoted-printable|base64)", written.data)


@pytest.mark.parametrize("name", CASES)
def test_a_reader_parses_the_same_headers_and_parts(name, prep):
    message = message_for(CASES[name])
    fast = email.message_from_bytes(
        wire.message_wire(message, prep_address=prep).data,
        policy=email.policy.default,
    )
    slow = email.message_from_bytes(email_route(message), policy=email.policy.default)

    assert not fast.defects
    assert headers(fast) == headers(slow)
    fast_parts, slow_parts = list(fast.walk()), list(slow.walk())
    assert [p.get_content_type() for p in fast_parts] == [
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]
    assert [p.get_content_type() for p in slow_parts] == [p.get_content_type() for p in fast_parts]
    for fast_part, slow_part in zip(fast_parts[1:], slow_parts[1:], strict=True):
        assert headers(fast_part) == headers(slow_part)
        assert not fast_part.defects
        assert fast_part.get_content() == slow_part.get_content()
    # The parts read back as what was rendered (the reader keeps the wire's CRLF).
    assert fast_parts[1].get_content().replace("\r\n", "\n") == message.body
    assert fast_parts[2].get_content().replace("\r\n", "\n") == message.alternatives[0].content


def test_non_ascii_headers_are_encoded_and_the_unsubscribe_header_stays_literal(prep):
    message = message_for(CASES["non-ascii names and subject"])
    raw = wire.message_wire(message, prep_address=prep).data
    head = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n"

    assert head.isascii()  # RFC 2047 encoded words; the body parts are 8bit UTF-8
    assert f"List-Unsubscribe: <{URL}>\r\n".encode() in head
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in head
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["From"].addresses[0].display_name == "Café Édition ünd Söhne"
    assert str(parsed["Subject"]) == "Grüße, Zoë Ñandú — 日本語の件名"


def test_other_shapes_are_left_to_djangos_route(prep):
    with_cc = message_for({})
    with_cc.cc = ["other@customer.example"]
    with_attachment = message_for({})
    with_attachment.attach("a.txt", "text", "text/plain")
    idna_domain = message_for({"email": "ana@bücher.example"})
    with_from_header = message_for({})
    with_from_header.extra_headers["From"] = "someone@else.example"
    line_break = message_for({})
    line_break.subject = "Two\nlines"

    for message in (with_cc, with_attachment, idna_domain, with_from_header, line_break):
        assert wire.message_wire(message, prep_address=prep) is None
    # Django's route IDNA-encodes the domain; the sender takes that route for it.
    assert b"To: ana@xn--bcher-kva.example\r\n" in email_route(idna_domain)


@pytest.mark.django_db
@pytest.mark.sqlite
def test_the_sender_writes_the_bytes_itself_over_smtp(smtp, monkeypatch):  # noqa: F811
    def refused(*args, **kwargs):
        raise AssertionError("the email package's route was taken")

    monkeypatch.setattr(render.NurtureMessage, "message", refused)
    with time_machine.travel(T0, tick=True):
        sequence = Sequence(delays=(0,))
        sequence.enrol(sequence.leads(3, first_name="Zoë"))
        report = nurture_send.nurture_send_due(budget_seconds=120)

    assert report.sent == 3 and len(smtp.received) == 3
    for received in smtp.received:
        message = received.message
        assert not message.defects
        assert str(message["Subject"]) == "Step 1: hello Zoë"
        assert str(message["To"]) == received.to
        assert message["Message-ID"] and message["Date"].datetime.tzinfo is not None
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert "Hi Zoë," in text and "Hi Zoë," in html
        assert all(len(line) <= 998 for line in received.raw.split(b"\r\n"))
