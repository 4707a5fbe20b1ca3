"""What the intake remembers per alert group or issue, so that re-sends are not pushed again.

One Redis hash per group (``keys.intake_group``): ``state`` is the JSON of what
was last pushed (with its signature ``sig``); ``claim``/``claim_exp`` mark a push
in flight. ``push_once`` reads the state, lets the adapter translate the payload from it, and
pushes only when the translation's signature is new:

1. claim the signature atomically (Lua), provided the state is still what was read;
2. ``producer.push`` the events;
3. confirm: the translation's state replaces the old one and the claim is dropped.

Concurrent copies of one payload see the claim, wait for it to be confirmed,
translate again from the new state and find nothing new: a storm XADDs once. A failed
push releases the claim (or it expires), so a re-send later pushes it: nothing
is remembered that did not reach the stream.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from daemon.intake.errors import Rejected
from daemon.producer import push
from hotfix import keys
from hotfix.connection import as_text
from hotfix.events import Event

log = logging.getLogger(__name__)

#: How long a claim holds before another request may take over (a push takes milliseconds).
CLAIM_TTL_MS = 15_000
#: How long a request waits for another's claim on the same group before answering 503.
CLAIM_WAIT_S = 5.0
#: How long a group is remembered after its last push (longer than any sane repeat_interval).
REMEMBER_S = 30 * 24 * 3600

_CLAIM = """
local cur = redis.call('HGET', KEYS[1], 'state') or ''
if cur ~= ARGV[1] then return 'changed' end
local claim = redis.call('HGET', KEYS[1], 'claim')
local exp = tonumber(redis.call('HGET', KEYS[1], 'claim_exp') or '0')
if claim and exp > tonumber(ARGV[3]) then
  if claim == ARGV[2] then return 'inflight' end
  return 'busy'
end
redis.call('HSET', KEYS[1], 'claim', ARGV[2], 'claim_exp', tonumber(ARGV[3]) + tonumber(ARGV[4]))
return 'claimed'
"""
_CONFIRM = """
if redis.call('HGET', KEYS[1], 'claim') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'state', ARGV[2])
  redis.call('HDEL', KEYS[1], 'claim', 'claim_exp')
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('HGET', KEYS[1], 'claim') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'claim', 'claim_exp')
  return 1
end
return 0
"""


@dataclass
class Translation:
    """What a payload means given what was last pushed for its group."""

    events: list[Event] = field(default_factory=list)
    #: The state to remember once the events are on the stream (must hold ``sig``); None when nothing to push.
    state: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    ticket: str | None = None
    #: True when the payload repeats what was already pushed (a re-send).
    duplicate: bool = False


@dataclass
class PushResult:
    """The answer of one webhook: the ids pushed (empty when nothing new) and notes for the sender."""

    ids: list[str]
    ticket: str | None
    notes: list[str]
    events: list[Event]
    duplicate: bool = False


def push_once(redis: Redis, source: str, group: str, translate: Callable[[dict[str, Any] | None], Translation]) -> PushResult:
    """Translate from the remembered state and push the translation's events unless they were already pushed.

    Raises ``RedisError`` when Redis is unreachable, ``Rejected`` (503) when another
    request keeps the group busy for longer than ``CLAIM_WAIT_S``.
    """
    key = keys.intake_group(source, group)
    claim = redis.register_script(_CLAIM)
    deadline = time.monotonic() + CLAIM_WAIT_S
    pause = 0.005
    while True:
        raw = redis.hget(key, "state")
        text = as_text(raw)
        translation = translate(json.loads(text) if text else None)
        if not translation.events or translation.state is None:
            return PushResult([], translation.ticket, translation.notes, [], translation.duplicate)
        sig = str(translation.state["sig"])
        verdict = claim(keys=[key], args=[text, sig, int(time.time() * 1000), CLAIM_TTL_MS])
        verdict = as_text(verdict)
        if verdict == "claimed":
            return _push_claimed(redis, key, sig, translation)
        if verdict == "changed":
            continue  # someone confirmed in between: translate again at once
        if time.monotonic() > deadline:
            raise Rejected(503, "unavailable", "this group is being updated by another request; retry",
                           headers={"Retry-After": "1"})
        time.sleep(pause)  # another request is pushing this group: wait for its outcome, then translate again
        pause = min(pause * 2, 0.1)


def _push_claimed(redis: Redis, key: str, sig: str, translation: Translation) -> PushResult:
    assert translation.state is not None
    try:
        ids = push(redis, translation.events)
    except RedisError:
        try:
            redis.register_script(_RELEASE)(keys=[key], args=[sig])
        except RedisError:
            log.warning("could not release the claim on %s; it expires in %d ms", key, CLAIM_TTL_MS)
        raise
    try:
        redis.register_script(_CONFIRM)(keys=[key], args=[sig, json.dumps(translation.state), REMEMBER_S])
    except RedisError:
        # The events are on the stream; a re-send will push the same ids again and the daemon dedupes them.
        log.warning("pushed %s but could not remember it; a re-send will be deduplicated by the daemon", key)
    return PushResult(ids, translation.ticket, translation.notes, translation.events)
