"""The P0 lane and the peek: producers send P0 events to ``hotfix:events:p0``; the daemon takes P0 tickets first."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from redis import Redis

from daemon import lanes, producer, store
from daemon.consumer import Daemon
from hotfix import keys
from hotfix.enums import Severity
from hotfix.events import parse_event
from tests.fixtures.herald import drain, event, make_daemon, make_settings, xadd  # noqa: F401


def on(redis: Redis, stream: str) -> list[tuple[str, str]]:
    """(ticket, type) of every event on one stream, oldest first."""
    return [(json.loads(f[b"event"])["ticket"], json.loads(f[b"event"])["type"]) for _, f in redis.xrange(stream)]


def push(redis: Redis, *events: dict[str, Any]) -> None:
    """What the intake and ``hotfix push`` do."""
    producer.push(redis, [parse_event(e) for e in events])


@pytest.fixture
def commits(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The tickets of each transaction the daemon commits, in order."""
    seen: list[list[str]] = []
    original = store.commit

    def spy(redis: Redis, tickets: list[str], *args: Any, **kwargs: Any) -> Any:
        seen.append(list(tickets))
        return original(redis, tickets, *args, **kwargs)

    monkeypatch.setattr(store, "commit", spy)
    return seen


def storm(count: int, prefix: str = "STORM") -> list[dict[str, Any]]:
    return [event("declared", ticket=f"{prefix}-{i:03d}", severity="P2") for i in range(count)]


def test_producer_sends_p0_events_and_their_followers_to_the_lane(redis: Redis) -> None:
    """A P0 declaration goes to the lane, and so does its next update before any daemon ran; P2 stays public."""
    push(redis, event("declared", ticket="INC-1"), event("declared", ticket="INC-2", severity="P2"))
    push(redis, event("updated", ticket="INC-1", minutes=1, message="on it"),
         event("updated", ticket="INC-2", minutes=1, message="looking"))
    assert on(redis, keys.P0_STREAM) == [("INC-1", "declared"), ("INC-1", "updated")]
    assert on(redis, keys.EVENTS_STREAM) == [("INC-2", "declared"), ("INC-2", "updated")]


def test_a_raise_to_p0_and_the_events_pushed_with_it_go_to_the_lane_in_order(redis: Redis) -> None:
    """One push with an update then a raise to P0 of one ticket puts both on the lane, in their order."""
    push(redis, event("updated", ticket="INC-3", minutes=1, message="worse"),
         event("updated", ticket="INC-3", minutes=2, severity="P0"),
         event("updated", ticket="INC-4", minutes=2, message="fine"))
    assert [e["id"] for e in (json.loads(f[b"event"]) for _, f in redis.xrange(keys.P0_STREAM))] == [
        "INC-3-updated-1", "INC-3-updated-2"]
    assert on(redis, keys.EVENTS_STREAM) == [("INC-4", "updated")]


def test_events_of_a_ticket_open_at_p0_go_to_the_lane(redis: Redis, make_daemon: Callable[..., Daemon]) -> None:
    """A P0 hotfix declared by a third party on hotfix:events gets its next pushed events on the lane."""
    daemon = make_daemon()
    xadd(redis, event("declared", ticket="INC-5"))
    drain(daemon)
    push(redis, event("resolved", ticket="INC-5", minutes=30, root_cause="timeout"))
    assert on(redis, keys.P0_STREAM) == [("INC-5", "resolved")]


def test_daemon_commits_the_lane_before_the_storm(redis: Redis, make_daemon: Callable[..., Daemon],
                                                  commits: list[list[str]]) -> None:
    """With 300 P2 entries waiting on hotfix:events, a P0 pushed after them is the first thing committed."""
    daemon = make_daemon(batch=50, read_ahead=100)
    xadd(redis, *storm(300))
    push(redis, event("declared", ticket="URGENT-1"))
    daemon.turn()
    assert commits[0] == ["URGENT-1"]
    assert store.load(redis, "URGENT-1") is not None
    drain(daemon)
    assert len(store.open_tickets(redis)) == 301
    assert all(redis.xpending(s, keys.CONSUMER_GROUP)["pending"] == 0 for s in keys.EVENT_STREAMS)


