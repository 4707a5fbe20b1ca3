"""The daemon's loop: read the event streams in a consumer group, apply, plan, enqueue, acknowledge.

Two streams, one group: the public ``hotfix:events`` and the P0 lane ``hotfix:events:p0``, read
first; within a read, the entries of P0 tickets are committed before the rest (``daemon.lanes``).
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

from daemon import lanes, store
from daemon.deadletters import Dead, entry_text, internal_reason, keep_dead
from daemon.lifecycle import Outcome, Rules, Step, TooManyWaiting, apply
from daemon.planner import plan, plan_fired
from daemon.timers import fire, timer_names
from hotfix import dates, keys, metrics, subscribers
from hotfix.connection import as_text
from hotfix.enums import EventType, Severity
from hotfix.events import Event, InvalidEvent, parse_event
from hotfix.settings import Settings
from hotfix.state import HotfixState

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
#: A valid entry and its event.
Item = tuple[lanes.Entry, Event]


#: The daemon's date window: the doors' (``dates.WINDOW``) and a backlog's grace, so that every event the
#: intake or ``hotfix push`` accepted still passes when the daemon reads it, seconds or days later.
READ_WINDOW = dates.WINDOW + dates.BACKLOG_GRACE


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def rules_of(settings: Settings) -> Rules:
    """The deadlines and post-mortem delays of the configured policies."""
    return Rules(resolve_within=settings.resolve_within(),
                 postmortem_after={s: settings.postmortem_after(s) for s in Severity},
                 postmortem_hours=settings.postmortem.hours(settings.timezone))


def entry_time(entry_id: str) -> datetime:
    """The time Redis gave a stream entry (its id's millisecond part): the intake time."""
    return datetime.fromtimestamp(int(entry_id.split("-")[0]) / 1000, tz=timezone.utc)


class Daemon:
    """One consumer of the ``hotfix-daemons`` group."""

    def __init__(self, redis: Redis, settings: Settings, *, name: str | None = None, batch: int = 250,
                 block_ms: int | None = 1000, claim_idle_ms: int = 30_000, read_ahead: int = lanes.READ_AHEAD,
                 clock: Clock = utcnow) -> None:
        self.redis = redis
        self.settings = settings
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.batch = batch
        #: Lane entries handled so far, also those taken in the middle of another read's work.
        self._lane_taken = 0
        self.read_ahead = max(read_ahead, batch)
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.clock = clock
        self.rules = rules_of(settings)
        self.book = subscribers.Book(redis)
        self.stopping = threading.Event()
        self._last_claim = 0.0

    # -- the loop -----------------------------------------------------------------
    def ensure_group(self) -> None:
        """Create the consumer group (and the streams) if needed: the public stream and the P0 lane."""
        for stream in keys.EVENT_STREAMS:
            try:
                self.redis.xgroup_create(stream, keys.CONSUMER_GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def run(self, *, install_signals: bool = True) -> None:
        """Consume until SIGTERM/SIGINT (or ``stopping`` is set), riding out Redis outages."""
        if install_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stopping.set())
        log.info("daemon %s consuming %s", self.name, " then ".join(reversed(keys.EVENT_STREAMS)))
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
        """One turn: reclaim if due, read both streams (the lane first) and process, fire due timers. Returns entries handled."""
        handled = 0
        if time.monotonic() - self._last_claim > self.claim_idle_ms / 2000:
            handled += self.reclaim()
            self.observe()
            self._last_claim = time.monotonic()
        entries = self._read(keys.EVENT_STREAMS, block=self.block_ms)
        if entries:
            handled += self.process(entries)
        self.fire_timers()
        return handled

    def _read(self, streams: tuple[str, ...], *, block: int | None) -> list[lanes.Entry]:
        """New entries of ``streams`` for this consumer (up to ``read_ahead`` of each)."""
        response = cast("list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]] | None", self.redis.xreadgroup(
            keys.CONSUMER_GROUP, self.name, dict.fromkeys(streams, ">"), count=self.read_ahead, block=block)) or []
        return [lanes.Entry(as_text(stream), as_text(entry_id), fields)
                for stream, batch in response for entry_id, fields in batch]

    def reclaim(self) -> int:
        """Take over entries another consumer left pending too long (on either stream), and process them."""
        handled = 0
        for stream in keys.EVENT_STREAMS:
            start = "0-0"
            while True:
                result = self.redis.xautoclaim(stream, keys.CONSUMER_GROUP, self.name,
                                               min_idle_time=self.claim_idle_ms, start_id=start, count=self.batch)
                start, claimed = as_text(result[0]), result[1]
                entries = []
                for entry_id, fields in claimed:
                    if fields is None:  # deleted from the stream meanwhile
                        self.redis.xack(stream, keys.CONSUMER_GROUP, entry_id)
                    else:
                        entries.append(lanes.Entry(stream, as_text(entry_id), fields))
                if entries:
                    log.warning("reclaimed %d entr(ies) of %s from a stalled consumer", len(entries), stream)
                    handled += self.process(entries)
                if start == "0-0" or not claimed:
                    break
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
    def parse(self, entry_id: str, fields: dict[Any, Any], stream: str = keys.EVENTS_STREAM) -> Event:
        """The event of a stream entry (its id and time fill in a missing ``id`` and ``at``)."""
        raw = fields.get(keys.EVENT_FIELD.encode(), fields.get(keys.EVENT_FIELD))
        if raw is None:
            raise InvalidEvent(f"entry has no {keys.EVENT_FIELD!r} field", as_text(fields))
        default_id = f"x-{entry_id}" if stream == keys.EVENTS_STREAM else f"x-p0-{entry_id}"
        return parse_event(raw if isinstance(raw, (bytes, str)) else str(raw), now=self.clock(),
                           default_id=default_id, default_at=entry_time(entry_id),
                           window=READ_WINDOW)

    def process(self, entries: list[lanes.Entry]) -> int:
        """Commit the read's lane entries, validate the rest, then commit the urgent group (P0 tickets) first and
        the rest in chunks.

        The lane is read again (without blocking) every ``lanes.LANE_EVERY`` entries validated and before each
        chunk of the rest, and its entries go first. Returns the number of entries handled.
        """
        taken, lane_tickets = self._lane_taken, set()
        lane = [entry for entry in entries if entry.stream == keys.P0_STREAM]
        if lane and len(lane) < len(entries):  # before the main stream's entries are even validated
            lane_tickets = {event.ticket for _, event in self._take(lane)}
            entries = [entry for entry in entries if entry.stream != keys.P0_STREAM]
        items, raws = self._validate(entries, lane_checks=True)
        if items:
            known = lanes.known_p0(self.redis, (e.ticket for _, e in items)) | lane_tickets
            first, rest = lanes.split(items, lanes.urgent_tickets((event for _, event in items), known))
            if first:
                self._commit_safely(first, raws)
            for chunk in lanes.chunks(rest, self.batch):
                self._lane_now()
                self._commit_safely(chunk, raws)
        return len(entries) + self._lane_taken - taken

    def _lane_now(self) -> None:
        """Process what arrived on the P0 lane meanwhile (no blocking read)."""
        arrived = self._read((keys.P0_STREAM,), block=None)
        if arrived:
            self._take(arrived)

    def _take(self, lane: list[lanes.Entry]) -> list[Item]:
        """Validate and commit lane entries, in server-clock order; their events."""
        items, raws = self._validate(lane)
        if items:
            self._commit_safely(sorted(items, key=lambda item: item[0].order), raws)
        self._lane_taken += len(lane)
        return items

    def _validate(self, entries: list[lanes.Entry], *, lane_checks: bool = False) -> tuple[list[Item], dict[str, str]]:
        """The events of ``entries``, the invalid ones dead-lettered at once; and every entry's raw text.

        ``lane_checks``: the P0 lane is read and committed every ``lanes.LANE_EVERY`` entries meanwhile.
        """
        items: list[Item] = []
        dead: list[Dead] = []
        raws = {entry.key: entry_text(entry.fields) for entry in entries}
        for number, entry in enumerate(entries, 1):
            if lane_checks and number % lanes.LANE_EVERY == 0:
                self._lane_now()
            try:
                items.append((entry, self.parse(entry.id, entry.fields, entry.stream)))
            except InvalidEvent as exc:
                dead.append((entry, exc.reason, exc.raw))
            except Exception as exc:  # a bug must cost one entry, never the daemon: keep it with the reason
                log.exception("cannot read entry %s", entry.id)
                dead.append((entry, internal_reason("validating", exc), raws[entry.key]))
        if dead:
            self.dead_letter(dead)
        return items, raws

    def _commit_safely(self, items: list[Item], raws: dict[str, str]) -> None:
        """Commit ``items`` in one transaction; if that fails for a reason other than Redis, one by one."""
        try:
            self._commit(items, raws)
        except RedisError:
            raise
        except Exception as exc:
            if len(items) == 1:
                self._dead_after_commit(items[0][0], exc, raws)
                return
            log.warning("a batch of %d entries failed (%s: %s): committing them one by one", len(items),
                        type(exc).__name__, exc)
            for item in items:
                try:
                    self._commit([item], raws)
                except RedisError:
                    raise
                except Exception as one:
                    self._dead_after_commit(item[0], one, raws)

    def _dead_after_commit(self, entry: lanes.Entry, exc: Exception, raws: dict[str, str]) -> None:
        log.error("cannot commit entry %s", entry.id, exc_info=exc)
        self.dead_letter([(entry, internal_reason("committing", exc), raws[entry.key])])

    def _commit(self, items: list[Item], raws: dict[str, str]) -> None:
        """Apply and plan every event, then commit states, jobs, timers, acks and this batch's poison together."""
        now = self.clock()
        self.book.refresh()
        tickets = list(dict.fromkeys(event.ticket for _, event in items))
        applied: list[str] = []
        poisoned: list[Dead] = []

        def decide_all(states: dict[str, HotfixState | None]) -> list[store.Change]:
            applied.clear()
            poisoned.clear()
            changed: dict[str, store.Change] = {}
            for entry, event in items:
                try:
                    steps = apply(states[event.ticket], event, now, self.rules)
                    planned = plan(steps, self.settings, now, changes=self.book.get)
                except TooManyWaiting as exc:  # a bound, not a bug: the reason alone
                    log.warning("%s: entry %s cannot wait: %s", event.ticket, entry.id, exc)
                    poisoned.append((entry, str(exc), raws[entry.key]))
                    continue
                except Exception as exc:  # pure code failed on this event: it alone is dead-lettered
                    log.exception("%s: cannot apply entry %s", event.ticket, entry.id)
                    poisoned.append((entry, internal_reason("applying", exc), raws[entry.key]))
                    continue
                applied.extend(_log(steps))
                if planned.state is not None:
                    states[event.ticket] = planned.state
                    previous = changed.get(event.ticket)
                    changed[event.ticket] = store.Change(planned.state, (previous.jobs if previous else []) + planned.jobs,
                                                         counts=(previous.counts if previous else []) + planned.counts)
            return list(changed.values())

        def extra(pipe: Pipeline) -> None:
            bad = {entry.key for entry, _reason, _raw in poisoned}
            lanes.ack(pipe, [entry for entry, _ in items if entry.key not in bad])
            self._dead_letter_into(pipe, poisoned)

        store.commit(self.redis, tickets, decide_all, self.settings, extra=extra)
        for type_ in applied:  # counted once the transaction went through, not per attempt
            metrics.events_applied.labels(type=type_).inc()
        if poisoned:
            metrics.events_dead_lettered.inc(len(poisoned))
        log.info("applied %d of %d event(s) to %d hotfix(es)", len(applied), len(items), len(tickets))

    def dead_letter(self, dead: list[Dead]) -> None:
        """Keep invalid entries with their reason and raw payload, and acknowledge them."""
        pipe = self.redis.pipeline()
        self._dead_letter_into(pipe, dead)
        pipe.execute()
        metrics.events_dead_lettered.inc(len(dead))

    def _dead_letter_into(self, pipe: Pipeline, dead: list[Dead], *, ack: bool = True) -> None:
        """Queue the dead letters (and, for stream entries, their acknowledgement) on ``pipe``."""
        keep_dead(pipe, dead, self.clock())
        if ack:
            lanes.ack(pipe, [entry for entry, _reason, _raw in dead])

    # -- timers -------------------------------------------------------------------
    def fire_timers(self) -> int:
        """Fire every due timer once; return how many fired. A timer that cannot fire is dead-lettered and dropped."""
        now = self.clock()
        self.book.refresh()
        fired = 0
        names = timer_names(self.settings)
        for member, ticket, kind_name in store.due_timers(self.redis, now):
            if kind_name not in names or not keys.valid_ticket(ticket):
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
                timer = lanes.Entry("", f"timer:{member}", {})
                self._dead_letter_into(pipe, [(timer, internal_reason(f"firing timer {kind_name}", exc),
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

