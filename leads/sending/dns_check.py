"""Check a sending identity's DNS: its SPF include, DKIM key and DMARC policy.

The resolver is dnspython's, with a short timeout. settings.SENDING_IDENTITY may name the
nameservers and port it asks (tests point it at a DNS server of their own on loopback);
otherwise it is the system's. Each record's outcome is a status code stored on the
identity; `result_sentence` turns it into the sentence the identity page shows.
"""

import re
from dataclasses import dataclass

import dns.exception
import dns.resolver
from django.conf import settings
from django.utils.translation import gettext as _

from leads.sending.keys import DnsRecord, spf_include

OK, MISSING, MISMATCH, MULTIPLE, ERROR = "ok", "missing", "mismatch", "multiple", "error"
FOUND_KEPT = 3  # records kept per name, each cut to FOUND_CHARS, to show what was found
FOUND_CHARS = 300
_TAG = re.compile(r"\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*([^;]*)")


class LookupFailed(Exception):
    """The resolver got no answer (timeout, no reachable nameserver, SERVFAIL)."""


@dataclass(frozen=True)
class RecordResult:
    status: str
    found: tuple[str, ...] = ()

    def as_json(self) -> dict:
        return {"status": self.status, "found": list(self.found)}


def resolver() -> dns.resolver.Resolver:
    """dnspython's resolver, as settings.SENDING_IDENTITY configures it."""
    config = settings.SENDING_IDENTITY
    if config["DNS_NAMESERVERS"]:
        found = dns.resolver.Resolver(configure=False)
        found.nameservers = list(config["DNS_NAMESERVERS"])
        found.port = config["DNS_PORT"]
    else:
        found = dns.resolver.Resolver()
    found.timeout = found.lifetime = config["DNS_TIMEOUT"]
    return found


def txt_lookup(name: str, *, using: dns.resolver.Resolver) -> list[str]:
    """The TXT records at `name`, each one's strings joined; [] when there are none."""
    try:
        answer = using.resolve(name, "TXT", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.YXDOMAIN) as exc:
        raise LookupFailed(type(exc).__name__) from exc
    return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]


def tags(value: str) -> dict[str, str]:
    """A DKIM or DMARC record's tag=value list, tag names lowercased."""
    return {name.lower(): text.strip() for name, text in _TAG.findall(value)}


def _kept(records: list[str]) -> tuple[str, ...]:
    return tuple(record[:FOUND_CHARS] for record in records[:FOUND_KEPT])


def spf_result(records: list[str]) -> RecordResult:
    spf = [r for r in records if r.strip().lower().startswith("v=spf1")]
    if not spf:
        return RecordResult(MISSING, _kept(records))
    if len(spf) > 1:
        return RecordResult(MULTIPLE, _kept(spf))  # RFC 7208: a permanent error
    terms = spf[0].lower().split()
    wanted = f"include:{spf_include()}"
    ok = wanted in terms or f"+{wanted}" in terms
    return RecordResult(OK if ok else MISMATCH, _kept(spf))


def dkim_result(records: list[str], *, public_b64: str) -> RecordResult:
    if not records:
        return RecordResult(MISSING)
    keys = ["".join(tags(record).get("p", "").split()) for record in records]
    return RecordResult(OK if public_b64 in keys else MISMATCH, _kept(records))


def dmarc_result(records: list[str]) -> RecordResult:
    dmarc = [r for r in records if r.strip().upper().startswith("V=DMARC1")]
    if not dmarc:
        return RecordResult(MISSING, _kept(records))
    if len(dmarc) > 1:
        return RecordResult(MULTIPLE, _kept(dmarc))
    policy = tags(dmarc[0]).get("p", "").lower()
    return RecordResult(
        OK if policy in {"none", "quarantine", "reject"} else MISMATCH, _kept(dmarc)
    )


def records_check(
    records: list[DnsRecord], *, public_b64: str, using: dns.resolver.Resolver | None = None
) -> dict[str, RecordResult]:
    """Look each expected record up and judge what is published."""
    using = using or resolver()
    results: dict[str, RecordResult] = {}
    for record in records:
        try:
            found = txt_lookup(record.name, using=using)
        except LookupFailed as exc:
            results[record.key] = RecordResult(ERROR, (str(exc),))
            continue
        if record.key == "spf":
            results[record.key] = spf_result(found)
        elif record.key == "dkim":
            results[record.key] = dkim_result(found, public_b64=public_b64)
        else:
            results[record.key] = dmarc_result(found)
    return results


def result_sentence(key: str, result: dict) -> str:
    """What the identity page says of one record's last check."""
    status = result.get("status", "")
    if status == ERROR:
        return _("The DNS lookup got no answer in time. Check again in a few minutes.")
    if status == MISSING:
        return {
            "spf": _("No SPF record (v=spf1) was found at the domain. Publish the one above."),
            "dkim": _("No DKIM record was found at the selector's name. Publish the one above."),
            "dmarc": _("No DMARC record (v=DMARC1) was found. Publish the one above."),
        }[key]
    if status == MULTIPLE:
        return _(
            "More than one record was found; receivers then ignore them all. Merge them into one."
        )
    if status == MISMATCH:
        return {
            "spf": _("The SPF record does not include %(include)s. Add include:%(include)s to it.")
            % {"include": spf_include()},
            "dkim": _(
                "A DKIM record is published, but its key (p=) is not this identity's key. "
                "Copy the value above exactly."
            ),
            "dmarc": _(
                "The DMARC record has no valid policy: p= must be none, quarantine or reject."
            ),
        }[key]
    if status == OK:
        return {
            "spf": _("SPF is right: the portal's servers may send for the domain."),
            "dkim": _("DKIM is right: receivers can verify the portal's signature."),
            "dmarc": _("DMARC is published; the DKIM signature aligns with the From domain."),
        }[key]
    return _("Not checked yet.")
