"""Point Celery's producers at another broker for a while, then back.

Celery keeps its connection and producer pools in kombu's process-wide registry, keyed by
the broker's address. Closing one (force_close_all) leaves it closed in that registry, so
every later send in the process fails with "Acquire on closed pool". The registry is
therefore reset on the way in and on the way out: later tests get fresh pools.
"""

from contextlib import contextmanager

import kombu.pools

from portal.celery import app

# Nothing listens on port 1: a broker that is down.
UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"


def _fresh_pools() -> None:
    kombu.pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def broker_switched(url: str = UNREACHABLE_BROKER):
    broker = app.conf.broker_write_url
    app.conf.broker_write_url = url
    _fresh_pools()
    try:
        yield
    finally:
        app.conf.broker_write_url = broker
        _fresh_pools()
