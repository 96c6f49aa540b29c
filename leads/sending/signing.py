"""A nurture message under its publisher's verified identity: From, Message-ID and, over
direct SMTP, a DKIM signature with the publisher's key (dkimpy).

With an ESP (anymail), the ESP signs with the key of the domain authenticated there, so
the portal adds no signature of its own: the ESP rewrites headers, which would break it.
"""

from collections.abc import Callable

import dkim
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend

from leads.sending.models import SendingIdentity

# What the signature covers: what a reader sees and the one-click unsubscribe headers,
# which RFC 8058 requires a valid DKIM signature to cover.
SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"mime-version",
    b"content-type",
)


def dkim_signer(identity: SendingIdentity) -> Callable[[bytes], bytes]:
    """A function from a message's bytes to its DKIM-Signature header line(s)."""
    selector = identity.dkim_selector.encode("ascii")
    domain = identity.domain.encode("idna")
    private_key = identity.dkim_key["private_key"].encode("ascii")

    def sign(message: bytes) -> bytes:
        return dkim.sign(
            message,
            selector,
            domain,
            private_key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=list(SIGNED_HEADERS),
        )

    return sign


def signs_itself(connection) -> bool:
    """Whether this mailer hands our bytes to an SMTP server (so the portal must sign)."""
    return isinstance(connection, SmtpBackend)
