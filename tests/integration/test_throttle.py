"""The Redis token bucket shared by every worker posting to one Teams webhook."""
from __future__ import annotations

import itertools
import threading
import time

import pytest
from redis import Redis

from daemon import keys
from daemon.enums import TeamsFormat
from tests.fixtures.teams_server import FakeTeams, teams_server  # noqa: F401
from workers.content import TeamsContent
from workers.senders.teams import TeamsSender
from workers.throttle import DEFAULT_RATE, Throttle

#: Slack for scheduling jitter between a token grant and the request's arrival.
JITTER = 0.03


def test_bucket_honours_rate(redis: Redis) -> None:
    """N tokens at ``rate`` per second take (N - burst) / rate seconds, not less and not much more."""
    throttle = Throttle(redis, keys.throttle("eng"), rate=20)
    started = time.monotonic()
    for _ in range(21):
        assert throttle.acquire(timeout=5)
    elapsed = time.monotonic() - started
    assert 1.0 - JITTER <= elapsed < 1.5


def test_burst_then_rate(redis: Redis) -> None:
    """A bucket with burst 5 grants 5 at once, then waits for the next token."""
    throttle = Throttle(redis, keys.throttle("eng"), rate=10, burst=5)
    started = time.monotonic()
    for _ in range(5):
        assert throttle.acquire(timeout=0)
    assert time.monotonic() - started < 0.1
    assert throttle.acquire(timeout=0) is False
    assert 0 < throttle.wait_time() <= 0.1 + JITTER


def test_acquire_gives_up_at_timeout(redis: Redis) -> None:
    """``acquire`` returns False at once when no token can come within the timeout."""
    throttle = Throttle(redis, keys.throttle("eng"), rate=1)
    assert throttle.acquire(timeout=0)
    started = time.monotonic()
    assert throttle.acquire(timeout=0.2) is False
    assert time.monotonic() - started < 0.1


def test_wait_time_does_not_take(redis: Redis) -> None:
    """``wait_time`` peeks: 0 on a fresh bucket and the token is still there afterwards."""
    throttle = Throttle(redis, keys.throttle("eng"), rate=2)
    assert throttle.wait_time() == 0.0
    assert throttle.wait_time() == 0.0
    assert throttle.acquire(timeout=0)
    assert 0.4 <= throttle.wait_time() <= 0.5


def test_default_rate_and_key(redis: Redis) -> None:
    """The default rate is Teams' 4 per second and the key comes from ``daemon.keys``."""
    throttle = Throttle.for_channel(redis, "engineering")
    assert throttle.rate == DEFAULT_RATE == 4.0 and throttle.key == keys.throttle("engineering")
    assert throttle.acquire(timeout=0)
    assert redis.exists(keys.throttle("engineering")) and redis.pttl(keys.throttle("engineering")) > 0


def test_invalid_settings(redis: Redis) -> None:
    """A rate or burst that cannot work is refused."""
    with pytest.raises(ValueError):
        Throttle(redis, "k", rate=0)
    with pytest.raises(ValueError):
        Throttle(redis, "k", rate=1, burst=0)


def test_two_workers_never_exceed_rate(redis: Redis, teams_server: FakeTeams) -> None:
    """Two throttles on one key in two threads, posting to one webhook, never exceed its rate."""
    rate, per_thread = 10.0, 8
    url = teams_server.url("/hook")
    content = TeamsContent("t", "x", {"type": "AdaptiveCard", "version": "1.5", "body": []})
    errors: list[BaseException] = []
    grants: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        throttle = Throttle(Redis(connection_pool=redis.connection_pool), keys.throttle("eng"), rate=rate)
        with TeamsSender(timeout=2) as sender:
            for _ in range(per_thread):
                try:
                    assert throttle.acquire(timeout=10)
                    with lock:
                        grants.append(time.monotonic())
                    sender.send(url, TeamsFormat.WORKFLOW, content)
                except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                    errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not errors
    # the bucket's grants, across both workers, are spaced by at least 1 / rate
    grants.sort()
    gaps = [b - a for a, b in itertools.pairwise(grants)]
    assert len(grants) == 2 * per_thread and min(gaps) >= 1 / rate - JITTER, gaps
    # as Teams sees them: no one-second window holds more than the rate (one request of slack for the
    # network jitter between a grant and its request's arrival)
    arrivals = sorted(r.at for r in teams_server.wait_for_requests(2 * per_thread, "/hook"))
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    assert busiest <= rate + 1, arrivals
    assert arrivals[-1] - arrivals[0] >= (len(arrivals) - 1) / rate - JITTER
