"""Request ids, JSON log lines and the intake's request metrics.

A request id comes from a well-formed incoming `X-Request-ID` or is made here; it is
returned in the response's header, put on every log line of the request (RequestIdFilter)
and carried in the headers of the Celery tasks queued while it runs (before_task_publish),
so that a worker's log lines for a lead's delivery carry the id of the request that
brought the lead in (task_prerun sets it, task_postrun clears it).
"""

import contextvars
import json
import logging
import logging.config
import os
import re
import time
import uuid
from datetime import UTC, datetime

from django.conf import settings
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server

from portal import metrics

REQUEST_ID_HEADER = "X-Request-ID"
# The Celery message header that carries it.
TASK_HEADER = "leadportal_request_id"
# Letters, digits and - _ . : only, at most 64: anything else is replaced, never logged.
WELL_FORMED = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
# Intake's routes, whose requests are counted and timed (portal.metrics).
INTAKE_PREFIXES = ("/api/v1/leads", "/api/v1/inbound/", "/api/v1/referrals")

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def request_id_from(value: str | None) -> str:
    """The incoming id when it is well formed, else a new one."""
    if value and WELL_FORMED.match(value):
        return value
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """First in MIDDLEWARE: the request id, and the intake requests' count and latency."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        token = request_id.set(request.request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id.get()
            if request.path.startswith(INTAKE_PREFIXES):
                _count_intake(request, response.status_code, time.perf_counter() - started)
            return response
        finally:
            request_id.reset(token)


def _count_intake(request, status: int, seconds: float) -> None:
    match = getattr(request, "resolver_match", None)
    # The route's pattern, never the path: an inbound URL's path holds its secret token.
    endpoint = "/" + match.route if match and match.route else "unmatched"
    metrics.INTAKE_REQUESTS.labels(endpoint=endpoint, status=str(status)).inc()
    metrics.INTAKE_LATENCY.labels(endpoint=endpoint).observe(seconds)


class RequestIdFilter(logging.Filter):
    """Puts the current request id (or "-") on every record, as `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            # django.request logs after the middleware returned, with the request at hand.
            request = getattr(record, "request", None)
            record.request_id = getattr(request, "request_id", None) or request_id.get() or "-"
        return True


# What every LogRecord has; anything else on a record came from `extra=`.
# django.request's `request` is left out: its repr holds the path (an inbound URL's token).
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "request_id",
    "request",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and the extras."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id.get() or "-",
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


# --- Celery: the id travels in the task's headers ---------------------------------------


def before_task_publish(headers=None, **kwargs) -> None:
    current = request_id.get()
    if current and headers is not None:
        headers.setdefault(TASK_HEADER, current)


def task_prerun(task=None, **kwargs) -> None:
    carried = getattr(task.request, TASK_HEADER, None) if task else None
    request_id.set(carried if carried and WELL_FORMED.match(carried) else None)


def task_postrun(**kwargs) -> None:
    request_id.set(None)


def celery_logging_setup(loglevel=None, **kwargs) -> None:
    """setup_logging: workers and beat log through settings.LOGGING (plain or JSON lines,
    with the request id) rather than Celery's own format; `-l` still sets the level."""
    logging.config.dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)


def worker_metrics_serve(**kwargs) -> None:
    """worker_init: with METRICS_WORKER_PORT, serve this machine's worker series on it
    (every pool process's, through PROMETHEUS_MULTIPROC_DIR) for a Prometheus that cannot
    reach a web process on the same machine."""
    port = settings.METRICS_WORKER_PORT
    if not port:
        return
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    # Loopback unless told: the exporter has no token (put it on a private interface).
    addr = os.environ.get("METRICS_WORKER_ADDR", "127.0.0.1")
    start_http_server(port, addr=addr, registry=registry)
    logging.getLogger(__name__).info("metrics.worker_exporter", extra={"port": port})
