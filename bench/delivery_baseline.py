"""The delivery benchmark's baseline: a bare Celery task that POSTs a body with httpx.

The worker runs `celery -A delivery_baseline:baseline worker` from bench/, so this module
must stay importable without Django.
"""

import os
import ssl

import certifi
import httpx
from celery import Celery

baseline = Celery("bench_delivery_baseline", broker=os.environ.get("BENCH_BASELINE_BROKER"))
baseline.conf.update(
    task_default_queue="bench-delivery-baseline",
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    broker_transport_options={"visibility_timeout": 600},
)
_baseline_client: httpx.Client | None = None


@baseline.task(name="bench.baseline_post")
def baseline_post(url: str, body: str) -> None:
    """POST one JSON body over a pooled, verified connection, as a connector would."""
    global _baseline_client
    if _baseline_client is None:
        context = ssl.create_default_context(cafile=certifi.where())
        context.load_verify_locations(cafile=os.environ["CRM_EXTRA_CA_BUNDLE"])
        _baseline_client = httpx.Client(
            verify=context,
            trust_env=False,
            timeout=httpx.Timeout(30.0, connect=5.0),
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=5),
        )
    response = _baseline_client.post(
        url, content=body.encode(), headers={"Content-Type": "application/json"}
    )
    response.raise_for_status()
