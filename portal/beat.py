"""Beat as a singleton, and its heartbeat.

`celery -A portal beat` runs `SingletonScheduler` (settings.CELERY_BEAT_SCHEDULER). Before
every tick it holds a lock in Redis: `SET key token NX PX` to take it, and a compare-and-
extend (a Lua script, so that only the holder extends it) to renew it every third of
BEAT_LOCK_SECONDS. A second beat started by mistake finds the lock taken and idles,
asking again every few seconds; it takes over within BEAT_LOCK_SECONDS after the first one
dies. A beat that stops (SIGTERM) lets go of the lock at once.

The beat that holds the lock writes a heartbeat (the time, in Redis, and in a file under
VAR_DIR) at most every HEARTBEAT_EVERY seconds; /readyz reports its age. Without Redis
(the first run's file-system broker and no REDIS_URL), there is no lock: one machine,
one beat, and the heartbeat is the file.
"""

import contextlib
import logging
import os
import socket
import time
import uuid
from pathlib import Path

import redis
from celery.beat import PersistentScheduler
from django.conf import settings

logger = logging.getLogger(__name__)

LOCK_KEY = "leadportal:beat:lock"
HEARTBEAT_KEY = "leadportal:beat:heartbeat"
HEARTBEAT_EVERY = 15.0
# Extend the lock only if it is still ours; 1 if extended.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


def redis_url() -> str:
    """The Redis that holds the lock and the heartbeat: REDIS_URL, else a Redis broker."""
    if settings.REDIS_URL:
        return settings.REDIS_URL
    broker = settings.CELERY_BROKER_URL
    return broker if broker.startswith(("redis://", "rediss://")) else ""


def _client() -> redis.Redis | None:
    url = redis_url()
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2) if url else None


def _heartbeat_file() -> Path:
    return Path(settings.VAR_DIR) / "beat-heartbeat"


def heartbeat_age_seconds(now: float | None = None) -> float | None:
    """Seconds since the beat holding the lock last ticked; None if it never did."""
    now = now or time.time()
    client = _client()
    if client is not None:
        try:
            value = client.get(HEARTBEAT_KEY)
        finally:
            client.close()
        return max(now - float(value), 0.0) if value else None
    try:
        return max(now - _heartbeat_file().stat().st_mtime, 0.0)
    except FileNotFoundError:
        return None


class BeatLock:
    """The lock one beat holds while it schedules."""

    def __init__(self, client: redis.Redis | None, seconds: int) -> None:
        self.client, self.ms = client, seconds * 1000
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
        self.held, self.renewed_at = False, 0.0

    def hold(self) -> bool:
        """Take the lock, or renew it when a third of its time has gone; True if ours."""
        if self.client is None:
            return True
        now = time.monotonic()
        if self.held and now - self.renewed_at < self.ms / 3000:
            return True
        try:
            if self.held:
                self.held = bool(self.client.eval(_RENEW, 1, LOCK_KEY, self.token, self.ms))
                if not self.held:
                    logger.warning("beat.lock.lost")
            if not self.held:
                self.held = bool(self.client.set(LOCK_KEY, self.token, nx=True, px=self.ms))
                if self.held:
                    logger.info("beat.lock.acquired")
        except redis.RedisError as exc:
            # Unsure whether it is still ours: stop scheduling until Redis answers.
            logger.warning("beat.lock.unavailable", extra={"error": type(exc).__name__})
            self.held = False
        if self.held:
            self.renewed_at = now
        return self.held

    def release(self) -> None:
        if self.client is not None and self.held:
            with contextlib.suppress(redis.RedisError):  # else it runs out by itself
                self.client.eval(_RELEASE, 1, LOCK_KEY, self.token)
            self.held = False


class SingletonScheduler(PersistentScheduler):
    """Celery's default scheduler, which only schedules while it holds the beat lock."""

    def __init__(self, *args, **kwargs):
        self.lock = BeatLock(_client(), settings.BEAT_LOCK_SECONDS)
        self.beat_at = 0.0
        self.was_waiting = False
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs) -> float:
        renew_every = settings.BEAT_LOCK_SECONDS / 3
        if not self.lock.hold():
            if not self.was_waiting:
                logger.warning("beat.standby", extra={"reason": "another beat holds the lock"})
                self.was_waiting = True
            return min(renew_every, 5.0)
        self.was_waiting = False
        self._heartbeat()
        return min(super().tick(*args, **kwargs), renew_every)

    def _heartbeat(self) -> None:
        now = time.time()
        if now - self.beat_at < HEARTBEAT_EVERY:
            return
        self.beat_at = now
        _heartbeat_file().touch()
        if self.lock.client is not None:
            try:
                self.lock.client.set(HEARTBEAT_KEY, str(now), ex=86400)
            except redis.RedisError as exc:
                logger.warning("beat.heartbeat.failed", extra={"error": type(exc).__name__})

    def close(self) -> None:
        super().close()
        self.lock.release()
