"""Liveness, readiness and metrics for load balancers, orchestrators and Prometheus.

- /healthz: the process is up and serving (no database, no broker): an orchestrator
  restarts a web process only when this fails.
- /readyz: the database, Redis, the broker, beat's heartbeat and the outbox's backlog;
  503 with the failing checks named, so that a load balancer takes the process out of
  rotation (and a monitor alerts) while a dependency is down.
- /metrics: Prometheus' text format; open from loopback, else a bearer token.
"""

import hmac
import ipaddress
import logging
import os
import time
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from crm import selectors as crm_selectors
from inbound import selectors as inbound_selectors
from portal import beat

logger = logging.getLogger(__name__)

# A probe must answer quickly even when a dependency hangs.
HEALTH_TIMEOUT_SECONDS = 1.0
# kombu's Redis transport keeps a queue's messages of priority p > 0 under "name\x06\x16p".
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: 200 while the process serves requests. It touches no dependency."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200, or 503 with `reasons` naming every failing check."""
    body: dict = {"database": _database_status()}
    body["redis"] = _redis_status(settings.REDIS_URL)
    body["broker"] = _broker_status(settings.CELERY_BROKER_URL)
    reasons = [name for name in ("database", "redis", "broker") if not body[name]["ok"]]
    body["beat"] = _beat_status()
    if not body["beat"]["ok"]:
        reasons.append("beat")
    if body["database"]["ok"]:
        # The apps' own figures (settings.HEALTH_CHECKS), e.g. the outbox's oldest due row.
        for name, check in settings.HEALTH_CHECKS.items():
            body[name] = import_string(check)()
        oldest = body["outbox"]["oldest_due_seconds"]
        body["outbox"]["ok"] = oldest is None or oldest <= settings.READY_OUTBOX_MAX_AGE_SECONDS
        if not body["outbox"]["ok"]:
            reasons.append("outbox")
    body = {"status": "degraded" if reasons else "ok", "reasons": reasons, **body}
    return JsonResponse(body, status=503 if reasons else 200)


def _database_status() -> dict:
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        # Only the class name: the message may carry a host name or a user.
        return {"ok": False, "vendor": connection.vendor, "error": type(exc).__name__}
    return {
        "ok": True,
        "vendor": connection.vendor,
        "latency_ms": round((time.monotonic() - started) * 1000, 1),
    }


def _redis_ping(url: str) -> bool:
    client = redis.Redis.from_url(
        url, socket_timeout=HEALTH_TIMEOUT_SECONDS, socket_connect_timeout=HEALTH_TIMEOUT_SECONDS
    )
    try:
        return bool(client.ping())
    finally:
        client.close()


def _redis_status(url: str) -> dict:
    if not url:
        return {"ok": True, "configured": False}
    try:
        return {"ok": _redis_ping(url), "configured": True}
    except Exception as exc:
        return {"ok": False, "configured": True, "error": type(exc).__name__}


def _broker_status(url: str) -> dict:
    # Only the scheme is reported: the rest of a broker URL may hold a password.
    scheme = urlsplit(url).scheme
    status = {"ok": False, "url_scheme": scheme}
    try:
        if scheme in ("redis", "rediss"):
            status["ok"] = _redis_ping(url)
        elif scheme == "filesystem":
            folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", "")
            status["ok"] = bool(folder) and os.path.isdir(folder) and os.access(folder, os.W_OK)
            if not status["ok"]:
                status["error"] = "queue folder missing or not writable"
        else:
            with Connection(url, connect_timeout=HEALTH_TIMEOUT_SECONDS) as conn:
                conn.ensure_connection(max_retries=1, timeout=HEALTH_TIMEOUT_SECONDS)
            status["ok"] = True
    except Exception as exc:
        status["ok"] = False
        status["error"] = type(exc).__name__
    return status


def _beat_status() -> dict:
    try:
        age = beat.heartbeat_age_seconds()
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    if age is None:
        return {"ok": False, "last_seconds_ago": None, "error": "no heartbeat"}
    return {"ok": age <= settings.READY_BEAT_MAX_AGE_SECONDS, "last_seconds_ago": round(age, 1)}


