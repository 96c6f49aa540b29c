"""How the outbox paces itself: retry delays, claim sizes, leases and send options."""

import random

from django.conf import settings

from crm.connectors import SendOptions
from crm.models import CrmTarget

JITTER = 0.2
MAX_RETRY_AFTER = 24 * 3600


def next_delay(attempts: int, retry_after: float | None = None) -> float:
    """Seconds before the next attempt after `attempts` failed ones, with jitter."""
    schedule = settings.CRM_RETRY_SCHEDULE
    base = schedule[min(attempts, len(schedule) - 1)]
    delay = base * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311  (jitter, not crypto)
    if retry_after:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


BATCH_API_KINDS = {"marketo", "azure-table"}
# Kinds without a batch API still claim several rows at once (one POST each), so that a
# busy target costs one claim and one payload query per few rows, not per row.
CLAIM_WITHOUT_BATCH_API = 10


def claim_size(target: CrmTarget) -> int:
    if target.kind in BATCH_API_KINDS:
        return target.batch_size
    return max(target.batch_size, CLAIM_WITHOUT_BATCH_API)


def calls_per_claim(target: CrmTarget) -> int:
    """A connector without a batch API makes one call per row, each within its timeout."""
    return 1 if target.kind in BATCH_API_KINDS else claim_size(target)


def hold_seconds(target: CrmTarget) -> float:
    """The longest one claim may take: every call at its full timeout. A holder's
    heartbeat renews its leases no longer than this past its budget, so a hung process
    cannot keep rows for ever."""
    return settings.CRM_TOTAL_TIMEOUT * calls_per_claim(target) + settings.CRM_LEASE_SECONDS


def send_options() -> SendOptions:
    return SendOptions(
        allow_private_targets=settings.CRM_ALLOW_PRIVATE_TARGETS,
        require_https=not settings.DEBUG,
        connect_timeout=settings.CRM_CONNECT_TIMEOUT,
        total_timeout=settings.CRM_TOTAL_TIMEOUT,
    )
