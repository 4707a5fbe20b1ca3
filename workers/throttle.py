"""A sliding-window limit per Teams webhook, kept in Redis so every worker on every machine shares it.

Teams throttles a webhook above about 4 requests a second. The limit is "at most
``limit`` requests in any window of ``window`` seconds", with ``limit = rate`` (rounded
down, at least 1) and ``window = limit / rate`` stretched by ``WINDOW_MARGIN`` so that
jitter between a grant and the request's arrival never shows Teams one request too many.
Unlike a token bucket with no burst, requests under the limit go at once: a P0 card
never waits for a slot it does not need.

P0 first: ``P0_RESERVE`` slots of every window (one, when the limit is at least 2) are for urgent
requests only, so P1/P2 cards never fill a webhook's window and a P0 card finds a slot at once unless
other P0 cards took them. A request that is not urgent stops waiting for a slot as soon as ``yield_to``
says so (``workers.channels``: a P0 job is queued), so a worker never sleeps on a P2 card while a P0
job waits for it.

The log of grants is a sorted set scored by the Redis server's clock (``TIME``), read and
written in one Lua script (atomic), so workers' clocks need not agree.
"""
from __future__ import annotations

import itertools
import logging
import math
import time
import uuid
from collections.abc import Callable

from redis import Redis

from hotfix import keys
from hotfix.connection import as_text
from hotfix.service_settings import TEAMS_RATE

logger = logging.getLogger(__name__)

#: The window is this much longer than ``limit / rate``: headroom for network jitter.
WINDOW_MARGIN = 1.02
#: Slots of each window that only urgent (P0) requests may take, when the limit is at least 2.
P0_RESERVE = 1

# KEYS[1] the log (a sorted set of grant times in µs); ARGV: limit for this request (the webhook's, less
# the P0 reserve for a request that is not urgent), window (µs), take (1/0), a member unique to this call.
# The member is never built from ``now``: Lua prints numbers with 14 digits, so two grants within 100 µs
# would share one member and the second would replace the first (one request too many reaching Teams).
# Returns the seconds to wait before a slot is free for this request, as a string ("0" when one was taken).
_WINDOW_LUA = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  if tonumber(ARGV[3]) == 1 then
    redis.call('ZADD', KEYS[1], now, ARGV[4])
    redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  end
  return '0'
end
local oldest = tonumber(redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')[2])
return string.format('%.6f', math.max(oldest + window - now, 1) / 1000000)
"""


class Throttle:
    """A shared limit of ``rate`` requests a second on ``key`` (``burst`` overrides the requests per window).

    ``urgent=False`` (a P1/P2 card) leaves ``P0_RESERVE`` slots of each window to urgent requests.
    """

    def __init__(self, redis: Redis, key: str, rate: float = TEAMS_RATE, burst: int | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if burst is not None and burst < 1:
            raise ValueError("burst must be at least 1")
        self.key = key
        self.rate = float(rate)
        self.limit = burst if burst is not None else max(1, math.floor(rate))
        self.window = self.limit / self.rate * WINDOW_MARGIN
        #: How many slots of a window a request that is not urgent may take.
        self.shared = self.limit - P0_RESERVE if self.limit > P0_RESERVE else self.limit
        self._script = redis.register_script(_WINDOW_LUA)
        self._member = uuid.uuid4().hex  # unique across processes and machines, unlike id(self)
        self._calls = itertools.count()

    @classmethod
    def for_channel(cls, redis: Redis, channel: str, rate: float = TEAMS_RATE, burst: int | None = None) -> Throttle:
        """The throttle of the Teams channel named ``channel`` in the configuration."""
        return cls(redis, keys.throttle(channel), rate, burst)

    def script_args(self, take: bool, urgent: bool) -> list[int | str]:
        """The window script's arguments for one call (each call gets a member of its own)."""
        member = f"{self._member}:{next(self._calls)}"
        return [self.limit if urgent else self.shared, int(self.window * 1_000_000), 1 if take else 0, member]

    def _call(self, take: bool, urgent: bool) -> float:
        raw = self._script(keys=[self.key], args=self.script_args(take, urgent))
        return float(as_text(raw))

    def try_acquire(self, *, urgent: bool = True) -> float:
        """Take a slot if one is free (returns 0.0), else return the seconds until one will be."""
        return self._call(take=True, urgent=urgent)

    def wait_time(self, *, urgent: bool = True) -> float:
        """Seconds until a slot is free (0.0 if one is now), without taking it."""
        return self._call(take=False, urgent=urgent)

    def acquire(self, timeout: float, *, urgent: bool = True, yield_to: Callable[[], bool] | None = None) -> bool:
        """Take a slot, sleeping just as long as needed; ``False`` if none can be had within ``timeout`` seconds.

        ``yield_to``: asked before each sleep; when it says True the wait ends at once (``False``).
        """
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            wait = self.try_acquire(urgent=urgent)
            if wait <= 0:
                return True
            if yield_to is not None and yield_to():
                logger.debug("throttle %s: waiting no longer, something more urgent is queued", self.key)
                return False
            if wait > deadline - time.monotonic():
                logger.debug("throttle %s: no slot within %.3fs (next in %.3fs)", self.key, timeout, wait)
                return False
            time.sleep(math.ceil(wait * 1e6) / 1e6)  # another worker may take it first: then ask again
