"""Nurture email under a publisher's verified identity: its From, its Message-ID domain and,
over direct SMTP, a DKIM signature that dkimpy verifies on the raw bytes aiosmtpd received."""

import email
import email.policy
import re
from datetime import UTC, datetime

import dkim
import pytest
import time_machine
from django.core import mail

from leads.models import EmailSend, SendingIdentity
from leads.nurture import send as nurture_send
from leads.sending import services
from tests.leads.dns_support import loopback_dns, publish_identity  # noqa: F401
from tests.leads.nurture_support import Sequence, smtp  # noqa: F401

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def verified_identity(publisher, server) -> SendingIdentity:
    identity = services.identity_save(publisher=publisher, from_email="news@contoso.example")
    publish_identity(server, identity, services.identity_records(identity))
    identity = services.identity_check(identity=identity)
    assert identity.is_verified
    return identity


def published_key(identity: SendingIdentity):
    """dkimpy's dnsfunc: the TXT record the publisher published, and nothing else."""
    record = services.identity_records(identity)[1]

    def dnsfunc(name, timeout=5):
        if name.decode().rstrip(".") == record.name:
            return record.value.encode()
        return None

    return dnsfunc


def parsed(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


def send_first_step(sequence: Sequence, count: int = 1) -> None:
    with time_machine.travel(T0, tick=True):
        sequence.enrol(sequence.leads(count))
        nurture_send.nurture_send_due(budget_seconds=120)


def test_an_unverified_identity_leaves_the_platform_address(smtp, loopback_dns):  # noqa: F811
    sequence = Sequence(delays=(0,))
    services.identity_save(publisher=sequence.publisher, from_email="news@contoso.example")

    send_first_step(sequence)

    (received,) = smtp.received
    message = parsed(received.raw)
    assert str(message["From"]) == "Contoso <nurture@portal.test>"
    assert re.fullmatch(r"<[^@]+@portal\.test>", str(message["Message-ID"]))
    assert "DKIM-Signature" not in message


def test_a_verified_identity_signs_with_the_publishers_key_and_the_signature_verifies(
    smtp,  # noqa: F811
    loopback_dns,  # noqa: F811
):
    # Given a publisher whose identity passed the DNS check
    sequence = Sequence(delays=(0,))
    identity = verified_identity(sequence.publisher, loopback_dns)

    # When a step goes out over direct SMTP
    send_first_step(sequence, count=2)

    # Then each message is from the identity, with a Message-ID on its domain
    assert len(smtp.received) == 2
    for received in smtp.received:
        message = parsed(received.raw)
        assert str(message["From"]) == "Contoso <news@contoso.example>"
        assert re.fullmatch(r"<[^@]+@contoso\.example>", str(message["Message-ID"]))
        # And dkimpy verifies the signature of the raw bytes against the published key
        assert dkim.verify(received.raw, dnsfunc=published_key(identity)) is True
        signature = dkim.util.parse_tag_value(
            received.raw.split(b"DKIM-Signature:", 1)[1].split(b"\r\n\r\n")[0]
        )
        assert signature[b"d"] == b"contoso.example"
        assert signature[b"s"] == identity.dkim_selector.encode()
        signed = set(re.sub(rb"\s", b"", signature[b"h"]).lower().split(b":"))
        assert {b"from", b"list-unsubscribe", b"list-unsubscribe-post"} <= signed
        # And the one-click header is still one literal line
        assert re.search(rb"^List-Unsubscribe: <https://[^>]+>\r$", received.raw, re.M)
    # And the message id that ESP events match is the one on the wire
    sent_ids = set(EmailSend.objects.values_list("message_id", flat=True))
    assert sent_ids == {str(parsed(r.raw)["Message-ID"]) for r in smtp.received}


def test_a_changed_byte_breaks_the_signature(smtp, loopback_dns):  # noqa: F811
    sequence = Sequence(delays=(0,))
    identity = verified_identity(sequence.publisher, loopback_dns)
    send_first_step(sequence)
    (received,) = smtp.received

    tampered = received.raw.replace(b"Step 1", b"Step 9", 1)

    assert tampered != received.raw
    assert dkim.verify(tampered, dnsfunc=published_key(identity)) is False


def test_one_publishers_identity_is_not_anothers(smtp, loopback_dns):  # noqa: F811
    contoso = Sequence(delays=(0,))
    verified_identity(contoso.publisher, loopback_dns)
    other = Sequence(delays=(0,))
    other.publisher.name = "Fabrikam"
    other.publisher.save(update_fields=["name"])

    with time_machine.travel(T0, tick=True):
        contoso.enrol(contoso.leads(1, prefix="c"))
        other.enrol(other.leads(1, prefix="f"))
        nurture_send.nurture_send_due(budget_seconds=120)

    froms = {r.to: str(parsed(r.raw)["From"]) for r in smtp.received}
    assert froms == {
        "c0@customer.example": "Contoso <news@contoso.example>",
        "f0@customer.example": "Fabrikam <nurture@portal.test>",
    }
    unsigned = next(r for r in smtp.received if r.to == "f0@customer.example")
    assert b"DKIM-Signature" not in unsigned.raw


def test_with_an_esp_the_identity_is_the_from_and_the_esp_signs(settings, loopback_dns):  # noqa: F811
    # Given an ESP backend (anymail's test backend) and a verified identity
    settings.MAILERS = {"default": {"BACKEND": "anymail.backends.test.EmailBackend"}}
    settings.DEFAULT_FROM_EMAIL = "Lead Portal <nurture@portal.test>"
    mail.outbox = []
    sequence = Sequence(delays=(0,))
    verified_identity(sequence.publisher, loopback_dns)

    send_first_step(sequence)

    # Then the ESP gets the identity's From and Message-ID, and no signature of ours
    (message,) = mail.outbox
    assert message.anymail_test_params["from"].address == "Contoso <news@contoso.example>"
    assert message.extra_headers["Message-ID"].endswith("@contoso.example>")
    assert "DKIM-Signature" not in message.message()
    assert EmailSend.objects.get().status == EmailSend.Status.SENT
