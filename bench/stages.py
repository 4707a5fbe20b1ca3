"""Where a P0's latency goes, from RQ's own job timestamps: daemon, queue wait, worker until the sink.

RQ records ``enqueued_at`` and ``started_at`` (UTC, microseconds) in each job hash;
with the XADD time and the sink's receipt (both converted from this process's
monotonic clock to wall time) a latency splits into:

- daemon: XADD → job enqueued (XREADGROUP, validate, apply, plan, WATCH/MULTI, enqueue),
- queue: enqueued → a worker started it (dequeue, RQ's job preparation),
- worker: started → received by the sink (render, throttle, send).
"""
from __future__ import annotations

import time
from datetime import datetime, timezone

from redis import Redis

from bench.stats import percentile

#: Add to a ``time.monotonic()`` reading of this process to get wall time.
MONO_TO_WALL = time.time() - time.monotonic()


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _ts(raw: bytes | str | None) -> float | None:
    if not raw:
        return None
    text = _text(raw)
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    return None


def split(redis: Redis, channel: str, sent: dict[str, float], got: dict[str, float]) -> str:
    """p50 of each stage for announcement jobs of ``channel`` (``email``/``teams``), as one line."""
    daemon, queue, worker = [], [], []
    for key in redis.scan_iter(match="rq:job:hf-*", count=1000):
        desc, enqueued, started = redis.hmget(key, "description", "enqueued_at", "started_at")
        if not desc:
            continue
        words = _text(desc).split()
        if len(words) < 4 or words[0] != "announcement" or not words[-1].endswith("/" + channel):
            continue
        ticket = words[1]
        t_enq, t_start = _ts(enqueued), _ts(started)
        if ticket not in sent or ticket not in got or t_enq is None or t_start is None:
            continue
        daemon.append(t_enq - (sent[ticket] + MONO_TO_WALL))
        queue.append(t_start - t_enq)
        worker.append(got[ticket] + MONO_TO_WALL - t_start)
    if not daemon:
        return "no job timestamps found"
    p = lambda xs: f"{percentile([x * 1000 for x in xs], 50):.1f}/{percentile([x * 1000 for x in xs], 99):.1f}"  # noqa: E731
    return (f"daemon (XADD→enqueued) {p(daemon)} ms; queue (enqueued→started) {p(queue)} ms; "
            f"worker (started→received) {p(worker)} ms  [p50/p99, n={len(daemon)}]")