def test_a_p0_inside_a_large_read_is_applied_first_with_its_ticket_in_order(
        redis: Redis, make_daemon: Callable[..., Daemon], commits: list[list[str]]) -> None:
    """A raise to P0 XADDed straight to hotfix:events, 90 entries deep, is committed first with its ticket's earlier events, in order."""
    daemon = make_daemon(batch=20, read_ahead=200)
    entries = storm(100)
    entries.insert(10, event("declared", ticket="RAISED", severity="P2"))
    entries.insert(50, event("updated", ticket="RAISED", minutes=1, message="spreading"))
    entries.insert(90, event("updated", ticket="RAISED", minutes=2, severity="P0"))
    xadd(redis, *entries)
    daemon.turn()
    assert commits[0] == ["RAISED"]
    state = store.load(redis, "RAISED")
    assert state is not None and state.severity is Severity.P0
    assert state.applied_ids == ["RAISED-declared-0", "RAISED-updated-1", "RAISED-updated-2"]
    assert all("RAISED" not in tickets for tickets in commits[1:])


def test_the_lane_is_read_again_between_chunks(redis: Redis, make_daemon: Callable[..., Daemon],
                                               commits: list[list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    """A P0 pushed while the daemon works through a large read is committed before the read's next chunk."""
    daemon = make_daemon(batch=25, read_ahead=100)
    xadd(redis, *storm(100))
    spy = store.commit  # the ``commits`` fixture's

    def commit_then_push(redis_: Redis, tickets: list[str], *args: Any, **kwargs: Any) -> Any:
        result = spy(redis_, tickets, *args, **kwargs)
        if len(commits) == 1:
            push(redis, event("declared", ticket="URGENT-2"))
        return result

    monkeypatch.setattr(store, "commit", commit_then_push)
    daemon.turn()
    assert len(commits[0]) == 25 and commits[1] == ["URGENT-2"] and len(commits) == 5


def test_the_lane_is_read_again_while_a_large_read_is_validated(
        redis: Redis, make_daemon: Callable[..., Daemon], commits: list[list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    """A P0 pushed while the daemon validates a large read is committed before the read is even validated."""
    monkeypatch.setattr(lanes, "LANE_EVERY", 50)
    daemon = make_daemon(batch=100, read_ahead=300)
    xadd(redis, *storm(300))
    parse = daemon.parse
    parsed: list[str] = []
    applied_while_validating: list[bool] = []

    def parse_then_push(*args: Any, **kwargs: Any) -> Any:
        parsed.append(args[0])
        if len(parsed) == 10:
            push(redis, event("declared", ticket="URGENT-3"))
        if len(parsed) == 250:
            applied_while_validating.append(store.load(redis, "URGENT-3") is not None)
        return parse(*args, **kwargs)

    monkeypatch.setattr(daemon, "parse", parse_then_push)
    daemon.turn()
    assert applied_while_validating == [True] and commits[0] == ["URGENT-3"]
    assert len(parsed) == 301 and all(len(c) <= 100 for c in commits[1:])


def test_a_read_commits_its_lane_entries_before_validating_the_rest(
        redis: Redis, make_daemon: Callable[..., Daemon], commits: list[list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Lane entries read together with a storm are committed before one storm entry is validated."""
    daemon = make_daemon(batch=100, read_ahead=300)
    xadd(redis, *storm(300))
    push(redis, event("declared", ticket="URGENT-4"))
    parse = daemon.parse
    committed_before: list[bool] = []

    def watch(*args: Any, **kwargs: Any) -> Any:
        if args[2] == keys.EVENTS_STREAM and not committed_before:
            committed_before.append(store.load(redis, "URGENT-4") is not None)
        return parse(*args, **kwargs)

    monkeypatch.setattr(daemon, "parse", watch)
    daemon.turn()
    assert committed_before == [True] and commits[0] == ["URGENT-4"]


def test_lane_entries_left_by_a_dead_consumer_are_reclaimed(redis: Redis, make_daemon: Callable[..., Daemon]) -> None:
    """A lane entry read but never acknowledged by a crashed daemon is applied by another one."""
    make_daemon()  # creates the groups
    push(redis, event("declared", ticket="INC-6"))
    redis.xreadgroup(keys.CONSUMER_GROUP, "crashed", {keys.P0_STREAM: ">"}, count=10)
    drain(make_daemon(claim_idle_ms=0))
    assert store.load(redis, "INC-6") is not None
    assert redis.xpending(keys.P0_STREAM, keys.CONSUMER_GROUP)["pending"] == 0


def test_an_invalid_lane_entry_is_dead_lettered_with_its_stream(redis: Redis, make_daemon: Callable[..., Daemon]) -> None:
    """An unreadable entry on the lane becomes a dead letter naming the lane, and is acknowledged there."""
    daemon = make_daemon()
    redis.xadd(keys.P0_STREAM, {keys.EVENT_FIELD: "{not json"})
    drain(daemon)
    (_, fields), = redis.xrange(keys.DEAD_LETTERS)
    assert fields[b"stream"] == keys.P0_STREAM.encode() and b"JSON" in fields[b"error"]
    assert redis.xpending(keys.P0_STREAM, keys.CONSUMER_GROUP)["pending"] == 0
