"""Connecting to Redis (a plain URL, TLS ``rediss://`` or Sentinel ``redis+sentinel://``) and reading its replies.

Clients are built without ``decode_responses`` (RQ needs bytes): ``as_text`` is the one place a
reply (bytes, str or None) becomes text.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from redis import Redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from hotfix.settings import Settings


def connect(settings: Settings, *, fail_fast: bool = False) -> Redis:
    """A client for ``[redis] url`` that retries connection errors with jittered backoff.

    ``redis+sentinel://host1:26379,host2:26379/mymaster/0`` asks the Sentinels for the master.
    ``fail_fast`` (the HTTP intake) gives up at once, so that an outage answers 503 instead of hanging.
    """
    url = settings.redis.url
    timeout = settings.redis.socket_timeout.total_seconds()
    retry = Retry(ExponentialWithJitterBackoff(base=0.2, cap=5.0), retries=0 if fail_fast else 5)
    if url.startswith("redis+sentinel://"):
        parsed = urlparse(url)
        hosts = [(h.rsplit(":", 1)[0], int(h.rsplit(":", 1)[1]) if ":" in h else 26379)
                 for h in parsed.netloc.split("@")[-1].split(",")]
        parts = [p for p in parsed.path.split("/") if p]
        service = parts[0] if parts else "mymaster"
        db = int(parts[1]) if len(parts) > 1 else 0
        sentinel = Sentinel(hosts, socket_timeout=timeout, password=parsed.password)  # type: ignore[no-untyped-call]
        master: Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
            service, db=db, socket_timeout=timeout, password=parsed.password, retry=retry)
        return master
    return Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=3 if fail_fast else 5, retry=retry,
                          health_check_interval=30)


def answering(redis: Redis) -> bool:
    """Whether Redis answers a PING now."""
    try:
        return bool(redis.ping())
    except Exception:
        return False


def as_text(value: Any) -> str:
    """A Redis reply as text: bytes decoded as UTF-8 (bad bytes replaced), None as ``""``, anything else by ``str``."""
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
