"""Dead letters: invalid events, and deliveries that failed for good. Listed and replayed by the CLI."""
from __future__ import annotations

import json
import time
from typing import Any

from redis import Redis

from daemon.producer import push_raw
from hotfix import keys
from hotfix.enums import Severity
from hotfix.jobs import JobSpec, enqueue
from hotfix.settings import Settings


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def list_dead(redis: Redis, stream: str, count: int = 1000) -> list[dict[str, str]]:
    """Dead letters oldest first: ``id`` (to replay), ``error``, ``raw`` and what else was kept."""
    rows = []
    for entry_id, fields in redis.xrange(stream, count=count):
        row = {_text(k): _text(v) for k, v in fields.items()}
        row["entry"] = row.get("id", "")
        row["id"] = _text(entry_id)
        rows.append(row)
    return rows


def replay_event(redis: Redis, dead_id: str) -> bool:
    """Put a dead event back on the stream (the daemon validates it again) and drop the dead letter."""
    found = redis.xrange(keys.DEAD_LETTERS, min=dead_id, max=dead_id)
    if not found:
        return False
    raw = _text(found[0][1].get(b"raw", found[0][1].get("raw", b"")))
    push_raw(redis, raw)
    redis.xdel(keys.DEAD_LETTERS, dead_id)
    return True


def replay_delivery(redis: Redis, dead_id: str, settings: Settings) -> bool:
    """Enqueue a failed delivery again (same receipt, new job id) and drop the dead letter."""
    found = redis.xrange(keys.DELIVERY_DEAD_LETTERS, min=dead_id, max=dead_id)
    if not found:
        return False
    payload = json.loads(_text(found[0][1].get(b"raw", found[0][1].get("raw", b"{}"))))
    payload["after"] = []
    severity = Severity(payload.get("severity", "P2"))
    job_id = f"{payload['job_key']}-replay-{int(time.time() * 1000)}"
    enqueue(redis, [JobSpec(job_id, keys.queue_for(severity.rank), payload)], settings)
    redis.xdel(keys.DELIVERY_DEAD_LETTERS, dead_id)
    return True