# --- /metrics ---------------------------------------------------------------------------


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _scrape_allowed(request: HttpRequest) -> bool:
    # REMOTE_ADDR, not X-Forwarded-For: behind a proxy, every scrape needs the token.
    if _is_loopback(request.META.get("REMOTE_ADDR", "")) and not request.headers.get(
        "X-Forwarded-For"
    ):
        return True
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


class _Forward:
    """This process's own series (single-process mode), inside the scrape's registry."""

    def collect(self):
        return REGISTRY.collect()


class ScrapeTimeCollector:
    """The figures read when Prometheus scrapes: the outbox, inbound, Celery's queues and
    beat. A part whose source is down is left out (and counted in
    leadportal_scrape_errors), so that the counters still reach Prometheus."""

    def collect(self):
        errors = GaugeMetricFamily(
            "leadportal_scrape_errors",
            "Parts of this scrape left out because their source failed.",
            labels=["part"],
        )
        for part, read in (
            ("outbox", _outbox),
            ("inbound", _inbound),
            ("queues", _queue_lengths),
            ("beat", _beat),
        ):
            try:
                families = list(read())
            except Exception as exc:
                logger.warning(
                    "metrics.scrape_part_failed", extra={"part": part, "error": type(exc).__name__}
                )
                errors.add_metric([part], 1)
                continue
            errors.add_metric([part], 0)
            yield from families
        yield errors


def _gauges_by_kind(figures, gauges) -> tuple[GaugeMetricFamily, ...]:
    """One gauge per (name, documentation, figure key), with a sample per figure's kind."""
    families = [
        (GaugeMetricFamily(name, documentation, labels=["kind"]), key)
        for name, documentation, key in gauges
    ]
    for figure in figures:
        for family, key in families:
            family.add_metric([figure["kind"]], figure[key])
    return tuple(family for family, _key in families)


# The gauges of each part's figures: (name, documentation, the figure's key).
_OUTBOX_GAUGES = (
    ("leadportal_deliveries_due", "Deliveries due or stuck now.", "due"),
    (
        "leadportal_delivery_oldest_due_seconds",
        "How long the oldest due delivery has waited.",
        "oldest_due_seconds",
    ),
    ("leadportal_targets_paused", "CRM targets that are paused.", "paused_targets"),
)
_INBOUND_GAUGES = (
    ("leadportal_inbound_pending", "Inbound items not processed yet.", "pending"),
    (
        "leadportal_inbound_oldest_pending_seconds",
        "How long the oldest unprocessed inbound item has waited since its receipt.",
        "oldest_pending_seconds",
    ),
)


def _outbox():
    return _gauges_by_kind(crm_selectors.outbox_figures(), _OUTBOX_GAUGES)


def _inbound():
    return _gauges_by_kind(inbound_selectors.backlog_figures(), _INBOUND_GAUGES)


def _beat():
    age = beat.heartbeat_age_seconds()
    if age is None:
        return ()
    return (
        GaugeMetricFamily(
            "leadportal_beat_heartbeat_age_seconds",
            "Seconds since the beat holding the lock last ticked.",
            value=age,
        ),
    )


def _queue_lengths():
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return
    family = GaugeMetricFamily(
        "leadportal_celery_queue_length", "Messages waiting in a Celery queue.", labels=["queue"]
    )
    client = redis.Redis.from_url(
        url, socket_timeout=HEALTH_TIMEOUT_SECONDS, socket_connect_timeout=HEALTH_TIMEOUT_SECONDS
    )
    try:
        with client.pipeline(transaction=False) as pipe:
            for queue in settings.CELERY_TASK_QUEUES:
                for suffix in _PRIORITY_SUFFIXES:
                    pipe.llen(queue + suffix)
            lengths = pipe.execute()
    finally:
        client.close()
    steps = len(_PRIORITY_SUFFIXES)
    for index, queue in enumerate(settings.CELERY_TASK_QUEUES):
        family.add_metric([queue], sum(lengths[index * steps : (index + 1) * steps]))
    yield family


def scrape_registry() -> CollectorRegistry:
    """Every process's series of this machine (multiprocess mode) or this process's, and
    the scrape-time figures."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Forward())
    registry.register(ScrapeTimeCollector())
    return registry


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus' text exposition; 404 to a caller that is not allowed to scrape."""
    if not _scrape_allowed(request):
        return HttpResponse("Not found.", status=404, content_type="text/plain")
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)
