"""The daemon's loop: read the event stream in a consumer group, apply, plan, enqueue, acknowledge.

An entry is acknowledged only after its effects (state, jobs, timers) are in Redis.
Entries left pending by a dead consumer are reclaimed with XAUTOCLAIM. Invalid
entries go to the dead-letter stream with the reason and the raw payload. Due
timers are fired on every turn of the loop. SIGTERM finishes the batch in hand.

Poison-proof: an entry whose reading, applying, planning or committing fails for
any reason but Redis itself is dead-lettered with the exception, in the same
transaction that applies the rest of its batch (a batch whose commit fails is
retried entry by entry to find the culprit); a timer that cannot fire is
dead-lettered too. Only Redis errors stop a turn, and the loop rides them out.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, cast

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from daemon import store
from daemon.lifecycle import Outcome, Rules, Step, apply
from daemon.planner import plan, plan_fired
from daemon.timers import fire, timer_names
from hotfix import keys, metrics, subscribers
from hotfix.connection import as_text
from hotfix.enums import EventType, Severity
from hotfix.events import Event, InvalidEvent, parse_event
from hotfix.settings import Settings
from hotfix.state import HotfixState

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
#: A dead letter to write: (stream entry id, reason, raw payload).
Dead = tuple[str, str, str]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def rules_of(settings: Settings) -> Rules:
    """The deadlines and post-mortem delays of the configured policies."""
    return Rules(resolve_within=settings.resolve_within(),
                 postmortem_after={s: settings.policy(s).postmortem_after for s in Severity})


def entry_time(entry_id: str) -> datetime:
    """The time Redis gave a stream entry (its id's millisecond part): the intake time."""
    return datetime.fromtimestamp(int(entry_id.split("-")[0]) / 1000, tz=timezone.utc)


class Daemon:
    """One consumer of the ``hotfix-daemons`` group."""

    def __init__(self, redis: Redis, settings: Settings, *, name: str | None = None, batch: int = 250,
                 block_ms: int | None = 1000, claim_idle_ms: int = 30_000,
                 clock: Clock = utcnow) -> None:
        self.redis = redis
        self.settings = settings
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.clock = clock
        self.rules = rules_of(settings)
        self.book = subscribers.Book(redis)
        self.stopping = threading.Event()
        self._last_claim = 0.0

    # -- the loop -----------------------------------------------------------------
    def ensure_group(self) -> None:
        """Create the consumer group (and the stream) if needed."""
        try:
            self.redis.xgroup_create(keys.EVENTS_STREAM, keys.CONSUMER_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def run(self, *, install_signals: bool = True) -> None:
        """Consume until SIGTERM/SIGINT (or ``stopping`` is set), riding out Redis outages."""
        if install_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stopping.set())
        log.info("daemon %s consuming %s", self.name, keys.EVENTS_STREAM)
        backoff = 0.5
        group_ready = False
        while not self.stopping.is_set():
            try:
                if not group_ready:
                    self.ensure_group()
                    group_ready = True
                self.turn()
                backoff = 0.5
            except ResponseError as exc:
                if not str(exc).startswith(("NOGROUP", "UNBLOCKED")):
                    log.warning("Redis refused a command (%s); retrying in %.1fs", exc, backoff)
                    self.stopping.wait(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                log.warning("consumer group missing (Redis restarted empty?); creating it again")
                group_ready = False
            except (RedisConnectionError, RedisTimeoutError, ConnectionError) as exc:
                log.warning("Redis unavailable (%s); retrying in %.1fs", type(exc).__name__, backoff)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                group_ready = False
            except Exception:  # noqa: BLE001 - a bug outside any entry: say it, wait, go on (entries stay pending)
                log.exception("daemon turn failed; retrying in %.1fs", backoff)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)
        log.info("daemon %s stopped", self.name)

    def turn(self) -> int:
        """One turn: reclaim if due, read and process a batch, fire due timers. Returns entries handled."""
        handled = 0
        if time.monotonic() - self._last_claim > self.claim_idle_ms / 2000:
            handled += self.reclaim()
            self.observe()
            self._last_claim = time.monotonic()
        response = cast("list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]] | None", self.redis.xreadgroup(
            keys.CONSUMER_GROUP, self.name, {keys.EVENTS_STREAM: ">"}, count=self.batch, block=self.block_ms)) or []
        entries = [(as_text(entry_id), fields) for _stream, batch in response for entry_id, fields in batch]
        if entries:
            self.process_batch(entries)
            handled += len(entries)
        self.fire_timers()
        return handled

    def reclaim(self) -> int:
        """Take over entries another consumer left pending too long, and process them."""
        start, handled = "0-0", 0
        while True:
            result = self.redis.xautoclaim(keys.EVENTS_STREAM, keys.CONSUMER_GROUP, self.name,
                                           min_idle_time=self.claim_idle_ms, start_id=start, count=self.batch)
            start, claimed = as_text(result[0]), result[1]
            entries = []
            for entry_id, fields in claimed:
                if fields is None:  # deleted from the stream meanwhile
                    self.redis.xack(keys.EVENTS_STREAM, keys.CONSUMER_GROUP, entry_id)
                else:
                    entries.append((as_text(entry_id), fields))
            if entries:
                log.warning("reclaimed %d entr(ies) from a stalled consumer", len(entries))
                self.process_batch(entries)
                handled += len(entries)
            if start == "0-0" or not claimed:
                return handled

    def observe(self) -> None:
        """Refresh the gauges: queue depths and open hotfixes by severity (counted by Redis, not loaded)."""
        pipe = self.redis.pipeline(transaction=False)
        for name in keys.QUEUE_NAMES:
            pipe.llen(f"rq:queue:{name}")
        for severity in Severity:
            pipe.scard(keys.open_by_severity(severity.value))
        values = pipe.execute()
        for name, depth in zip(keys.QUEUE_NAMES, values, strict=False):
            metrics.queue_depth.labels(queue=name).set(depth)
        for severity, count in zip(Severity, values[len(keys.QUEUE_NAMES):], strict=True):
            metrics.open_hotfixes.labels(severity=severity.value).set(count)

    # -- events -------------------------------------------------------------------
    def parse(self, entry_id: str, fields: dict[Any, Any]) -> Event:
        """The event of a stream entry (its id and time fill in a missing ``id`` and ``at``)."""
        raw = fields.get(keys.EVENT_FIELD.encode(), fields.get(keys.EVENT_FIELD))
        if raw is None:
            raise InvalidEvent(f"entry has no {keys.EVENT_FIELD!r} field", as_text(fields))
        return parse_event(raw if isinstance(raw, (bytes, str)) else str(raw), now=self.clock(),
                           default_id=f"x-{entry_id}", default_at=entry_time(entry_id))

    def process_batch(self, entries: list[tuple[str, dict[Any, Any]]]) -> None:
        """Validate, apply, plan, then store, enqueue and acknowledge a batch of entries in one transaction.

        An entry that fails for a reason other than Redis is dead-lettered with the exception and the
        rest of the batch is applied; a batch whose commit fails is retried entry by entry.
        """
        events: list[tuple[str, Event]] = []
        dead: list[Dead] = []
        raws = {entry_id: _raw(fields) for entry_id, fields in entries}
        for entry_id, fields in entries:
            try:
                events.append((entry_id, self.parse(entry_id, fields)))
            except InvalidEvent as exc:
                dead.append((entry_id, exc.reason, exc.raw))
            except Exception as exc:  # a bug must cost one entry, never the daemon: keep it with the reason
                log.exception("cannot read entry %s", entry_id)
                dead.append((entry_id, _internal("validating", exc), raws[entry_id]))
        if dead:
            self.dead_letter(dead)
        if not events:
            return
        try:
            self._commit(events, raws)
        except RedisError:
            raise
        except Exception as exc:
            if len(events) == 1:
                self._dead_after_commit(events[0][0], exc, raws)
                return
            log.warning("a batch of %d entries failed (%s: %s): committing them one by one", len(events),
                        type(exc).__name__, exc)
            for item in events:
                try:
                    self._commit([item], raws)
                except RedisError:
                    raise
                except Exception as one:
                    self._dead_after_commit(item[0], one, raws)

    def _dead_after_commit(self, entry_id: str, exc: Exception, raws: dict[str, str]) -> None:
        log.error("cannot commit entry %s", entry_id, exc_info=exc)
        self.dead_letter([(entry_id, _internal("committing", exc), raws[entry_id])])

    def _commit(self, events: list[tuple[str, Event]], raws: dict[str, str]) -> None:
        """Apply and plan every event, then commit states, jobs, timers, acks and this batch's poison together."""
        now = self.clock()
        self.book.refresh()
        tickets = list(dict.fromkeys(event.ticket for _, event in events))
        applied: list[str] = []
        poisoned: list[Dead] = []

        def decide_all(states: dict[str, HotfixState | None]) -> list[store.Change]:
            applied.clear()
            poisoned.clear()
            changed: dict[str, store.Change] = {}
            for entry_id, event in events:
                try:
                    steps = apply(states[event.ticket], event, now, self.rules)
                    planned = plan(steps, self.settings, now, changes=self.book.get)
                except Exception as exc:  # pure code failed on this event: it alone is dead-lettered
                    log.exception("%s: cannot apply entry %s", event.ticket, entry_id)
                    poisoned.append((entry_id, _internal("applying", exc), raws[entry_id]))
                    continue
                applied.extend(_log(steps))
                if planned.state is not None:
                    states[event.ticket] = planned.state
                    previous = changed.get(event.ticket)
                    changed[event.ticket] = store.Change(planned.state, (previous.jobs if previous else []) + planned.jobs,
                                                         counts=(previous.counts if previous else []) + planned.counts)
            return list(changed.values())

        def extra(pipe: Pipeline) -> None:
            bad = {entry_id for entry_id, _reason, _raw in poisoned}
            ack = [entry_id for entry_id, _ in events if entry_id not in bad]
            if ack:
                pipe.xack(keys.EVENTS_STREAM, keys.CONSUMER_GROUP, *ack)
            self._dead_letter_into(pipe, poisoned)

        store.commit(self.redis, tickets, decide_all, self.settings, extra=extra)
        for type_ in applied:  # counted once the transaction went through, not per attempt
            metrics.events_applied.labels(type=type_).inc()
        if poisoned:
            metrics.events_dead_lettered.inc(len(poisoned))
        log.info("applied %d of %d event(s) to %d hotfix(es)", len(applied), len(events), len(tickets))

    def dead_letter(self, dead: list[Dead]) -> None:
        """Keep invalid entries with their reason and raw payload, and acknowledge them."""
        pipe = self.redis.pipeline()
        self._dead_letter_into(pipe, dead)
        pipe.execute()
        metrics.events_dead_lettered.inc(len(dead))

    def _dead_letter_into(self, pipe: Pipeline, dead: list[Dead], *, ack: bool = True) -> None:
        """Queue the dead letters (and, for stream entries, their acknowledgement) on ``pipe``."""
        for entry_id, reason, raw in dead:
            pipe.xadd(keys.DEAD_LETTERS, {"id": entry_id, "error": reason, "raw": raw[:65536],
                                          "at": self.clock().isoformat()}, maxlen=100_000, approximate=True)
            log.warning("dead-lettered entry %s: %s", entry_id, reason)
        if dead and ack:
            pipe.xack(keys.EVENTS_STREAM, keys.CONSUMER_GROUP, *[d[0] for d in dead])

    # -- timers -------------------------------------------------------------------
    def fire_timers(self) -> int:
        """Fire every due timer once; return how many fired. A timer that cannot fire is dead-lettered and dropped."""
        now = self.clock()
        self.book.refresh()
        fired = 0
        names = timer_names(self.settings)
        for member, ticket, kind_name in store.due_timers(self.redis, now):
            if kind_name not in names or not keys_ok(ticket):
                self.redis.zrem(keys.TIMERS, member)
                continue
            try:
                fired += self._fire_one(member, ticket, kind_name, now)
            except RedisError:
                raise
            except Exception as exc:  # noqa: BLE001 - one timer must never stop the others
                log.exception("%s: cannot fire timer %s", ticket, kind_name)
                pipe = self.redis.pipeline()
                pipe.zrem(keys.TIMERS, member)
                self._dead_letter_into(pipe, [(f"timer:{member}", _internal(f"firing timer {kind_name}", exc),
                                               json.dumps({"timer": member}))], ack=False)
                pipe.execute()
                metrics.events_dead_lettered.inc()
        return fired

    def _fire_one(self, member: str, ticket: str, kind_name: str, now: datetime) -> int:
        """Fire one due timer; 1 if it sent something."""
        if member != keys.timer_member(ticket, kind_name):  # an older release's spelling: rewrite the timers
            self.redis.zrem(keys.TIMERS, member)
            store.commit_one(self.redis, ticket, lambda state: store.Change(state, full_timers=True), self.settings)
            return 0

        def decide(state: HotfixState | None) -> store.Change:
            if state is None:
                return store.Change(None)
            result = fire(state, kind_name, now, self.settings)
            if result is None:  # fired elsewhere or re-armed: just resync the timer set
                return store.Change(state, full_timers=True)
            planned = plan_fired(result, self.settings, now, changes=self.book.get)
            return store.Change(planned.state, planned.jobs, counts=planned.counts)

        change = store.commit_one(self.redis, ticket, decide, self.settings)
        if change.state is None:
            self.redis.zrem(keys.TIMERS, member)
        elif change.jobs:
            log.info("%s: %s timer fired (%d job(s))", ticket, kind_name, len(change.jobs))
            return 1
        return 0


def _raw(fields: dict[Any, Any]) -> str:
    """The event text of a stream entry as it came (all its fields when it has no ``event``), for a dead letter."""
    raw = fields.get(keys.EVENT_FIELD.encode(), fields.get(keys.EVENT_FIELD))
    return as_text(raw) if raw is not None else as_text(fields)


def _internal(doing: str, exc: BaseException) -> str:
    """The reason a dead letter gives for an unexpected exception."""
    return f"internal error while {doing}: {type(exc).__name__}: {str(exc)[:500]}"


def _log(steps: list[Step]) -> list[str]:
    """Log each step; return the types of the events applied."""
    applied = []
    for step in steps:
        if step.outcome is Outcome.DUPLICATE:
            log.debug("%s: event %s already applied", step.event.ticket, step.event.event_id)
            continue
        level = logging.DEBUG if step.event.type is EventType.UPDATED else logging.INFO
        log.log(level, "%s: %s %s (%s)", step.event.ticket, step.event.type.value, step.event.event_id,
                step.outcome.value)
        if step.outcome is Outcome.APPLIED:
            applied.append(step.event.type.value)
    return applied


def keys_ok(ticket: str) -> bool:
    try:
        keys.hotfix(ticket)
    except ValueError:
        return False
    return True
