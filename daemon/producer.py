"""Putting events on the stream: the one write path of the CLI, the HTTP intake and the Python client."""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from redis import Redis

from hotfix import keys
from hotfix.connection import as_text
from hotfix.events import Event, dump_event

log = logging.getLogger(__name__)

#: Stream entries kept (approximately) before the oldest are trimmed.
STREAM_MAXLEN = 1_000_000


def push(redis: Redis, events: Iterable[Event]) -> list[str]:
    """XADD each event (already validated, with id and at) in one round trip; return the event ids."""
    batch = list(events)
    if not batch:
        return []
    pipe = redis.pipeline(transaction=False)
    for event in batch:
        pipe.xadd(keys.EVENTS_STREAM, {keys.EVENT_FIELD: json.dumps(dump_event(event))},
                  maxlen=STREAM_MAXLEN, approximate=True)
    pipe.execute()
    log.info("pushed %d event(s): %s", len(batch), ", ".join(f"{e.type.value} {e.ticket}" for e in batch))
    return [e.event_id for e in batch]


def push_raw(redis: Redis, raw: str) -> str:
    """XADD a payload as it came (the daemon validates and dead-letters it); return the stream entry id."""
    entry = redis.xadd(keys.EVENTS_STREAM, {keys.EVENT_FIELD: raw}, maxlen=STREAM_MAXLEN, approximate=True)
    return as_text(entry)
