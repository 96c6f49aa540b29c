"""One message's SMTP envelope on the wire while its `sending` row commits (leads.nurture.send).

smtplib hands a message over in four exchanges, each waiting for the server's reply: MAIL,
RCPT, DATA and the end of data. Nothing is delivered before the end of data, so the first
two need not wait for the row: a second thread (the batch's courier) sends MAIL and RCPT
while the sender commits the row and builds the next message, and `smtp_deliver` sends
DATA and the bytes only after the row is committed, on the same connection. The row of
the next message is committed only after this message's answer, so a killed worker still
leaves at most one message whose fate is unknown. A message whose row turns out to exist
(another run's) gets RSET instead of DATA: the server discards the envelope.

The courier never touches the database; only one thread uses the SMTP connection at a time
(the sender waits for the envelope before it sends DATA, RSET or QUIT).
"""

import contextlib
import smtplib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from django.db import connection

from leads.nurture.wire import Wire
from leads.sending.signing import signs_itself


def possible(mailer) -> bool:
    """Whether the batch's messages can go this way: Django's SMTP backend (the sender writes
    the bytes, leads.nurture.wire) and PostgreSQL (the row ids reserved ahead)."""
    return connection.vendor == "postgresql" and signs_itself(mailer) and not mailer.fail_silently


@dataclass
class Handover:
    """A message whose envelope the courier is sending: its bytes, and the envelope's
    result: (the error that kept the connection from opening, the envelope's SMTP error),
    each None when there was none."""

    wire: Wire
    envelope: Future


class Courier:
    """The batch's second thread: sends each message's envelope (MAIL, RCPT)."""

    def __enter__(self) -> "Courier":
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nurture-smtp")
        return self

    def __exit__(self, *exc) -> None:
        self._thread.shutdown(wait=True)  # the envelope in flight ends before QUIT

    def envelope(self, mailer, wire: Wire) -> Handover:
        return Handover(wire=wire, envelope=self._thread.submit(_envelope, mailer, wire))


def _envelope(mailer, wire: Wire) -> tuple[Exception | None, Exception | None]:
    try:
        mailer.open()
    except (OSError, smtplib.SMTPException) as exc:
        return exc, None
    try:
        envelope_send(mailer.connection, wire)
    except (OSError, smtplib.SMTPException) as exc:
        return None, exc
    return None, None


def envelope_send(client: smtplib.SMTP, wire: Wire) -> None:
    """MAIL and RCPT, as `smtplib.SMTP.sendmail` sends them and with its errors."""
    client.ehlo_or_helo_if_needed()
    options = []
    if client.does_esmtp and client.has_extn("size"):
        options.append(f"size={len(wire.data)}")
    code, reply = client.mail(wire.sender, options)
    if code != 250:
        _reset_or_close(client, code)
        raise smtplib.SMTPSenderRefused(code, reply, wire.sender)
    refused = {}
    for recipient in wire.recipients:
        code, reply = client.rcpt(recipient)
        if code not in (250, 251):
            refused[recipient] = (code, reply)
        if code == 421:
            client.close()
            raise smtplib.SMTPRecipientsRefused(refused)
    if len(refused) == len(wire.recipients):
        _reset_or_close(client, code)
        raise smtplib.SMTPRecipientsRefused(refused)


def data_send(client: smtplib.SMTP, wire: Wire) -> None:
    """DATA and the message, as `smtplib.SMTP.sendmail` ends."""
    code, reply = client.data(wire.data)
    if code != 250:
        _reset_or_close(client, code)
        raise smtplib.SMTPDataError(code, reply)


def _reset_or_close(client: smtplib.SMTP, code: int) -> None:
    """After a refusal, as smtplib does: 421 closes the connection, any other code resets."""
    if code == 421:
        client.close()
        return
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        client.rset()


def envelope_dropped(mailer, handover: Handover) -> None:
    """The message will not go (its row exists): RSET, so the server discards the envelope."""
    unreachable, failure = handover.envelope.result()
    if isinstance(failure, smtplib.SMTPResponseException) or unreachable is not None:
        return  # refused (smtplib reset or closed the connection), or never open
    if failure is not None:
        mailer.close()  # the connection was lost: the next message reconnects
        return
    try:
        mailer.connection.rset()
    except (OSError, smtplib.SMTPException):
        mailer.close()  # the next message reconnects
