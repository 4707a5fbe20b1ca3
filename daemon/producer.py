"""Putting events on the streams: the one write path of the CLI, the HTTP intake and the Python client.

P0 events (one that says P0, and every event of a ticket open at P0) go to the P0 lane, the rest to
``hotfix:events`` (``daemon.lanes``); a ticket's events of one push stay together, in order.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from redis import Redis

from daemon import lanes
from hotfix import keys
from hotfix.connection import as_text
from hotfix.events import Event, dump_event

log = logging.getLogger(__name__)

#: Stream entries kept (approximately) before the oldest are trimmed.
STREAM_MAXLEN = 1_000_000


def push(redis: Redis, events: Iterable[Event]) -> list[str]:
    """XADD each event (already validated, with id and at) to its stream; return the event ids."""
    batch = list(events)
    if not batch:
        return []
    urgent = lanes.urgent_tickets(batch, lanes.known_p0(redis, (e.ticket for e in batch)))
    pipe = redis.pipeline(transaction=False)
    lanes.mark(pipe, sorted(urgent))
    for event in batch:
        pipe.xadd(lanes.stream_for(event, urgent), {keys.EVENT_FIELD: json.dumps(dump_event(event))},
                  maxlen=STREAM_MAXLEN, approximate=True)
    pipe.execute()
    log.info("pushed %d event(s): %s", len(batch), ", ".join(f"{e.type.value} {e.ticket}" for e in batch))
    return [e.event_id for e in batch]


def push_raw(redis: Redis, raw: str) -> str:
    """XADD a payload as it came (the daemon validates and dead-letters it); return the stream entry id."""
    entry = redis.xadd(keys.EVENTS_STREAM, {keys.EVENT_FIELD: raw}, maxlen=STREAM_MAXLEN, approximate=True)
    return as_text(entry)
