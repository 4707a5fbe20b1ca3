"""Connecting to Redis (a plain URL, TLS ``rediss://`` or Sentinel ``redis+sentinel://``) and reading its replies.

Clients are built without ``decode_responses`` (RQ needs bytes): ``as_text`` is the one place a
reply (bytes, str or None) becomes text.
"""
from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from redis import Redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from redis.sentinel import Sentinel

from hotfix.addresses import parse_redis_url
from hotfix.settings import Settings

log = logging.getLogger(__name__)


def connect(settings: Settings, *, fail_fast: bool = False) -> Redis:
    """A client for ``[redis] url`` that retries connection errors with jittered backoff.

    ``redis+sentinel://host1:26379,host2:26379/mymaster/0`` asks the Sentinels for the master.
    ``fail_fast`` (the HTTP intake) gives up at once, so that an outage answers 503 instead of hanging.
    """
    url = settings.redis.url
    timeout = settings.redis.socket_timeout.total_seconds()
    retry = Retry(ExponentialWithJitterBackoff(base=0.2, cap=5.0), retries=0 if fail_fast else 5)
    target = parse_redis_url(url)  # the settings refused a URL this cannot parse
    if target.scheme == "redis+sentinel":
        sentinel = Sentinel(target.hosts, socket_timeout=timeout, password=target.password)  # type: ignore[no-untyped-call]
        master: Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
            target.service, db=target.db, socket_timeout=timeout, password=target.password, retry=retry)
        return master
    return Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=3 if fail_fast else 5, retry=retry,
                          health_check_interval=30)


def safe_url(url: str) -> str:
    """``url`` with its passwords (if any) replaced by ``***``: fit for a log line or an error.

    redis-py also reads a password from the query (``?password=``, the documented form for ``unix://``;
    ``ssl_password``): every query parameter whose name says password is masked too.
    """
    base, sep, query = url.partition("?")
    if query:
        query = "&".join(f"{name}=***" if eq and "password" in unquote_plus(name).lower() else name + eq + value
                         for name, eq, value in (pair.partition("=") for pair in query.split("&")))
    parts = urlsplit(base)
    if parts.password is not None:  # a netloc, so urlunsplit keeps the rest as it was
        base = urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{parts.netloc.rpartition('@')[2]}"))
    return base + sep + query


def wait_for(redis: Redis, url: str, stop: threading.Event, *, most: float = 10.0) -> bool:
    """Block until Redis answers a PING (True), backing off up to ``most`` seconds, or ``stop`` is set (False)."""
    backoff = 0.5
    while not stop.is_set():
        try:
            if redis.ping():
                return True
        except RedisError as exc:
            log.warning("Redis unavailable at %s (%s); retrying in %.1fs", safe_url(url), type(exc).__name__, backoff)
        stop.wait(backoff)
        backoff = min(backoff * 2, most)
    return False


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
