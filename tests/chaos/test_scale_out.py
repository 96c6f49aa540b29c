"""Scale-out: two web processes, three workers with distinct hostnames and
queues, one beat, one PostgreSQL and one Redis; leads posted to both web processes while
a worker is SIGKILLed and restarted (tests/chaos/scale_out.py). bench/scale_out.py runs
the same at a larger size and prints the figures (docs/benchmarks.md)."""

import pytest

from tests.chaos import scale_out
from tests.chaos.scale_out import Size

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

SIZE = Size(leads=150, rate_limit=10)
# The bucket is kept where tokens are taken (Redis, before a claim's calls); a request
# reaches the receiver later: after the claim's earlier calls, one after another, and
# whatever the loaded test machine adds. The check at the receiver allows half a second
# of that: a burst of at most half a second's worth of the rate above the bucket.
ARRIVAL_SLACK_SECONDS = 0.5


@pytest.mark.django_db(transaction=True)
def test_two_webs_three_workers_one_beat_lose_nothing_double_nothing_and_hold_the_limit(
    tmp_path, capsys
):
    result = scale_out.run(tmp_path, SIZE)

    with capsys.disabled():
        print("\n[scale-out] " + "\n[scale-out] ".join(result.lines(SIZE)))
    # Both web processes took leads; every answer was a 201 or a replay's 200
    assert result.bad_answers == []
    assert result.created == SIZE.leads and result.replayed == len(range(0, SIZE.leads, 10))
    assert len(result.per_web) == 2 and min(result.per_web.values()) >= SIZE.leads // 3
    # 0 lost, 0 duplicate effects; the receiver refused nothing (signatures, shape) but at
    # most the one request the SIGKILL cut in the middle
    assert result.lost == 0
    assert result.duplicate_effects == 0
    assert set(result.rejections) <= {scale_out.TORN} and len(result.rejections) <= 1
    # The rate limit held across the workers (more than one drained), measured at the receiver
    assert sum(1 for count in result.drains.values() if count) >= 2, result.drains
    assert result.drains[scale_out.VICTIM] >= 1  # it was killed while draining
    allowance = SIZE.rate_limit * ARRIVAL_SLACK_SECONDS
    assert result.bucket_excess <= allowance, result.bucket_excess
    assert result.busiest_window <= 2 * SIZE.rate_limit + allowance
    # and it bound: the deliveries took at least what the limit allows
    assert result.post_seconds + result.converge_seconds >= (SIZE.leads - SIZE.rate_limit) / (
        SIZE.rate_limit
    )
    # One beat: its sweeps, no more than one schedule allows, are all the workers got
    assert result.sweeps_sent >= 10
    assert result.sweeps_sent <= result.sweeps_allowed
    assert result.sweeps_received <= result.sweeps_sent


def test_the_bucket_check_finds_a_burst_and_passes_a_steady_stream():
    steady = [i / 10 for i in range(100)]  # 10 a second
    burst = steady + [5.0] * 15

    assert scale_out.bucket_excess(steady, capacity=10, rate=10.0) <= 0
    assert scale_out.bucket_excess(burst, capacity=10, rate=10.0) >= 5
    assert scale_out.busiest_window(steady, 0.95) == 10
    assert scale_out.busiest_window(burst, 0.95) == 25
