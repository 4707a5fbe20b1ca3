"""A sliding-window limit per Teams webhook, kept in Redis so every worker on every machine shares it.

Teams throttles a webhook above about 4 requests a second. The limit is "at most
``limit`` requests in any window of ``window`` seconds", with ``limit = rate`` (rounded
down, at least 1) and ``window = limit / rate`` stretched by ``WINDOW_MARGIN`` so that
jitter between a grant and the request's arrival never shows Teams one request too many.
Unlike a token bucket with no burst, requests under the limit go at once: a P0 card
never waits for a slot it does not need.

The log of grants is a sorted set scored by the Redis server's clock (``TIME``), read and
written in one Lua script (atomic), so workers' clocks need not agree.
"""
from __future__ import annotations

import logging
import math
import time

from redis import Redis

from hotfix import keys
from hotfix.connection import as_text
from hotfix.settings import TEAMS_RATE

logger = logging.getLogger(__name__)

#: The window is this much longer than ``limit / rate``: headroom for network jitter.
WINDOW_MARGIN = 1.02

# KEYS[1] the log (a sorted set of grant times in µs); ARGV: limit, window (µs), take (1/0), a unique member.
# Returns the seconds to wait before a slot is free, as a string ("0" when one was taken).
_WINDOW_LUA = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  if tonumber(ARGV[3]) == 1 then
    redis.call('ZADD', KEYS[1], now, ARGV[4] .. ':' .. now)
    redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  end
  return '0'
end
local oldest = tonumber(redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')[2])
return string.format('%.6f', math.max(oldest + window - now, 1) / 1000000)
"""


class Throttle:
    """A shared limit of ``rate`` requests a second on ``key`` (``burst`` overrides the requests per window)."""

    def __init__(self, redis: Redis, key: str, rate: float = TEAMS_RATE, burst: int | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if burst is not None and burst < 1:
            raise ValueError("burst must be at least 1")
        self.key = key
        self.rate = float(rate)
        self.limit = burst if burst is not None else max(1, math.floor(rate))
        self.window = self.limit / self.rate * WINDOW_MARGIN
        self._script = redis.register_script(_WINDOW_LUA)
        self._member = f"{id(self):x}"

    @classmethod
    def for_channel(cls, redis: Redis, channel: str, rate: float = TEAMS_RATE, burst: int | None = None) -> Throttle:
        """The throttle of the Teams channel named ``channel`` in the configuration."""
        return cls(redis, keys.throttle(channel), rate, burst)

    def _call(self, take: bool) -> float:
        args = [self.limit, int(self.window * 1_000_000), 1 if take else 0, self._member]
        raw = self._script(keys=[self.key], args=args)
        return float(as_text(raw))

    def try_acquire(self) -> float:
        """Take a slot if one is free (returns 0.0), else return the seconds until one will be."""
        return self._call(take=True)

    def wait_time(self) -> float:
        """Seconds until a slot is free (0.0 if one is now), without taking it."""
        return self._call(take=False)

    def acquire(self, timeout: float) -> bool:
        """Take a slot, sleeping just as long as needed; ``False`` if none can be had within ``timeout`` seconds."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            wait = self.try_acquire()
            if wait <= 0:
                return True
            if wait > deadline - time.monotonic():
                logger.debug("throttle %s: no slot within %.3fs (next in %.3fs)", self.key, timeout, wait)
                return False
            time.sleep(math.ceil(wait * 1e6) / 1e6)  # another worker may take it first: then ask again
