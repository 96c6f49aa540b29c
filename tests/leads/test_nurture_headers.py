"""Nurture headers as they are on the wire: the raw bytes aiosmtpd received (docs/email.md)."""

import email
import email.policy
import re
from datetime import UTC, datetime
from email.utils import parseaddr, parsedate_to_datetime

import pytest
import time_machine
from django.urls import reverse

from leads.models import EmailSend, Suppression
from leads.nurture import send as nurture_send
from leads.nurture import unsubscribe
from tests.leads.nurture_support import Sequence, smtp  # noqa: F401
from tests.leads.test_unsubscribe import ONE_CLICK, mailbox_provider

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LITERAL = re.compile(
    rb"^List-Unsubscribe: <(https://portal\.test/unsubscribe/[^>\r\n]+/)>\r?$", re.M
)


def raw_headers(raw: bytes) -> bytes:
    return re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]


@pytest.fixture
def received(smtp):  # noqa: F811
    with time_machine.travel(T0, tick=False):
        sequence = Sequence(delays=(0,))
        sequence.enrol(sequence.leads(2, first_name="Zoë"))
        nurture_send.nurture_send_due(budget_seconds=120)
    assert len(smtp.received) == 2
    return smtp.received


def test_list_unsubscribe_is_written_literally_on_one_line(received):
    for message in received:
        headers = raw_headers(message.raw)
        # Then the header is the literal <https://…>, never RFC 2047 encoded words
        (match,) = LITERAL.findall(headers)
        assert b"=?" not in match
        line = next(x for x in headers.splitlines() if x.startswith(b"List-Unsubscribe:"))
        assert len(line) < 998
        assert len(line) < 150  # the compact token
        assert re.search(rb"^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r?$", headers, re.M)
        # And every header line is ASCII and within RFC 5322's limit
        for raw_line in headers.split(b"\r\n"):
            raw_line.decode("ascii")
            assert len(raw_line) <= 998


def test_the_literal_url_unsubscribes_its_lead_with_one_click(received):
    message = received[0]
    (url,) = LITERAL.findall(raw_headers(message.raw))
    response = mailbox_provider().post(
        url.decode().removeprefix("https://portal.test"),
        ONE_CLICK,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    suppression = Suppression.objects.get()
    assert suppression.email_hash == unsubscribe.email_hash(message.to)
    assert suppression.send_id == EmailSend.objects.get(enrollment__lead__email=message.to).pk


def test_a_mail_client_reads_message_id_date_reply_to_and_from(received):
    ids = set()
    for message in received:
        # Parsed as a mail client would, from the raw bytes
        parsed = email.message_from_bytes(message.raw, policy=email.policy.default)
        message_id = str(parsed["Message-ID"])
        assert re.fullmatch(r"<[^@<>\s]+@portal\.test>", message_id)
        ids.add(message_id)
        assert parsedate_to_datetime(str(parsed["Date"])) == T0
        assert parseaddr(str(parsed["Reply-To"]))[1] == "sales@contoso.example"
        assert str(parsed["From"]) == "Contoso <nurture@portal.test>"
        assert str(parsed["Subject"]) == "Step 1: hello Zoë"  # encoded on the wire, read back
        assert str(parsed["List-Unsubscribe"]).startswith("<https://portal.test/unsubscribe/")
        assert parsed.get_content_type() == "multipart/alternative"
    assert len(ids) == 2  # one Message-ID per message


def test_a_non_ascii_publisher_name_is_encoded_and_the_unsubscribe_header_stays_literal(smtp):  # noqa: F811
    with time_machine.travel(T0, tick=False):
        sequence = Sequence(delays=(0,))
        sequence.publisher.name = "Contoso Ñandú GmbH " + "x" * 60
        sequence.publisher.save(update_fields=["name"])
        sequence.enrol(sequence.leads(1))
        nurture_send.nurture_send_due(budget_seconds=120)

    (message,) = smtp.received
    headers = raw_headers(message.raw)
    headers.decode("ascii")
    assert LITERAL.findall(headers)
    parsed = email.message_from_bytes(message.raw, policy=email.policy.default)
    assert parsed["From"].addresses[0].display_name == sequence.publisher.name


def test_the_unsubscribe_route_accepts_the_compact_token():
    token = unsubscribe.token_make(publisher_id=1, email="a@b.example", send_id=10)
    assert reverse("unsubscribe", kwargs={"token": token}).endswith(f"/{token}/")
