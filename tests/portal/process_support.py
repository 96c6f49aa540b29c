"""What the tests of real worker and beat processes share: a Redis of their own, waiting."""

import time

import pytest

from tests.chaos.harness import RedisServer


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.shutdown_nosave()


def wait_for(predicate, seconds: float = 30):
    """The predicate's first truthy value within `seconds`, else its last value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()
