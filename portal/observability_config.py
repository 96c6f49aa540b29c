"""Settings for logs and Sentry (docs/operations.md, "Logs" and "Errors").

settings.py calls these with its environment: `logging_config` builds LOGGING for
LOG_FORMAT (`plain` or `json`), and `sentry_init` starts sentry-sdk when SENTRY_DSN is set,
with `scrub_event` as its before_send.
"""

import re

import sentry_sdk
from django.core.exceptions import ImproperlyConfigured
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration

LOG_FORMATS = ("plain", "json")

EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Seven or more digits, with the separators phone numbers are written with.
PHONE = re.compile(r"\+?\d[\d ().-]{5,}\d")
FILTERED = "[Filtered]"
# Keys whose values are personal data or secrets, wherever they appear in an event.
SENSITIVE_KEYS = re.compile(
    r"(first_?name|last_?name|full_?name|^name$|email|phone|company|title|address|"
    r"password|secret|token|authorization|cookie|api_?key|signature|dsn|session)",
    re.IGNORECASE,
)


def logging_config(*, log_format: str, level: str) -> dict:
    """LOGGING: one console handler, plain lines or JSON lines, with the request id."""
    if log_format not in LOG_FORMATS:
        raise ImproperlyConfigured(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}.")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
            "json": {"()": "portal.observability.JsonFormatter"},
        },
        "filters": {
            # The token of a Partner Center inbound URL is in its path: masked in every line.
            "inbound_token": {"()": "inbound.log_filters.InboundTokenFilter"},
            "request_id": {"()": "portal.observability.RequestIdFilter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["inbound_token", "request_id"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own handlers go (its DEBUG console would print each line twice);
            # its records reach the root's console, and the log-privacy scan of the tests.
            "django": {"handlers": [], "level": "INFO", "propagate": True},
            "django.db.backends": {"level": "WARNING"},
            "django.request": {"filters": ["inbound_token"]},
            # runserver's access lines: Django sets propagate off, and dictConfig drops
            # the logger's handler, so without this only 4xx/5xx reached logging's last resort.
            "django.server": {"level": "INFO", "propagate": True, "filters": ["inbound_token"]},
        },
    }


# Structure Sentry needs as it is (times and ids would look like phone numbers).
STRUCTURAL_KEYS = frozenset(
    {
        "timestamp",
        "start_timestamp",
        "event_id",
        "trace_id",
        "span_id",
        "parent_span_id",
        "release",
        "environment",
        "platform",
        "level",
        "sdk",
        "modules",
        "lineno",
        "type",
    }
)


def _scrub(value, depth: int = 0):
    if depth > 20:
        return FILTERED
    if isinstance(value, dict):
        return {
            key: item
            if key in STRUCTURAL_KEYS
            else FILTERED
            if SENSITIVE_KEYS.search(str(key))
            else _scrub(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_scrub(item, depth + 1) for item in value]
    if isinstance(value, str):
        return PHONE.sub(FILTERED, EMAIL.sub(FILTERED, value))
    return value


def scrub_event(event: dict, hint: dict | None = None) -> dict:
    """Sentry's before_send: no request body, cookies, headers' secrets or user; every
    email address and phone number in any string, and every value under a personal
    or secret key (names, emails, phones, tokens), replaced with "[Filtered]"."""
    request = event.get("request")
    if isinstance(request, dict):
        for part in ("data", "cookies"):
            if part in request:
                request[part] = FILTERED
        if "query_string" in request:
            request["query_string"] = FILTERED
    event.pop("user", None)
    return _scrub(event)


def sentry_init(dsn: str, *, environment: str, release: str) -> None:
    """Start sentry-sdk (Django and Celery integrations) when a DSN is given."""
    if not dsn:
        return
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,
        before_send=scrub_event,
        integrations=[DjangoIntegration(), CeleryIntegration()],
    )
