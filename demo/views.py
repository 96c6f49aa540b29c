"""The first run's demo HTTPS receiver, served by the portal itself while the demo app is
installed (DEBUG on, or DEMO_ENABLED).

`seed_demo` points the demo publisher's HTTPS target here, so a newcomer watches leads
get delivered, signature and all, with no outside service. It verifies the Standard
Webhooks signature against the secret of the target that owns the delivery, and
refuses anything unsigned, stale or tampered with, as a real receiver should.
"""

import hmac
import json
import logging
import time
import uuid

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from crm.connectors import ConfigurationError, signing
from crm.models import Delivery

logger = logging.getLogger(__name__)

TOLERANCE_SECONDS = 5 * 60


def _refuse(reason: str) -> JsonResponse:
    return JsonResponse({"detail": reason}, status=401)


@csrf_exempt
@require_POST
def demo_receiver(request):
    msg_id = request.headers.get("webhook-id", "")
    timestamp = request.headers.get("webhook-timestamp", "")
    provided = request.headers.get("webhook-signature", "").split()
    if not (msg_id and timestamp.isdigit() and provided):
        return _refuse("Unsigned request: the webhook-* headers are missing.")
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return _refuse("The webhook-timestamp is more than five minutes off.")
    try:
        delivery = (
            Delivery.objects.select_related("target")
            .filter(idempotency_key=uuid.UUID(msg_id))
            .first()
        )
        secrets = signing.secrets_from_config(delivery.target.config.get("signingSecret"))
    except (ValueError, AttributeError, ConfigurationError):
        return _refuse("Unknown webhook-id, or its target has no signing secret.")
    expected = [signing.signature(s, msg_id, int(timestamp), request.body) for s in secrets]
    if not any(hmac.compare_digest(p, e) for p in provided for e in expected):
        return _refuse("The signature does not match the body.")
    try:
        event = json.loads(request.body).get("Event", "")
    except (ValueError, AttributeError):
        return JsonResponse({"detail": "The body is not a JSON object."}, status=400)
    logger.info("demo.receiver.received", extra={"webhook_id": msg_id, "event": event})
    return JsonResponse({"received": msg_id, "event": event})
