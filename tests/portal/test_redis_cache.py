"""The Redis cache backend (portal.redis_cache): one redis-py client per pool, on real Redis."""

import multiprocessing
import threading
import uuid

import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from portal.redis_cache import SharedClientRedisCache

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs the Redis cache")


def _backend(cls, location=None) -> RedisCache:
    return cls(location or settings.REDIS_URL, {"KEY_PREFIX": f"t-{uuid.uuid4().hex}"})


def test_the_settings_use_the_shared_client_backend_with_redis():
    assert settings.CACHES["default"]["BACKEND"] == "portal.redis_cache.SharedClientRedisCache"
    assert isinstance(caches["default"], SharedClientRedisCache)


def test_every_call_gets_the_same_client_where_djangos_backend_builds_a_new_one():
    shared, stock = _backend(SharedClientRedisCache), _backend(RedisCache)

    # when each builds clients for reads and writes, all kept alive (ids stay distinct)
    shared_clients = [shared._cache.get_client(write=w) for w in (False, True) * 5]
    stock_clients = [stock._cache.get_client(write=w) for w in (False, True) * 5]

    # then one server, one pool, one client; Django's own gives ten
    assert len({id(c) for c in shared_clients}) == 1
    assert len({id(c) for c in stock_clients}) == 10
    assert shared_clients[0].connection_pool is shared._cache._get_connection_pool(False)


def test_every_cache_operation_works_through_the_shared_client():
    backend = _backend(SharedClientRedisCache)

    assert backend.add("a", 1, timeout=60) is True
    assert backend.add("a", 2, timeout=60) is False
    backend.set_many({"b": "two", "c": [3]}, timeout=60)
    assert backend.incr("a", 5) == 6
    assert backend.get_many(["a", "b", "c", "missing"]) == {"a": 6, "b": "two", "c": [3]}
    assert backend.touch("b", timeout=None) is True
    backend.delete_many(["b", "c"])
    assert backend.get("b", "gone") == "gone"
    assert backend.delete("a") is True
    assert backend.get("a") is None


def test_threads_share_the_client_without_losing_an_increment():
    backend = _backend(SharedClientRedisCache)
    backend.set("count", 0, timeout=60)

    def add() -> None:
        for _ in range(200):
            backend.incr("count")

    threads = [threading.Thread(target=add) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert backend.get("count") == 1600
    assert len(backend._cache._clients) == 1


def _child_increments(backend: RedisCache, answers) -> None:
    answers.put([backend.incr("forked") for _ in range(3)])


def test_a_forked_process_uses_connections_of_its_own():
    backend = _backend(SharedClientRedisCache)
    backend.set("forked", 0, timeout=60)
    assert backend.incr("forked") == 1  # the parent's pool now holds a connection

    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    child = context.Process(target=_child_increments, args=(backend, answers))
    child.start()
    counted = answers.get(timeout=30)
    child.join(timeout=30)

    # then the child's commands were answered in order, and the parent's connection still works
    assert (child.exitcode, counted) == (0, [2, 3, 4])
    assert backend.incr("forked") == 5


def test_a_cache_that_cannot_be_reached_raises_on_each_call_and_keeps_one_client():
    # Nothing listens on port 1 of loopback: every call fails at once.
    backend = _backend(SharedClientRedisCache, "redis://127.0.0.1:1/0")

    for _ in range(2):
        with pytest.raises(redis.exceptions.ConnectionError):
            backend.get_many(["a"])

    assert len(backend._cache._clients) == 1
