"""Which events go first: the P0 lane, and the peek into a large read of ``hotfix:events``.

``hotfix:events`` (``keys.EVENTS_STREAM``) stays the public entry: anyone may XADD to it. The producers
that go through Herald (the HTTP intake, ``hotfix push``, the Python client: ``daemon.producer.push``)
also know the P0 lane, ``keys.P0_STREAM`` (internal): an event that says ``severity: P0`` (a P0
declaration, a raise to P0) and every event of a ticket open at P0 goes there, so that it never queues
behind a storm of P2 entries; the producer marks such a ticket (``keys.lane_mark``) so that its next
events follow it to the lane even before a daemon has applied the first. Daemons read both streams
in the one consumer group, the lane first.

Invariants kept here:

- a read is split into two groups: *urgent* (every lane entry, and every main-stream entry of an urgent
  ticket: one whose events in the read say P0, or that is open at P0) and *the rest*; the urgent group is
  committed first, so a P0 written straight to ``hotfix:events`` by a third party is applied ahead of the
  storm it sits in (as far as the read reaches: ``READ_AHEAD`` entries);
- a ticket's entries of one read are never split between the groups, and keep their stream order (across
  the two streams, the order of the Redis server's clock in the entry ids); the state machine keeps the
  timeline in ``at`` order whatever the arrival order, so an event that jumped ahead of its ticket's older
  entries still in the backlog changes nothing it should not;
- a read's lane entries are committed before the main stream's entries are validated; while those are
  validated the lane is read again every ``LANE_EVERY`` entries, and the rest is committed in chunks with
  the lane read again (without blocking) before each chunk: a P0 waits for one slice of work, never for a
  whole read of ``READ_AHEAD`` entries.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.client import Pipeline

from hotfix import keys
from hotfix.enums import Severity
from hotfix.events import Event

#: Entries read from each stream per turn: a P0 among them is applied before the others.
READ_AHEAD = 1000
#: While a read of ``hotfix:events`` is validated, the lane is read again every this many entries.
LANE_EVERY = 200
#: How long a producer remembers that a ticket goes to the lane (longer than any daemon lag; then ``open:P0`` says it).
MARK_TTL = 3600


@dataclass(frozen=True)
class Entry:
    """One stream entry as read: its stream, its id, its fields."""

    stream: str
    id: str
    fields: dict[Any, Any]

    @property
    def key(self) -> str:
        """The entry's key among those of one read (ids may repeat across the two streams)."""
        return f"{self.stream}|{self.id}"

    @property
    def order(self) -> tuple[int, int]:
        """The entry id as numbers (milliseconds of the server's clock, sequence): comparable across streams."""
        ms, _, seq = self.id.partition("-")
        return int(ms), int(seq or 0)


def says_p0(event: Event) -> bool:
    """Whether the event itself puts its hotfix at P0 (a P0 declaration, a raise to P0)."""
    return getattr(event, "severity", None) is Severity.P0


def known_p0(redis: Redis, tickets: Iterable[str]) -> set[str]:
    """The tickets among ``tickets`` open at P0, or sent to the lane lately by a producer (one round trip)."""
    wanted = list(dict.fromkeys(tickets))
    if not wanted:
        return set()
    pipe = redis.pipeline(transaction=False)
    pipe.smismember(keys.open_by_severity(Severity.P0.value), wanted)
    pipe.mget([keys.lane_mark(t) for t in wanted])
    open_flags, marks = pipe.execute()
    return {ticket for ticket, flag, mark in zip(wanted, open_flags, marks, strict=True) if flag or mark}


def mark(pipe: Pipeline, tickets: Iterable[str]) -> None:
    """Remember for ``MARK_TTL`` that these tickets go to the lane: their next events follow, before the daemon applied the first."""
    for ticket in tickets:
        pipe.set(keys.lane_mark(ticket), "1", ex=MARK_TTL)


def urgent_tickets(events: Iterable[Event], known_p0: set[str]) -> set[str]:
    """Tickets to take first: those an event of ``events`` puts at P0, and those already open at P0."""
    return {e.ticket for e in events if says_p0(e)} | known_p0


def stream_for(event: Event, urgent: set[str]) -> str:
    """Where a producer writes ``event``: the P0 lane for an urgent ticket, else the public stream."""
    return keys.P0_STREAM if event.ticket in urgent else keys.EVENTS_STREAM


def split(items: list[tuple[Entry, Event]], urgent: set[str]) -> tuple[list[tuple[Entry, Event]], list[tuple[Entry, Event]]]:
    """(urgent group, in server-clock order; the rest, in stream order): every lane entry and every entry of an urgent ticket first."""
    urgent = urgent | {event.ticket for entry, event in items if entry.stream == keys.P0_STREAM}
    first = [item for item in items if item[1].ticket in urgent]
    taken = {id(item) for item in first}
    rest = [item for item in items if id(item) not in taken]
    first.sort(key=lambda item: item[0].order)
    return first, rest


def ack(pipe: Pipeline, entries: Iterable[Entry]) -> None:
    """Queue the XACK of ``entries``, each on its stream."""
    by_stream: dict[str, list[str]] = {}
    for entry in entries:
        by_stream.setdefault(entry.stream, []).append(entry.id)
    for stream, ids in by_stream.items():
        pipe.xack(stream, keys.CONSUMER_GROUP, *ids)


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    """``items`` cut into lists of at most ``size``."""
    return [items[i:i + size] for i in range(0, len(items), max(1, size))]
