"""DKIM keys and the DNS records a publisher publishes for its sending identity."""

import base64
from dataclasses import dataclass
from email.utils import parseaddr

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

# 2048 bits: what Gmail and Yahoo ask for (1024 still verifies, but is being retired).
KEY_BITS = 2048
# A TXT record holds strings of at most 255 bytes; a longer value is published as several.
TXT_STRING_MAX = 255


@dataclass(frozen=True)
class DkimKey:
    private_pem: str
    public_b64: str  # SubjectPublicKeyInfo, DER, base64: the record's p= tag


@dataclass(frozen=True)
class DnsRecord:
    key: str  # "spf", "dkim", "dmarc"
    name: str  # the host name the TXT record is published at
    value: str


def dkim_key_generate() -> DkimKey:
    """A new RSA key pair for DKIM signing."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    public_der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return DkimKey(private_pem=private_pem, public_b64=base64.b64encode(public_der).decode())


def spf_include() -> str:
    """The domain a publisher's SPF record includes: SENDING_SPF_INCLUDE, else the domain of
    DEFAULT_FROM_EMAIL (whose own SPF lists the portal's sending hosts)."""
    configured = settings.SENDING_IDENTITY["SPF_INCLUDE"].strip()
    if configured:
        return configured.lower()
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or settings.DEFAULT_FROM_EMAIL
    return address.rpartition("@")[2].lower()


def dkim_record_value(public_b64: str) -> str:
    return f"v=DKIM1; k=rsa; p={public_b64}"


def dns_records(*, domain: str, selector: str, public_b64: str) -> list[DnsRecord]:
    """The three TXT records to publish, in the order the identity page lists them."""
    return [
        DnsRecord("spf", domain, f"v=spf1 include:{spf_include()} ~all"),
        DnsRecord("dkim", f"{selector}._domainkey.{domain}", dkim_record_value(public_b64)),
        DnsRecord("dmarc", f"_dmarc.{domain}", f"v=DMARC1; p=none; rua=mailto:dmarc@{domain}"),
    ]


def txt_strings(value: str) -> list[str]:
    """A TXT value split into the 255-byte strings DNS carries (a DKIM key needs two)."""
    return [value[i : i + TXT_STRING_MAX] for i in range(0, len(value), TXT_STRING_MAX)] or [""]
