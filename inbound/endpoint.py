"""What the web process does with a body POSTed to a Partner Center inbound URL.

Store first (docs/partner-center.md, "HTTPS endpoint"): the body is written as an inbound
item before anything else looks at it, whatever the listing's state, and the worker
processes it later. Only this process writes, so a worker or broker outage loses nothing.

- **Not JSON at all.** A body that neither parses as JSON nor starts like a JSON object
  or array (empty, form-encoded, plain text) is refused with 400 and not stored. A body
  that starts like one but does not parse (Microsoft's own FAQ test lead misses a comma)
  is stored and answered 200: the parser repairs a missing comma, and anything else
  becomes a `not_json` reject the owner sees.
- **Stored text.** The body is UTF-8 text: bytes that are not UTF-8, and NUL characters
  (which PostgreSQL text cannot hold), become U+FFFD; a leading byte-order mark is dropped.
- **Replay key.** Partner Center sends no lead id. The key is
  `body:<SHA-256 of the canonical body>:<bucket>`: the canonical body is the JSON
  re-serialized with sorted keys and no spaces (else the stripped text), and the bucket is
  the received time divided by INBOUND_REPLAY_WINDOW_SECONDS. The unique (source, key)
  constraint catches a replay in the same bucket; the previous bucket's key is checked
  too, so a replay across a bucket boundary is caught as well. A replay within the window
  stores nothing, makes no activity, and is answered 200.
- **Test lead.** A body holding `MSFT_TEST_` (any case) is a test lead. Received through
  the URL's current token, it marks the source connected.
- **Rate limit.** Beyond the source's `hourly_limit` new items in an hour, items are
  stored but held: rejected with `rate_limited`, retryable, and the publisher's owners
  get one email an hour (inbound.alerts).
"""

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from inbound import alerts, receive
from inbound.models import InboundItem, InboundSource

logger = logging.getLogger(__name__)

TEST_MARKER = "msft_test_"
RATE_LIMITED = "rate_limited"


@dataclass(frozen=True)
class WebhookBody:
    text: str
    canonical: str


def body_read(raw: bytes) -> WebhookBody | None:
    """The body as text to store and its canonical form; None when it is not JSON at all."""
    text = raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd").lstrip("\ufeff")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        stripped = text.strip()
        if not stripped.startswith(("{", "[")):
            return None
        return WebhookBody(text=text, canonical=stripped)
    try:
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    except (ValueError, RecursionError):  # nested deeper than the encoder goes
        canonical = text.strip()
    return WebhookBody(text=text, canonical=canonical)


def replay_keys(canonical: str, received_at: datetime) -> tuple[str, str]:
    """(the key to store, the previous bucket's key): see the module docstring."""
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
    bucket = int(received_at.timestamp()) // settings.INBOUND_REPLAY_WINDOW_SECONDS
    return f"body:{digest}:{bucket}", f"body:{digest}:{bucket - 1}"


def webhook_receive(
    *, source: InboundSource, body: WebhookBody, via_previous: bool = False
) -> tuple[InboundItem, bool]:
    """Store one webhook body; (item, False) for a replay of a stored one."""
    now = timezone.now()
    key, previous_key = replay_keys(body.canonical, now)
    earlier = InboundItem.objects.filter(source=source, dedupe_key=previous_key).first()
    if earlier is not None:
        return earlier, False
    is_test = TEST_MARKER in body.text.lower()
    with transaction.atomic():
        item, is_new = receive.inbound_item_receive(
            source=source, body=body.text, dedupe_key=key, is_test=is_test, received_at=now
        )
        if not is_new:
            return item, False
        if is_test and not via_previous:
            InboundSource.objects.filter(pk=source.pk).update(connected_at=now)
        if _over_hourly_limit(source, now):
            _hold(item)
            alerts.rate_limit_alert_maybe(source=source, now=now)
    logger.info(
        "inbound.webhook.stored",
        extra={"source_id": source.pk, "item_id": item.pk, "is_test": is_test},
    )
    return item, True


def _over_hourly_limit(source: InboundSource, now: datetime) -> bool:
    limit = source.hourly_limit
    # Counting stops one past the limit, so a flood costs no more than a normal hour.
    recent = InboundItem.objects.filter(source=source, received_at__gt=now - timedelta(hours=1))
    return recent[: limit + 1].count() > limit


def _hold(item: InboundItem) -> None:
    item.status = InboundItem.Status.REJECTED
    item.reason_code = RATE_LIMITED
    item.reason = _(
        "More new leads than this inbound URL's hourly limit: held. Retry it once you "
        "know the leads are genuine."
    )
    item.processed_at = timezone.now()
    item.save(update_fields=["status", "reason_code", "reason", "processed_at"])
    logger.warning("inbound.rate_limited", extra={"source_id": item.source_id})
