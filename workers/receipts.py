"""Delivery receipts: what reached whom. A receipt saying ``sent`` is written only after a successful send.

The duplicate window: a message accepted by the SMTP server (or Teams) whose receipt cannot be written
is sent again when its job is retried, since nothing says it went. ``record`` narrows that window: it
keeps trying for ``RECEIPT_PATIENCE`` while Redis restarts or fails over, so only an outage longer than
that right after the accept (or the worker killed in between) repeats a message; such a repeat carries
the same Message-ID (``compose.make_message_id``), which many mail stores fold into one.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT

from hotfix import keys
from hotfix.enums import DeliveryStatus
from hotfix.jobs import JobPayload, delivery_id

log = logging.getLogger(__name__)

#: Seconds a worker keeps trying to write the receipts of what it just sent (under the job timeout).
RECEIPT_PATIENCE = 30.0
#: The longest wait between two tries at writing those receipts (seconds; the wait doubles from 0.25).
RECEIPT_RETRY_CAP = 4.0
#: How long the "job finished" markers live.
DONE_TTL = 7 * 86400


def already_sent(redis: Redis, ticket: str, job_key: str, recipients: list[str]) -> set[str]:
    """The recipients of this job that a receipt already records as sent."""
    if not recipients:
        return set()
    return sent_among(recipients, redis.hmget(keys.receipts(ticket), fields(job_key, recipients)))


def fields(job_key: str, recipients: list[str]) -> list[str]:
    """The receipt fields of a job's recipients (to read them in a caller's pipeline)."""
    return [delivery_id(job_key, r) for r in recipients]


def sent_among(recipients: list[str], raws: list[Any]) -> set[str]:
    """Of ``recipients``, those whose receipt (``raws``, read with ``fields``) says sent."""
    out = set()
    for recipient, raw in zip(recipients, raws, strict=True):
        if raw and json.loads(raw).get("status") == DeliveryStatus.SENT.value:
            out.add(recipient)
    return out


def record(redis: Redis, job: JobPayload, outcomes: Iterable[tuple[str, DeliveryStatus, str | None]],
           *, via: str, attempt: int, at: datetime | None = None) -> None:
    """Write one receipt per (recipient, status, reason) in one round trip, at ``at`` (default: now)."""
    now = (at or datetime.now(timezone.utc)).isoformat()
    mapping: dict[EncodableT, EncodableT] = {}
    for recipient, status, reason in outcomes:
        row: dict[str, Any] = {"message": job.message.value, "audience": job.audience, "channel": job.channel.value,
                               "recipient": recipient, "status": status.value, "at": now, "via": via,
                               "attempt": attempt, "job": job.job_key, "cause": job.cause}
        if reason:
            row["reason"] = reason
        mapping[delivery_id(job.job_key, recipient)] = json.dumps(row)
    if mapping:
        _patiently(lambda: redis.hset(keys.receipts(job.ticket), mapping=mapping), job.ticket)


def _patiently(write: Callable[[], object], ticket: str) -> None:
    """Run a receipt write, retrying Redis connection errors for up to ``RECEIPT_PATIENCE`` seconds."""
    deadline = time.monotonic() + RECEIPT_PATIENCE
    delay = 0.25
    while True:
        try:
            write()
            return
        except (RedisConnectionError, RedisTimeoutError) as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("%s: receipt not written (Redis %s); retrying in %.1fs so that nothing is sent twice",
                        ticket, type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, RECEIPT_RETRY_CAP)


def mark_done(redis: Redis, job_key: str) -> None:
    """The job has reached its end; messages waiting on it may go."""
    redis.set(keys.done(job_key), "1", ex=DONE_TTL)


def all_done(redis: Redis, job_keys: list[str]) -> bool:
    """Whether every listed job has finished (sent or failed for good)."""
    if not job_keys:
        return True
    return all(redis.mget([keys.done(k) for k in job_keys]))
