"""Writes of sending identities: set the From address, check the DNS (docs/email.md)."""

import logging

from django.db import transaction
from django.utils import timezone

from leads.models import SendingIdentity
from leads.sending import dns_check
from leads.sending.keys import dkim_key_generate, dns_records

logger = logging.getLogger(__name__)


def identity_records(identity: SendingIdentity):
    """The TXT records this identity asks the publisher to publish."""
    return dns_records(
        domain=identity.domain,
        selector=identity.dkim_selector,
        public_b64=identity.dkim_public_key,
    )


def _domain_of(from_email: str) -> str:
    return from_email.rpartition("@")[2].strip().lower()


@transaction.atomic
def identity_save(*, publisher, from_email: str) -> SendingIdentity:
    """Set the publisher's From address. A first identity gets a DKIM key and selector; a new
    domain needs its DNS checked again, so it is unverified until then."""
    from_email = from_email.strip()
    domain = _domain_of(from_email)
    identity = SendingIdentity.objects.select_for_update().filter(publisher=publisher).first()
    if identity is None:
        key = dkim_key_generate()
        identity = SendingIdentity.objects.create(
            publisher=publisher,
            from_email=from_email,
            domain=domain,
            dkim_selector="lp" + timezone.now().strftime("%Y%m"),
            dkim_key={"private_key": key.private_pem},
            dkim_public_key=key.public_b64,
        )
        logger.info("leads.sending.identity_created", extra={"publisher_id": publisher.pk})
        return identity
    identity.from_email = from_email
    if domain != identity.domain:
        identity.domain = domain
        identity.status = SendingIdentity.Status.UNVERIFIED
        identity.verified_at = None
        identity.checked_at = None
        identity.check_results = {}
    identity.save()
    return identity


def identity_check(*, identity: SendingIdentity) -> SendingIdentity:
    """Look the identity's records up in DNS and store the outcome: verified when SPF,
    DKIM and DMARC are all right, failed otherwise. No transaction is held while the
    resolver waits."""
    results = dns_check.records_check(
        identity_records(identity), public_b64=identity.dkim_public_key
    )
    now = timezone.now()
    is_verified = all(result.status == dns_check.OK for result in results.values())
    status = SendingIdentity.Status.VERIFIED if is_verified else SendingIdentity.Status.FAILED
    fields = {
        "status": status,
        "checked_at": now,
        "check_results": {key: result.as_json() for key, result in results.items()},
        "updated_at": now,
    }
    if is_verified and not identity.is_verified:
        fields["verified_at"] = now
    elif not is_verified:
        fields["verified_at"] = None
    # Only if the domain is still the one that was checked (an owner may have changed it).
    SendingIdentity.objects.filter(pk=identity.pk, domain=identity.domain).update(**fields)
    identity.refresh_from_db()
    logger.info(
        "leads.sending.identity_checked",
        extra={"publisher_id": identity.publisher_id, "status": status},
    )
    return identity
