"""CPU of one cache read: Django's Redis backend against portal.redis_cache (docs/benchmarks.md).

    .venv/bin/python bench/cache_client.py
    BENCH_REDIS=redis://127.0.0.1:6379/15 .venv/bin/python bench/cache_client.py --calls 20000

Intake reads Redis once a request (`get_many` of the throttle count and the reference
data's tokens). Django's backend builds a new redis-py client for every call; the shared
one keeps one per pool. For each backend, alternating, it times `--calls` reads of five
keys (the process's CPU and the wall clock), then `get_client()` alone, and prints both.
"""

import argparse
import os
import sys
import time
import uuid

from harness import ROOT

sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000, help="Reads per backend and round.")
    parser.add_argument("--rounds", type=int, default=2, help="Rounds of both backends.")
    options = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from django.core.cache.backends.redis import RedisCache

    from portal.redis_cache import SharedClientRedisCache

    location = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/15")
    keys = ["throttle", "token-a", "token-b", "token-c", "token-d"]
    print(f"Cache read benchmark: get_many of {len(keys)} keys, {options.calls} calls, {location}")
    print(f"{'backend':28} {'CPU a read':>12} {'wall a read':>12} {'get_client':>12}")
    for _ in range(options.rounds):
        for backend_class in (RedisCache, SharedClientRedisCache):
            backend = backend_class(location, {"KEY_PREFIX": f"bench-{uuid.uuid4().hex}"})
            backend.set(keys[0], 1, timeout=60)
            for _ in range(200):  # warm-up: the pool's connection, the code paths
                backend.get_many(keys)
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(options.calls):
                backend.get_many(keys)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            client_cpu = time.process_time()
            for _ in range(options.calls):
                backend._cache.get_client()
            client_cpu = time.process_time() - client_cpu
            backend.delete(keys[0])
            print(
                f"{backend_class.__name__:28} {cpu / options.calls * 1e6:9.1f} us"
                f" {wall / options.calls * 1e6:9.1f} us {client_cpu / options.calls * 1e6:9.1f} us"
            )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
