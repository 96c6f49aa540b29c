"""Throttling of sign-in, password reset and API authentication.

Every limit keys on the client's address, read by `client_ip`: REMOTE_ADDR, unless
TRUSTED_PROXY_COUNT proxies that we run sit in front. Then it is the X-Forwarded-For entry
that the outermost of them wrote (counted from the right), because every entry to its left
is whatever the client sent. An IPv6 client is throttled per /64 (`throttle_address`): one
host usually holds a whole /64, and could otherwise rotate addresses inside it.

- Sign-in (portal and admin) is django-axes with its database handler, so that every web
  worker sees the same attempts and staff see them in admin. `TieredAxesHandler` adds a
  wider limit per address to axes' limit per (username, address) pair.
- Password reset requests and failed API authentications are fixed-window counters in the
  cache (Redis in production, shared by every worker): `window_hit` counts one event in the
  current window of `window_seconds` and tells how many there were and when the window
  ends. A cache that is down never refuses a request (intake must go on without Redis);
  it is logged instead.
"""

import ipaddress
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_lockout_parameters
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin
from django.core.cache import cache
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.crypto import salted_hmac

logger = logging.getLogger(__name__)

IPV6_THROTTLE_PREFIX = 64


def _parse_address(value: str) -> str | None:
    """An address in canonical form, from a header entry that may carry a port."""
    value = value.strip()
    if value.startswith("[") and "]" in value:
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, trusting X-Forwarded-For only as far as our own proxies."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [
            entry
            for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if entry.strip()
        ]
        # Fewer entries than proxies: the request did not come through them.
        if len(forwarded) >= proxies:
            address = _parse_address(forwarded[-proxies])
            if address is not None:
                return address
    return _parse_address(request.META.get("REMOTE_ADDR", ""))


def throttle_address(request: HttpRequest) -> str | None:
    """What the limits key on: the client's IPv4 address, or its IPv6 /64 network."""
    address = client_ip(request)
    if address is None or ":" not in address:
        return address
    network = ipaddress.IPv6Network(f"{address}/{IPV6_THROTTLE_PREFIX}", strict=False)
    return str(network.network_address)


# --- Fixed-window counters in the cache ------------------------------------------------


@dataclass(frozen=True)
class WindowCount:
    """How many events the current window holds, and the seconds until it ends."""

    count: int
    retry_after: int


def _window_key(scope: str, subject: str, window_seconds: int) -> tuple[str, float]:
    now = time.time()
    bucket = int(now // window_seconds)
    # Keyed hash: no address or email in a cache key.
    digest = salted_hmac("portal.throttling", subject, algorithm="sha256").hexdigest()[:32]
    return f"throttle:{scope}:{digest}:{bucket}", (bucket + 1) * window_seconds - now


def window_count(
    *,
    scope: str,
    subject: str,
    window_seconds: int,
    read: Callable[[list[str]], dict] | None = None,
) -> WindowCount:
    """The current window's count, without counting anything. `read` reads cache keys
    (by default `cache.get_many`): a caller may fold this read into one of its own."""
    key, remaining = _window_key(scope, subject, window_seconds)
    try:
        count = (read or cache.get_many)([key]).get(key, 0)
    except Exception:
        logger.warning("throttling.cache_unavailable", extra={"scope": scope})
        count = 0
    return WindowCount(count=count, retry_after=max(1, math.ceil(remaining)))


def window_hit(*, scope: str, subject: str, window_seconds: int) -> WindowCount:
    """Count one event in the current window; the count includes it."""
    key, remaining = _window_key(scope, subject, window_seconds)
    timeout = math.ceil(remaining) + 1
    try:
        cache.add(key, 0, timeout=timeout)
        try:
            count = cache.incr(key)
        except ValueError:  # the key expired between add and incr
            cache.add(key, 1, timeout=timeout)
            count = 1
    except Exception:
        logger.warning("throttling.cache_unavailable", extra={"scope": scope})
        count = 0
    return WindowCount(count=count, retry_after=max(1, math.ceil(remaining)))


# --- Sign-in: django-axes -------------------------------------------------------------


class TieredAxesHandler(AxesDatabaseHandler):
    """Axes' database handler with two limits.

    AXES_LOCKOUT_PARAMETERS holds a (username, address) group and an address group. Axes
    compares the larger group's failure count with one limit, AXES_FAILURE_LIMIT. Here the
    pair keeps that limit, and the address alone gets LOGIN_IP_FAILURE_LIMIT: at it, the
    answer is "at the limit" whatever the pair's count.
    """

    def get_failures(self, request, credentials: dict | None = None) -> int:
        pair = address = 0
        groups = get_lockout_parameters(request, credentials)
        for group, attempts in zip(
            groups, self.get_user_attempts(request, credentials), strict=True
        ):
            failures = attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            if group in ("ip_address", ["ip_address"]):
                address = max(address, failures)
            else:
                pair = max(pair, failures)
        if address >= settings.LOGIN_IP_FAILURE_LIMIT:
            return max(pair, settings.AXES_FAILURE_LIMIT)
        return pair


def cooloff_minutes() -> int:
    return math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60)


def lockout_response(
    request: HttpRequest, original_response=None, credentials: dict | None = None
) -> HttpResponse:
    """The 429 lockout page, in the admin's look on the admin login, else the portal's."""
    minutes = cooloff_minutes()
    logger.warning("auth.login.locked_out", extra={"path": request.path})
    if request.path.startswith(reverse("admin:index")):
        template = "admin/locked_out.html"
        context = {**admin.site.each_context(request), "cooloff_minutes": minutes}
    else:
        template = "registration/locked_out.html"
        context = {"cooloff_minutes": minutes}
    response = render(request, template, context, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response


def login_lockout_reset(*, usernames: Iterable[str]) -> int:
    """End the sign-in lock of these users from every address; the attempts removed."""
    deleted, _ = AccessAttempt.objects.filter(username__in=list(usernames)).delete()
    logger.info("auth.login.unlocked", extra={"attempts": deleted})
    return deleted
