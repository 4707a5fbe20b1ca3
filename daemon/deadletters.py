"""Dead letters: invalid events, and deliveries that failed for good. Kept here, listed and replayed by the CLI.

An event dead letter keeps the entry's id, the reason, its raw text (the first 64 KiB) and when; one of the P0
lane also names its stream. The daemon writes them in the transaction that acknowledges the entry.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from redis import Redis
from redis.client import Pipeline

from daemon.lanes import Entry
from daemon.producer import push_raw
from hotfix import keys
from hotfix.connection import as_text
from hotfix.jobs import JobPayload, JobSpec, enqueue
from hotfix.settings import Settings

log = logging.getLogger(__name__)

#: A dead letter to write: (stream entry, reason, raw payload).
Dead = tuple[Entry, str, str]
#: The most event dead letters kept (older ones are trimmed).
EVENT_DEAD_LETTERS_MAX = 100_000


def keep_dead(pipe: Pipeline, dead: list[Dead], at: datetime) -> None:
    """Queue on ``pipe`` one dead letter per entry: its id, the reason, its raw text and ``at``."""
    for entry, reason, raw in dead:
        kept = {"id": entry.id, "error": reason, "raw": raw[:65536], "at": at.isoformat()}
        if entry.stream == keys.P0_STREAM:
            kept["stream"] = entry.stream
        pipe.xadd(keys.DEAD_LETTERS, kept, maxlen=EVENT_DEAD_LETTERS_MAX, approximate=True)  # type: ignore[arg-type]
        log.warning("dead-lettered entry %s: %s", entry.id, reason)


def entry_text(fields: dict[Any, Any]) -> str:
    """The event text of a stream entry as it came (all its fields when it has no ``event``), for a dead letter."""
    raw = fields.get(keys.EVENT_FIELD.encode(), fields.get(keys.EVENT_FIELD))
    return as_text(raw) if raw is not None else as_text(fields)


def internal_reason(doing: str, exc: BaseException) -> str:
    """The reason a dead letter gives for an unexpected exception."""
    return f"internal error while {doing}: {type(exc).__name__}: {str(exc)[:500]}"


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
