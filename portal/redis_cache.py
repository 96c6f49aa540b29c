"""Django's Redis cache with one redis-py client per connection pool, not one per call.

`django.core.cache.backends.redis` builds a new `redis.Redis` for every cache operation,
and its constructor copies some 170 response callbacks into a new case-insensitive dict.
On intake that was the largest single cost of the one Redis read a request
(docs/benchmarks.md). A client holds only its pool and its options; its commands take a
connection from the pool each time, so one client per pool is safe to share between a
process's threads, and a forked child still gets connections of its own (the pool checks
the process id).
"""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class SharedClientRedisCacheClient(RedisCacheClient):
    """Django's Redis cache client, building each pool's `redis.Redis` once."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._client(connection_pool=self._get_connection_pool(write))
            self._clients[index] = client
        return client


class SharedClientRedisCache(RedisCache):
    """`django.core.cache.backends.redis.RedisCache`, with `SharedClientRedisCacheClient`."""

    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = SharedClientRedisCacheClient
