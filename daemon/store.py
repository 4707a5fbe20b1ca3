"""Hotfix state in Redis: reading it, and committing a change with everything it implies.

``commit`` is the one write path of the daemon: under WATCH on the hotfix's key it
writes the new state, the jobs still to enqueue (``plan:<cause>``), the open-set and
the timers in one MULTI/EXEC. Jobs are then enqueued (unique ids) and the plan key
deleted: a crash anywhere leaves either nothing done or a plan that the next
delivery of the same event or timer finishes.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import WatchError

from daemon import keys
from daemon.dispatch import JobSpec, enqueue
from daemon.enums import Severity
from daemon.settings import Settings
from daemon.state import HotfixState
from daemon.timers import digest_windows, schedule, timer_names

log = logging.getLogger(__name__)

#: How long a plan of jobs survives if the daemon dies before enqueueing it.
PLAN_TTL = 7 * 86400
#: Attempts of an optimistic transaction before giving up (another daemon keeps winning).
MAX_ATTEMPTS = 50


@dataclass
class Change:
    """What a decision function returns: the new state (None: nothing to write) and the jobs."""

    state: HotfixState | None
    jobs: list[JobSpec] = field(default_factory=list)
    cause: str = ""


def load(redis: Redis | Pipeline, ticket: str) -> HotfixState | None:
    """The stored state of a ticket, or None."""
    raw = redis.get(keys.hotfix(ticket))
    return HotfixState.model_validate_json(raw) if raw else None


def load_many(redis: Redis, tickets: list[str]) -> list[HotfixState]:
    """States of several tickets in one round trip, in the given order (missing ones skipped)."""
    if not tickets:
        return []
    raws = redis.mget([keys.hotfix(t) for t in tickets])
    return [HotfixState.model_validate_json(r) for r in raws if r]


def _decode(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def open_tickets(redis: Redis) -> list[str]:
    return sorted(_decode(t) for t in redis.smembers(keys.OPEN_SET))


def all_tickets(redis: Redis) -> list[str]:
    return sorted(_decode(t) for t in redis.smembers(keys.ALL_SET))


def receipts(redis: Redis, ticket: str) -> list[dict[str, Any]]:
    """Delivery receipts of a hotfix, oldest first."""
    rows = [json.loads(v) for v in redis.hvals(keys.deliveries(ticket))]
    return sorted(rows, key=lambda r: (r.get("at") or "", r.get("message", ""), r.get("recipient", "")))


def _timer_member(ticket: str, kind: str) -> str:
    return f"{ticket}|{kind}"


def _write(pipe: Pipeline, state: HotfixState, change: Change, settings: Settings) -> None:
    pipe.set(keys.hotfix(state.ticket), state.model_dump_json())
    pipe.sadd(keys.ALL_SET, state.ticket)
    if state.is_open:
        pipe.sadd(keys.OPEN_SET, state.ticket)
    else:
        pipe.srem(keys.OPEN_SET, state.ticket)
    if change.jobs:
        payload = json.dumps([[j.job_id, j.queue, j.payload] for j in change.jobs])
        pipe.set(keys.plan(change.cause), payload, ex=PLAN_TTL)
        pipe.zadd(keys.PLANS, {change.cause: datetime.now().timestamp()})
    sync_timers(pipe, state, settings)


def sync_timers(pipe: Pipeline, state: HotfixState, settings: Settings) -> None:
    """Make the timer set say exactly what ``schedule`` says for this hotfix."""
    due = schedule(state, settings.policy(state.severity or Severity.P2), digest_windows(settings))
    for name in timer_names(settings):
        member = _timer_member(state.ticket, name)
        if name in due:
            pipe.zadd(keys.TIMERS, {member: due[name].timestamp()})
        else:
            pipe.zrem(keys.TIMERS, member)


def commit(redis: Redis, ticket: str, decide: Callable[[HotfixState | None], Change],
           settings: Settings, *, extra: Callable[[Pipeline], None] | None = None) -> Change:
    """Run ``decide`` on the current state and write its change atomically (retrying on conflict).

    ``extra`` adds commands to the same transaction (e.g. XACK of the stream entry).
    Returns the change; its jobs are then enqueued and its plan key removed.
    """
    key = keys.hotfix(ticket)
    for _ in range(MAX_ATTEMPTS):
        with redis.pipeline() as pipe:
            try:
                pipe.watch(key)
                change = decide(load(pipe, ticket))
                pipe.multi()
                if change.state is not None:
                    _write(pipe, change.state, change, settings)
                if extra is not None:
                    extra(pipe)
                pipe.execute()
            except WatchError:
                continue
        finish(redis, change.cause, change.jobs, settings)
        return change
    raise RuntimeError(f"could not update hotfix {ticket}: {MAX_ATTEMPTS} conflicting writers in a row")


def finish(redis: Redis, cause: str, jobs: list[JobSpec], settings: Settings) -> None:
    """Enqueue a committed change's jobs, then drop its plan."""
    if not jobs:
        return
    enqueue(redis, jobs, settings)
    pipe = redis.pipeline(transaction=False)
    pipe.delete(keys.plan(cause))
    pipe.zrem(keys.PLANS, cause)
    pipe.execute()


def resume_plan(redis: Redis, cause: str, settings: Settings) -> int:
    """Enqueue what a crashed daemon committed but did not enqueue; return the number of jobs."""
    raw = redis.get(keys.plan(cause))
    if not raw:
        return 0
    jobs = [JobSpec(jid, queue, payload) for jid, queue, payload in json.loads(raw)]
    finish(redis, cause, jobs, settings)
    log.warning("resumed %d job(s) of %s left by an interrupted daemon", len(jobs), cause)
    return len(jobs)


def sweep_plans(redis: Redis, older_than: float, settings: Settings) -> int:
    """Resume the plans a crashed daemon left behind (committed more than ``older_than`` seconds ago)."""
    cutoff = datetime.now().timestamp() - older_than
    resumed = 0
    for cause in redis.zrangebyscore(keys.PLANS, "-inf", cutoff, start=0, num=100):
        name = _decode(cause)
        if resume_plan(redis, name, settings) == 0:
            redis.zrem(keys.PLANS, name)
        resumed += 1
    return resumed


def due_timers(redis: Redis, now: datetime, limit: int = 100) -> list[tuple[str, str]]:
    """(ticket, kind) of timers due by ``now``."""
    members = redis.zrangebyscore(keys.TIMERS, "-inf", now.timestamp(), start=0, num=limit)
    out = []
    for member in members:
        ticket, _, kind = _decode(member).partition("|")
        out.append((ticket, kind))
    return out
