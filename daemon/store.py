"""Hotfix state in Redis: reading it, and committing a change with everything it implies.

``commit`` is the one write path of the daemon: under WATCH on the hotfixes' keys it
writes the new states, the open sets, the timers, the RQ jobs and the stream
acknowledgements in one MULTI/EXEC. A crash leaves either nothing done (the entries
are redelivered) or everything done; the event ids recorded in the state make a
redelivered event a no-op, so no job is ever enqueued twice.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import WatchError

from daemon.timers import digest_windows, schedule, timer_names
from hotfix import communication, keys
from hotfix.connection import as_text
from hotfix.enums import Severity
from hotfix.jobs import JobSpec, enqueue_in
from hotfix.settings import Settings
from hotfix.state import HotfixState

log = logging.getLogger(__name__)

#: Attempts of an optimistic transaction before giving up (another daemon keeps winning).
MAX_ATTEMPTS = 50


@dataclass
class Change:
    """What a decision returns: the new state (None: nothing to write), its jobs, whether to resync all timers,
    and the communication figures it adds (``hotfix.communication`` counters: name and label values)."""

    state: HotfixState | None
    jobs: list[JobSpec] = field(default_factory=list)
    full_timers: bool = False
    counts: list[tuple[str, ...]] = field(default_factory=list)


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


def open_tickets(redis: Redis) -> list[str]:
    return sorted(as_text(t) for t in redis.smembers(keys.OPEN_SET))


def all_tickets(redis: Redis) -> list[str]:
    return sorted(as_text(t) for t in redis.smembers(keys.ALL_SET))


def receipts(redis: Redis, ticket: str) -> list[dict[str, Any]]:
    """Delivery receipts of a hotfix, oldest first."""
    rows = [json.loads(v) for v in redis.hvals(keys.receipts(ticket))]
    return sorted(rows, key=lambda r: (r.get("at") or "", r.get("message", ""), r.get("recipient", "")))


def write(pipe: Pipeline, before: HotfixState | None, after: HotfixState, settings: Settings, *,
          full_timers: bool = False) -> None:
    """Queue the commands that store ``after``: the state, the open sets and the timers that changed."""
    ticket = after.ticket
    pipe.set(keys.hotfix(ticket), after.model_dump_json())
    if before is None:
        pipe.sadd(keys.ALL_SET, ticket)
    severity = after.severity or Severity.P2
    if after.is_open:
        pipe.sadd(keys.OPEN_SET, ticket)
        pipe.sadd(keys.open_by_severity(severity.value), ticket)
    if before is not None and before.severity is not None and (before.severity is not severity or not after.is_open):
        pipe.srem(keys.open_by_severity(before.severity.value), ticket)
    if not after.is_open and (before is None or before.is_open):
        pipe.srem(keys.OPEN_SET, ticket)
    _index_held(pipe, before, after)
    _sync_timers(pipe, None if full_timers else before, after, settings)


#: How long ``hotfix approve ID`` can find the hotfix of a held message by its id.
HELD_ID_TTL = 30 * 86400


def _index_held(pipe: Pipeline, before: HotfixState | None, after: HotfixState) -> None:
    """Keep ``keys.HELD_TICKETS`` and the id → ticket keys of held messages in step with the state."""
    known = {h.id for h in before.held} if before is not None else set()
    for held in after.held:
        if held.id not in known:
            pipe.set(keys.approval(held.id), after.ticket, ex=HELD_ID_TTL)
    if after.held:
        pipe.sadd(keys.HELD_TICKETS, after.ticket)
    elif before is not None and before.held:
        pipe.srem(keys.HELD_TICKETS, after.ticket)


def _due(state: HotfixState, settings: Settings) -> dict[str, datetime]:
    return schedule(state, settings.policy(state.severity or Severity.P2), digest_windows(settings), settings.postmortem)


def _sync_timers(pipe: Pipeline, before: HotfixState | None, after: HotfixState, settings: Settings) -> None:
    """Add or move the timers ``after`` schedules and remove those it dropped (all names when ``before`` is None)."""
    due = _due(after, settings)
    was = _due(before, settings) if before is not None else None
    moved: dict[str, float] = {}
    dropped: list[str] = []
    for name in (timer_names(settings) if was is None else set(was) | set(due)):
        member = keys.timer_member(after.ticket, name)
        if name in due:
            if was is None or was.get(name) != due[name]:
                moved[member] = due[name].timestamp()
        elif was is None or name in was:
            dropped.append(member)
    if moved:  # one command each, not one per timer: a declaration sets or clears a dozen
        pipe.zadd(keys.TIMERS, moved)
    if dropped:
        pipe.zrem(keys.TIMERS, *sorted(dropped))


def commit(redis: Redis, tickets: list[str], decide: Callable[[dict[str, HotfixState | None]], list[Change]],
           settings: Settings, *, extra: Callable[[Pipeline], object] | None = None,
           attempts: int = MAX_ATTEMPTS) -> list[Change]:
    """Run ``decide`` on the current states of ``tickets`` and write every change in one transaction.

    The new states, their timers, the jobs (enqueued inside the same MULTI/EXEC) and ``extra``
    (e.g. the XACK of the stream entries) are written all together or not at all. On a conflict
    with another daemon the whole decision is taken again, up to ``attempts`` times; then
    ``WatchError`` is raised.
    """
    state_keys = [keys.hotfix(t) for t in tickets]
    for _ in range(attempts):
        with redis.pipeline() as pipe:
            try:
                pipe.watch(*state_keys)  # type: ignore[no-untyped-call]
                raws = pipe.mget(state_keys)
                before = {t: (HotfixState.model_validate_json(r) if r else None) for t, r in zip(tickets, raws, strict=True)}
                changes = decide(dict(before))
                pipe.multi()
                jobs: list[JobSpec] = []
                for change in changes:
                    if change.state is not None:
                        write(pipe, before.get(change.state.ticket), change.state, settings, full_timers=change.full_timers)
                        before[change.state.ticket] = change.state
                    jobs += change.jobs
                    for name, *labels in change.counts:
                        communication.count(pipe, name, *labels)
                enqueue_in(pipe, redis, jobs, settings)
                if extra is not None:
                    extra(pipe)
                pipe.execute()
                return changes
            except WatchError:
                continue
    raise WatchError(f"could not update {', '.join(tickets[:5])}: {attempts} conflicting writers in a row")


def commit_one(redis: Redis, ticket: str, decide: Callable[[HotfixState | None], Change], settings: Settings, *,
               extra: Callable[[Pipeline], object] | None = None) -> Change:
    """``commit`` for one hotfix."""
    return commit(redis, [ticket], lambda states: [decide(states[ticket])], settings, extra=extra)[0]


def drop_timers(redis: Redis, ticket: str, settings: Settings) -> None:
    """Forget every timer of a hotfix (``hotfix demo`` on a real Redis: no daemon acts on its story later)."""
    redis.zrem(keys.TIMERS, *[keys.timer_member(ticket, name) for name in timer_names(settings)])


def due_timers(redis: Redis, now: datetime, limit: int = 100) -> list[tuple[str, str, str]]:
    """(member as stored, ticket, timer name) of the timers due by ``now``, soonest first."""
    members = cast("list[bytes]", redis.zrangebyscore(keys.TIMERS, "-inf", now.timestamp(), start=0, num=limit))
    return [(as_text(member), *keys.parse_timer_member(member)) for member in members]
