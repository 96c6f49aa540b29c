"""The portal shell: the dashboard, the publisher switcher and the health check.

The full portal (listings, leads, CRM targets, campaigns) lives in each app's views;
this module only frames it.
"""

import os
import time
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from kombu import Connection

from leads import selectors as leads_selectors
from portal import selectors, tenancy

# A health probe must answer quickly even when a dependency hangs.
HEALTH_TIMEOUT_SECONDS = 1.0


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The dashboard of the current publisher, or a hint for a user without one."""
    membership = request.membership
    if not membership:
        return render(request, "portal/no_publisher.html")
    publisher = membership.publisher
    return render(
        request,
        "portal/home.html",
        {
            "publisher": publisher,
            "listings": leads_selectors.listings_for_publisher(publisher=publisher),
            "co_sell_program_url": settings.CO_SELL_PROGRAM_URL,
        },
    )


@login_required
@require_POST
def publisher_switch(request: HttpRequest) -> HttpResponse:
    """Make another of the user's publishers the current one, for this session."""
    try:
        publisher_id = int(request.POST.get("publisher", ""))
    except ValueError:
        raise Http404("No such publisher.") from None
    membership = selectors.membership_get_for_user(user=request.user, publisher_id=publisher_id)
    if membership is None:
        # The same answer as for a publisher that does not exist: ids reveal nothing.
        raise Http404("No such publisher.")
    request.session[tenancy.SESSION_KEY] = membership.publisher_id
    return redirect("home")


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Database and broker status for load balancers and monitors: 200 or 503."""
    database = _database_status()
    broker = _broker_status(settings.CELERY_BROKER_URL)
    healthy = database["ok"] and broker["ok"]
    body = {"status": "ok" if healthy else "degraded", "database": database, "broker": broker}
    if database["ok"]:
        # The apps' own figures (settings.HEALTH_CHECKS), e.g. the outbox's oldest due row.
        for name, check in settings.HEALTH_CHECKS.items():
            body[name] = import_string(check)()
    return JsonResponse(body, status=200 if healthy else 503)


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


def _broker_status(url: str) -> dict:
    # Only the scheme is reported: the rest of a broker URL may hold a password.
    scheme = urlsplit(url).scheme
    status = {"ok": False, "url_scheme": scheme}
    try:
        if scheme in ("redis", "rediss"):
            client = redis.Redis.from_url(
                url,
                socket_timeout=HEALTH_TIMEOUT_SECONDS,
                socket_connect_timeout=HEALTH_TIMEOUT_SECONDS,
            )
            try:
                status["ok"] = bool(client.ping())
            finally:
                client.close()
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


def settings_page(request, *args, **kwargs):  # replaced by the portal issue's page
    raise Http404
