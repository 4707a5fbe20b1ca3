"""A token bucket per Teams webhook, kept in Redis so every worker on every machine shares it.

The bucket is refilled and taken from in one Lua script (atomic), on the Redis
server's clock (``TIME``), so workers' clocks need not agree. With the default
burst of 1, grants are spaced at least ``1/rate`` apart: no window of one
second ever sees more than ``rate`` requests to the webhook.
"""
from __future__ import annotations

import logging
import math
import time

from redis import Redis

from daemon import keys

logger = logging.getLogger(__name__)

#: Requests per second one Teams webhook takes before throttling.
DEFAULT_RATE = 4.0

# KEYS[1] the bucket (a hash: tokens, ts); ARGV: rate, burst, take (1 to take a token, 0 to peek).
# Returns the seconds to wait before a token is available, as a string ("0" when one was taken).
_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local take = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 0.999999 then
  if take == 1 then tokens = math.max(0, tokens - 1) end
else
  wait = math.max((1 - tokens) / rate, 0.000001)
end
if take == 1 then
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.17g', now))
  redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
end
return string.format('%.6f', wait)
"""


class Throttle:
    """A shared token bucket: ``rate`` tokens a second, at most ``burst`` saved up (default 1)."""

    def __init__(self, redis: Redis, key: str, rate: float = DEFAULT_RATE, burst: int | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if burst is not None and burst < 1:
            raise ValueError("burst must be at least 1")
        self.key = key
        self.rate = float(rate)
        self.burst = burst if burst is not None else 1
        self._script = redis.register_script(_BUCKET_LUA)

    @classmethod
    def for_channel(cls, redis: Redis, channel: str, rate: float = DEFAULT_RATE, burst: int | None = None) -> Throttle:
        """The throttle of the Teams channel named ``channel`` in the configuration."""
        return cls(redis, keys.throttle(channel), rate, burst)

    def _call(self, take: bool) -> float:
        raw = self._script(keys=[self.key], args=[repr(self.rate), self.burst, 1 if take else 0])
        return float(raw.decode() if isinstance(raw, bytes) else raw)

    def try_acquire(self) -> float:
        """Take a token if one is there (returns 0.0), else return the seconds until one will be."""
        return self._call(take=True)

    def wait_time(self) -> float:
        """Seconds until a token is available (0.0 if one is now), without taking it."""
        return self._call(take=False)

    def acquire(self, timeout: float) -> bool:
        """Take a token, sleeping just as long as needed; ``False`` if none can be had within ``timeout`` seconds."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            wait = self.try_acquire()
            if wait <= 0:
                return True
            remaining = deadline - time.monotonic()
            if wait > remaining:
                logger.debug("throttle %s: no token within %.3fs (next in %.3fs)", self.key, timeout, wait)
                return False
            # another worker may take the token first: then the loop asks again
            time.sleep(math.ceil(wait * 1e6) / 1e6)
