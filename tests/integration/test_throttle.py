"""The Redis sliding-window limit shared by every worker posting to one Teams webhook."""
from __future__ import annotations

import math
import threading
import time

import pytest
from redis import Redis

from hotfix import keys
from hotfix.enums import TeamsFormat
from hotfix.service_settings import TEAMS_RATE
from tests.fixtures.teams_server import FakeTeams, teams_server  # noqa: F401
from workers.content import TeamsContent
from workers.senders.teams import TeamsSender
from workers.throttle import WINDOW_MARGIN, Throttle

#: Slack for scheduling jitter between a token grant and the request's arrival.
JITTER = 0.03


def test_limit_honoured_over_time(redis: Redis) -> None:
    """Nine grants at 4/s: four at once, then four per (slightly stretched) second."""
    throttle = Throttle(redis, keys.throttle("eng"), rate=4)
    started = time.monotonic()
    for _ in range(9):
        assert throttle.acquire(timeout=5)
    elapsed = time.monotonic() - started
    # never faster than the limit; how much slower is the machine's business (each grant was asserted in time)
    assert elapsed >= 2 * throttle.window - JITTER


def test_under_the_limit_nothing_waits(redis: Redis) -> None:
    """Requests under the limit go at once; the next one must wait for the oldest to leave the window."""
    throttle = Throttle(redis, keys.throttle("eng"), rate=4)
    granted = time.monotonic()
    assert [throttle.try_acquire() for _ in range(4)] == [0.0] * 4
    assert throttle.acquire(timeout=0) is False
    wait = throttle.wait_time()
    assert throttle.window - (time.monotonic() - granted) - JITTER <= wait <= throttle.window + JITTER


def test_acquire_gives_up_at_timeout(redis: Redis) -> None:
    """A slot that will not be free within the timeout is not waited for."""
    throttle = Throttle(redis, keys.throttle("eng"), rate=1)
    assert throttle.acquire(timeout=0)
    slept: list[float] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("workers.throttle.time.sleep", slept.append)
        assert throttle.acquire(timeout=0.2) is False
    assert slept == []


def test_wait_time_does_not_take(redis: Redis) -> None:
    """Peeking at the wait time does not use a slot."""
    throttle = Throttle(redis, keys.throttle("eng"), rate=1)
    assert throttle.wait_time() == 0.0
    assert throttle.wait_time() == 0.0
    granted = time.monotonic()
    assert throttle.acquire(timeout=0)
    wait = throttle.wait_time()
    assert throttle.window - (time.monotonic() - granted) - JITTER <= wait <= throttle.window


def test_p2_cards_leave_a_slot_to_p0(redis: Redis) -> None:
    """Requests that are not urgent take at most limit − 1 slots of a window; an urgent one still finds the last."""
    throttle = Throttle(redis, keys.throttle("eng"), rate=4)
    throttle.window = 600.0  # grants outlive any stall of a loaded machine between the calls below
    assert [throttle.try_acquire(urgent=False) for _ in range(3)] == [0.0] * 3
    assert throttle.try_acquire(urgent=False) > 0
    assert throttle.wait_time(urgent=False) > 0 and throttle.wait_time() == 0.0
    assert throttle.try_acquire(urgent=True) == 0.0
    assert throttle.try_acquire(urgent=True) > 0


def test_every_grant_takes_its_own_slot(redis: Redis) -> None:
    """Grants microseconds apart (one pipeline) are each counted: none replaces another in the log."""
    throttle = Throttle(redis, keys.throttle("eng"), rate=50)
    throttle.window = 600.0
    pipe = redis.pipeline(transaction=False)
    for _ in range(50):
        throttle._script(keys=[throttle.key], args=throttle.script_args(take=True, urgent=True), client=pipe)
    assert [float(w) for w in pipe.execute()] == [0.0] * 50
    assert redis.zcard(throttle.key) == 50
    assert throttle.try_acquire() > 0


def test_a_limit_of_one_has_no_reserve(redis: Redis) -> None:
    """A webhook limited to one request a window keeps no slot aside: a P2 card may still use it."""
    throttle = Throttle(redis, keys.throttle("eng"), rate=1)
    assert throttle.shared == throttle.limit == 1
    assert throttle.try_acquire(urgent=False) == 0.0


def test_waiting_stops_when_told_to_yield(redis: Redis) -> None:
    """A wait for a slot ends at once, without sleeping, when ``yield_to`` says something more urgent waits."""
    throttle = Throttle(redis, keys.throttle("eng"), rate=4)
    later = (time.time() + 600) * 1_000_000  # grants the window keeps however slowly this test runs
    redis.zadd(throttle.key, {f"p2-card-{n}": later for n in range(throttle.shared)})
    slept: list[float] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("workers.throttle.time.sleep", slept.append)
        assert throttle.acquire(timeout=5, urgent=False, yield_to=lambda: True) is False
    assert slept == []


def test_default_rate_and_key(redis: Redis) -> None:
    """The default rate is Teams' 4 per second and the key comes from ``hotfix.keys``."""
    throttle = Throttle.for_channel(redis, "engineering")
    assert throttle.rate == TEAMS_RATE == 4.0 and throttle.key == keys.throttle("engineering")
    assert throttle.acquire(timeout=0)
    assert redis.exists(keys.throttle("engineering")) and redis.pttl(keys.throttle("engineering")) > 0


def throttle_span(requests: int, rate: float) -> float:
    """The least time ``requests`` grants can take under a limit of ``rate`` a (stretched) second."""
    return (math.ceil(requests / rate) - 1) * WINDOW_MARGIN


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
    grants: list[tuple[float, float]] = []  # (asked, granted): the grant itself lies between the two
    lock = threading.Lock()

    def worker() -> None:
        throttle = Throttle(Redis(connection_pool=redis.connection_pool), keys.throttle("eng"), rate=rate)
        with TeamsSender(timeout=2) as sender:
            for _ in range(per_thread):
                try:
                    asked = time.monotonic()
                    assert throttle.acquire(timeout=10)
                    with lock:
                        grants.append((asked, time.monotonic()))
                    sender.send(url, TeamsFormat.WORKFLOW, content)
                except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                    errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not errors
    # the grants, across both workers: never more than the limit in any window. A thread may be descheduled
    # between the grant and its clock reading, so only grants that surely fell in a window (asked and granted
    # inside it) count against it: a loaded machine cannot make a correct throttle fail this.
    assert len(grants) == 2 * per_thread
    surely_in = max(sum(1 for asked, granted in grants if start <= asked and granted < start + 1.0)
                    for start, _ in grants)
    assert surely_in <= rate, sorted(grants)
    # as Teams sees them: no one-second window holds more than the rate (one request of slack for the
    # network jitter between a grant and its request's arrival)
    arrivals = sorted(r.at for r in teams_server.wait_for_requests(2 * per_thread, "/hook"))
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    assert busiest <= rate + 1, arrivals
    assert arrivals[-1] - arrivals[0] >= throttle_span(len(arrivals), rate) - JITTER
