"""Dead letters: invalid events, and deliveries that failed for good. Listed and replayed by the CLI."""
from __future__ import annotations

import time

from redis import Redis

from daemon.producer import push_raw
from hotfix import keys
from hotfix.connection import as_text
from hotfix.jobs import JobPayload, JobSpec, enqueue
from hotfix.settings import Settings


def _fields(fields: dict[bytes | str, bytes | str] | None) -> dict[str, str]:
    return {as_text(k): as_text(v) for k, v in (fields or {}).items()}


def list_dead(redis: Redis, stream: str, count: int = 1000) -> list[dict[str, str]]:
    """Dead letters oldest first: ``id`` (to replay), ``error``, ``raw`` and what else was kept."""
    rows = []
    for entry_id, fields in redis.xrange(stream, count=count) or []:
        row = _fields(fields)
        row["entry"] = row.get("id", "")
        row["id"] = as_text(entry_id)
        rows.append(row)
    return rows


def _raw(redis: Redis, stream: str, dead_id: str) -> str | None:
    """The kept payload of one dead letter, or None when there is no such entry."""
    found = redis.xrange(stream, min=dead_id, max=dead_id)
    return _fields(found[0][1]).get("raw", "") if found else None


def replay_event(redis: Redis, dead_id: str) -> bool:
    """Put a dead event back on the stream (the daemon validates it again) and drop the dead letter."""
    raw = _raw(redis, keys.DEAD_LETTERS, dead_id)
    if raw is None:
        return False
    push_raw(redis, raw)
    redis.xdel(keys.DEAD_LETTERS, dead_id)
    return True


def replay_delivery(redis: Redis, dead_id: str, settings: Settings) -> bool:
    """Enqueue a failed delivery again (same receipt, new job id) and drop the dead letter."""
    raw = _raw(redis, keys.DELIVERY_DEAD_LETTERS, dead_id)
    if raw is None:
        return False
    job = JobPayload.model_validate_json(raw).model_copy(update={"after": []})
    replay = JobSpec(f"{job.job_key}-replay-{int(time.time() * 1000)}", keys.queue_for(job.severity.rank), job)
    enqueue(redis, [replay], settings)
    redis.xdel(keys.DELIVERY_DEAD_LETTERS, dead_id)
    return True
