"""Writes of sending identities: set the From address, check the DNS (docs/email.md)."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
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


RECHECKS_PER_RUN = 200


def identities_recheck(*, limit: int = RECHECKS_PER_RUN) -> dict[str, int]:
    """Beat: check again the identities whose last check is older than RECHECK_HOURS, the
    longest unchecked first. A verified identity whose records were removed or changed
    fails and is no longer used; one whose nameserver did not answer stays verified until
    a check gets an answer; a failed one that was fixed becomes verified."""
    due = timezone.now() - timedelta(hours=settings.SENDING_IDENTITY["RECHECK_HOURS"])
    identities = SendingIdentity.objects.filter(
        Q(checked_at__lt=due) | Q(checked_at__isnull=True, status=SendingIdentity.Status.FAILED)
    ).order_by("checked_at")[:limit]
    outcome = {"verified": 0, "failed": 0, "unanswered": 0}
    for identity in identities:
        was_verified, last_checked = identity.is_verified, identity.checked_at
        checked = identity_check(identity=identity, keep_verified_unanswered=True)
        if checked.is_verified and checked.checked_at == last_checked:
            outcome["unanswered"] += 1
        else:
            outcome["verified" if checked.is_verified else "failed"] += 1
        if was_verified and not checked.is_verified:
            logger.warning(
                "leads.sending.identity_lost", extra={"publisher_id": identity.publisher_id}
            )
    return outcome


def identity_check(
    *, identity: SendingIdentity, keep_verified_unanswered: bool = False
) -> SendingIdentity:
    """Look the identity's records up in DNS and store the outcome: verified when SPF,
    DKIM and DMARC are all right, failed otherwise. With `keep_verified_unanswered` (the
    periodic re-check), a verified identity whose lookups got no answer, and nothing found
    wrong, is left as it was, to be tried again. No transaction is held while the resolver
    waits."""
    results = dns_check.records_check(
        identity_records(identity), public_b64=identity.dkim_public_key
    )
    statuses = {result.status for result in results.values()}
    unanswered = dns_check.ERROR in statuses and statuses <= {dns_check.OK, dns_check.ERROR}
    if keep_verified_unanswered and identity.is_verified and unanswered:
        return identity
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
