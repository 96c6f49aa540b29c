"""A token bucket per CRM target, shared by every worker through Redis.

Each target refills at rate_limit / rate_period_seconds tokens a second up to
rate_limit tokens, which keeps all workers together under the CRM's published limit
(reference/crm-contracts.md). Redis' own clock and a Lua script make the check and the
take one atomic step. Without REDIS_URL (the first run's embedded defaults) a
per-process bucket stands in; the first run has one worker.
"""

import math
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings

_TAKE = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local granted = math.min(wanted, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
local wait = 0
if granted < wanted then wait = (1 - (tokens - math.floor(tokens))) / rate end
return {granted, tostring(wait)}
"""


@dataclass(frozen=True)
class Grant:
    granted: int
    wait_seconds: float  # until the next token, when fewer than wanted were granted


class _LocalBuckets:
    def __init__(self):
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}

    def take(self, key: str, capacity: int, rate: float, wanted: int) -> Grant:
        with self._lock:
            now = time.monotonic()
            tokens, ts = self._state.get(key, (capacity, now))
            tokens = min(capacity, tokens + max(0.0, now - ts) * rate)
            granted = min(wanted, math.floor(tokens))
            tokens -= granted
            self._state[key] = (tokens, now)
        wait = 0.0 if granted == wanted else (1 - (tokens - math.floor(tokens))) / rate
        return Grant(granted, wait)


_local = _LocalBuckets()
_client: redis.Redis | None = None
_script = None


def _redis():
    global _client, _script
    if _client is None:
        _client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
        )
        _script = _client.register_script(_TAKE)
    return _script


def take(*, target_id: int, rate_limit: int, period_seconds: int, wanted: int) -> Grant:
    """Take up to `wanted` tokens from the target's bucket."""
    rate = rate_limit / period_seconds
    key = f"leadportal:crm:bucket:{target_id}"
    if not settings.REDIS_URL:
        return _local.take(key, rate_limit, rate, wanted)
    granted, wait = _redis()(keys=[key], args=[rate_limit, rate, wanted])
    return Grant(int(granted), float(wait))


def reset(*, target_id: int) -> None:
    """Forget a target's bucket (tests, and a target whose limits changed)."""
    key = f"leadportal:crm:bucket:{target_id}"
    _local._state.pop(key, None)
    if settings.REDIS_URL:
        redis.Redis.from_url(settings.REDIS_URL).delete(key)
