"""Sending a test lead: one synthetic MSFT_TEST_ lead, one attempt, its result recorded
on a `test` delivery. The portal and staff's admin action queue it on a worker
(crm.services.target_test_start), which calls test_send."""

import logging
import time
from dataclasses import dataclass, replace

from django.utils import timezone

from crm import pacing, payloads
from crm.connectors import ConfigurationError, Result, connector_for
from crm.models import CrmTarget, Delivery

logger = logging.getLogger("crm.services")

TEST_TIMEOUT = 10.0
# A test lead still pending or sending after this long was lost (no worker took it, or
# its worker died): the page stops waiting and says so.
TEST_STALE_SECONDS = 120


@dataclass(frozen=True)
class TestLeadResult:
    ok: bool
    status_code: int | None
    seconds: float
    error: str
    response_excerpt: str


def test_send(record: Delivery) -> TestLeadResult:
    """Send the test lead of a `sending` record and write its result. Success verifies
    the target (the AppSource publish gate needs it)."""
    target = record.target
    payload = payloads.test_payload(target, str(record.idempotency_key))
    options = replace(pacing.send_options(), connect_timeout=5.0, total_timeout=TEST_TIMEOUT)
    started = time.monotonic()
    try:
        (result,) = connector_for(target.kind).send(target.config, [payload], options)
    except ConfigurationError as exc:
        result = Result(payload.delivery_id, "permanent", error=str(exc))
    seconds = round(time.monotonic() - started, 3)
    now = timezone.now()
    Delivery.objects.filter(pk=record.pk).update(
        status="delivered" if result.is_delivered else "failed",
        delivered_at=now if result.is_delivered else None,
        last_status_code=result.status_code,
        last_error=result.error[:2000],
        response_excerpt=result.response_excerpt[:500],
        updated_at=now,
    )
    if result.is_delivered:
        CrmTarget.objects.filter(pk=target.pk).update(verified_at=now)
    logger.info(
        "crm.test_lead.sent",
        extra={"target_id": target.pk, "delivered": result.is_delivered, "seconds": seconds},
    )
    return TestLeadResult(
        result.is_delivered, result.status_code, seconds, result.error, result.response_excerpt
    )
