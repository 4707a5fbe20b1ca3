"""The daemon on the real Redis: consumer group, dedupe, dead letters, reclaim, concurrency."""
from __future__ import annotations

import json
import threading

import pytest
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

from daemon import store
from hotfix import jobs as dispatch
from hotfix import keys
from hotfix.enums import Status
from tests.fixtures.herald import drain, event, make_daemon, make_settings, queued, xadd  # noqa: F401
from tests.fixtures.processes import wait_until


def test_declaration_stores_state_and_enqueues_announcements(redis: Redis, make_daemon) -> None:
    """A P0 declaration is stored, acknowledged, and enqueues one job per audience channel batch on hotfix-p0."""
    daemon = make_daemon()
    xadd(redis, event("declared"))
    drain(daemon)
    state = store.load(redis, "INC-1")
    assert state is not None and state.status is Status.OPEN
    jobs = queued(redis)
    assert sorted((j["message"], j["audience"], j["channel"]) for j in jobs) == [
        ("announcement", "management", "email"), ("announcement", "oncall", "email"),
        ("announcement", "oncall", "teams"), ("announcement", "stakeholders", "email")]
    assert {j["locale"] for j in jobs if j["audience"] == "stakeholders"} == {"en"}
    assert redis.xpending(keys.EVENTS_STREAM, keys.CONSUMER_GROUP)["pending"] == 0
    assert queued(redis, "hotfix-p2") == []


def test_same_event_id_twice_enqueues_nothing_new(redis: Redis, make_daemon) -> None:
    """Pushing the same event id again changes nothing and enqueues no job."""
    daemon = make_daemon()
    xadd(redis, event("declared"))
    drain(daemon)
    before = len(queued(redis))
    version = store.load(redis, "INC-1").version
    xadd(redis, event("declared"))
    drain(daemon)
    assert len(queued(redis)) == before
    assert store.load(redis, "INC-1").version == version


def test_malformed_event_is_dead_lettered_and_daemon_goes_on(redis: Redis, make_daemon) -> None:
    """Invalid JSON and an unknown severity go to the dead letters with their reason; later events still apply."""
    daemon = make_daemon()
    xadd(redis, "{not json", event("declared", severity="P9"), event("declared", ticket="INC-2"))
    drain(daemon)
    dead = redis.xrange(keys.DEAD_LETTERS)
    errors = [fields[b"error"].decode() for _, fields in dead]
    assert len(dead) == 2
    assert "not valid JSON" in errors[0]
    assert "severity" in errors[1]
    assert dead[0][1][b"raw"] == b"{not json"
    assert store.load(redis, "INC-2") is not None
    assert redis.xpending(keys.EVENTS_STREAM, keys.CONSUMER_GROUP)["pending"] == 0


def test_pending_entries_of_a_dead_consumer_are_reclaimed(redis: Redis, make_daemon) -> None:
    """An entry read but never acknowledged by a crashed consumer is processed by another one."""
    xadd(redis, event("declared"))
    make_daemon()  # creates the group
    redis.xreadgroup(keys.CONSUMER_GROUP, "crashed", {keys.EVENTS_STREAM: ">"}, count=10)
    survivor = make_daemon(claim_idle_ms=0)
    drain(survivor)
    assert store.load(redis, "INC-1") is not None
    assert redis.xpending(keys.EVENTS_STREAM, keys.CONSUMER_GROUP)["pending"] == 0


def test_update_before_declaration_is_applied_after_it(redis: Redis, make_daemon) -> None:
    """An update taken before its declaration is kept, then applied; its job waits on the announcement jobs."""
    daemon = make_daemon()
    xadd(redis, event("updated", minutes=5, phase="fix", message="on it"))
    drain(daemon)
    assert queued(redis) == []
    xadd(redis, event("declared"))
    drain(daemon)
    jobs = queued(redis)
    announcements = {j["job_key"] for j in jobs if j["message"] == "announcement"}
    updates = [j for j in jobs if j["message"] == "update"]
    assert updates and all(set(j["after"]) == announcements for j in updates)
    assert store.load(redis, "INC-1").phase.value == "fix"


def test_two_daemons_apply_each_event_exactly_once(redis: Redis, make_daemon) -> None:
    """Two daemons consuming one stream concurrently apply 200 updates of one ticket once each."""
    xadd(redis, event("declared"))
    xadd(redis, *[event("updated", minutes=1 + i / 100, message=f"u{i}") for i in range(200)])
    a, b = make_daemon(name="a"), make_daemon(name="b")
    threads = [threading.Thread(target=drain, args=(d,)) for d in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    state = store.load(redis, "INC-1")
    assert len(state.applied_ids) == 201 == len(set(state.applied_ids))
    applied = [e for e in state.timeline if e.type in ("declared", "updated")]
    assert len(applied) == 201
    assert [e.at for e in state.timeline] == sorted(e.at for e in state.timeline)


def test_crash_before_commit_leaves_nothing_and_redelivery_does_everything(
        redis: Redis, make_daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    """A daemon dying while committing writes nothing; the reclaimed entry is then applied and enqueued once."""
    daemon = make_daemon(claim_idle_ms=0)
    xadd(redis, event("declared"))

    def crash(*_args, **_kwargs):
        raise SystemExit("daemon killed")

    monkeypatch.setattr(store, "enqueue_in", crash)
    with pytest.raises(SystemExit):
        drain(daemon)
    assert queued(redis) == [] and store.load(redis, "INC-1") is None
    assert redis.xpending(keys.EVENTS_STREAM, keys.CONSUMER_GROUP)["pending"] == 1
    monkeypatch.setattr(store, "enqueue_in", dispatch.enqueue_in)
    drain(daemon)
    drain(daemon)
    assert len(queued(redis)) == 4
    assert redis.xpending(keys.EVENTS_STREAM, keys.CONSUMER_GROUP)["pending"] == 0


def test_ticket_cannot_escape_key_prefix() -> None:
    """A ticket with separators or wildcards is refused before it reaches a key."""
    for bad in ["../x", "a:b", "a*", "", "x" * 65]:
        with pytest.raises(ValueError):
            keys.hotfix(bad)


def test_dead_letter_replay_puts_event_back(redis: Redis, make_daemon) -> None:
    """Replaying a dead letter puts its raw payload back on the stream and removes it from the dead letters."""
    from daemon.deadletters import list_dead, replay_event

    daemon = make_daemon()
    xadd(redis, json.dumps({"type": "declared", "ticket": "INC-9"}))
    drain(daemon)
    rows = list_dead(redis, keys.DEAD_LETTERS)
    assert len(rows) == 1 and "title" in rows[0]["error"]
    assert replay_event(redis, rows[0]["id"])
    assert list_dead(redis, keys.DEAD_LETTERS) == []
    drain(daemon)
    assert len(list_dead(redis, keys.DEAD_LETTERS)) == 1  # still invalid: back with its reason, never lost


def test_metrics_count_applied_and_dead_lettered_events(redis: Redis, make_daemon) -> None:
    """Applied events and dead letters are counted once each in the Prometheus metrics."""
    from hotfix import metrics

    def value(metric, **labels) -> float:
        return metric.labels(**labels)._value.get() if labels else metric._value.get()

    daemon = make_daemon()
    applied, dead = value(metrics.events_applied, type="declared"), value(metrics.events_dead_lettered)
    xadd(redis, event("declared"), "{oops")
    drain(daemon)
    assert value(metrics.events_applied, type="declared") == applied + 1
    assert value(metrics.events_dead_lettered) == dead + 1
    daemon.observe()
    assert metrics.open_hotfixes.labels(severity="P0")._value.get() == 1
    assert metrics.queue_depth.labels(queue="hotfix-p0")._value.get() == 4


def dead_letters(redis: Redis) -> dict[str, str]:
    """Dead letters as {entry id: error}."""
    return {f[b"id"].decode(): f[b"error"].decode() for _, f in redis.xrange(keys.DEAD_LETTERS)}


def test_an_event_that_cannot_be_applied_costs_only_itself(redis: Redis, make_daemon, monkeypatch) -> None:
    """An entry whose planning raises is dead-lettered with the exception; its neighbours apply; all are acknowledged."""
    import daemon.consumer

    real_plan = daemon.consumer.plan

    def plan(steps, settings, now, **kwargs):
        if steps[0].event.ticket == "BAD-1":
            raise OverflowError("date value out of range")
        return real_plan(steps, settings, now, **kwargs)

    monkeypatch.setattr(daemon.consumer, "plan", plan)
    d = make_daemon()
    [_ok, bad, _ok2] = xadd(redis, event("declared", ticket="OK-1"), event("declared", ticket="BAD-1"),
                            event("declared", ticket="OK-2"))
    drain(d)
    assert dead_letters(redis) == {bad: "internal error while applying: OverflowError: date value out of range"}
    assert {j["ticket"] for j in queued(redis) if j["message"] == "announcement"} == {"OK-1", "OK-2"}
    assert store.load(redis, "BAD-1") is None
    assert redis.xpending(keys.EVENTS_STREAM, keys.CONSUMER_GROUP)["pending"] == 0


def test_a_batch_that_cannot_be_committed_is_retried_entry_by_entry(redis: Redis, make_daemon) -> None:
    """A stored state nobody can read fails its batch's commit: that entry is dead-lettered, the others are applied."""
    redis.set(keys.hotfix("BAD-2"), b"{this is not a state")
    d = make_daemon()
    [_ok, bad, _ok2] = xadd(redis, event("declared", ticket="OK-1"), event("updated", ticket="BAD-2", message="x"),
                            event("declared", ticket="OK-2"))
    drain(d)
    errors = dead_letters(redis)
    assert list(errors) == [bad] and errors[bad].startswith("internal error while committing: ValidationError")
    assert store.load(redis, "OK-1") is not None and store.load(redis, "OK-2") is not None
    assert redis.xpending(keys.EVENTS_STREAM, keys.CONSUMER_GROUP)["pending"] == 0


def test_a_timer_that_cannot_fire_is_dead_lettered_and_others_fire(redis: Redis, make_daemon) -> None:
    """A due timer of an unreadable state is dropped to the dead letters; the daemon's next turns go on."""
    d = make_daemon()
    xadd(redis, event("declared", ticket="OK-1"))
    drain(d)
    redis.set(keys.hotfix("BAD-3"), b"[]")
    redis.zadd(keys.TIMERS, {keys.timer_member("BAD-3", "breached"): 1.0})
    drain(d)
    assert list(dead_letters(redis)) == ["timer:BAD-3|breached"]
    assert redis.zscore(keys.TIMERS, keys.timer_member("BAD-3", "breached")) is None
    xadd(redis, event("updated", ticket="OK-1", message="still alive"))
    drain(d)
    assert store.load(redis, "OK-1").message == "still alive"


def test_run_survives_a_failing_turn(redis: Redis, make_daemon, monkeypatch) -> None:
    """An unexpected exception outside any entry is logged; ``run`` goes on and applies the next events."""
    d = make_daemon(block_ms=100)
    calls = {"n": 0}
    real_observe = d.observe

    def observe() -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug in the gauges")
        real_observe()

    monkeypatch.setattr(d, "observe", observe)
    thread = threading.Thread(target=d.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    xadd(redis, event("declared", ticket="OK-9"))
    wait_until(lambda: store.load(redis, "OK-9") is not None, timeout=15, message="the event applied after the failure")
    d.stopping.set()
    thread.join(5)
    assert calls["n"] >= 1 and not thread.is_alive()


def test_a_direct_xadd_out_of_the_window_is_dead_lettered_naming_the_field(redis: Redis, make_daemon) -> None:
    """An event put straight on the stream with ``eta`` in year 9999 is dead-lettered naming ``eta``; its neighbour applies."""
    d = make_daemon()
    [bad, _ok] = xadd(redis, event("declared", ticket="BAD-1", eta="9999-12-31T23:30:00Z"), event("declared", ticket="OK-1"))
    drain(d)
    assert dead_letters(redis)[bad].startswith("eta: too far in the future")
    assert store.load(redis, "OK-1") is not None and store.load(redis, "BAD-1") is None


@pytest.mark.parametrize(("raw", "error"), [
    ("[" * 5000 + "]" * 5000, "event: nested deeper than 64 levels"),
    ('{"type": "declared", "ticket": "X", "n": ' + "1" * 5000 + "}", "event: a number of 5000 characters"),
    (b'{"type": "declared", "ticket": "\xff"}', "event: not UTF-8 text"),
])
def test_hostile_json_on_the_stream_is_dead_lettered(redis: Redis, make_daemon, raw: str | bytes, error: str) -> None:
    """Deep nesting, a huge number or invalid UTF-8 put straight on the stream is a dead letter, and the daemon goes on."""
    d = make_daemon()
    entry = redis.xadd(keys.EVENTS_STREAM, {keys.EVENT_FIELD: raw}).decode()
    xadd(redis, event("declared", ticket="OK-1"))
    drain(d)
    assert dead_letters(redis)[entry].startswith(error)
    assert store.load(redis, "OK-1") is not None


def test_events_waiting_on_a_ticket_are_bounded(redis: Redis, make_daemon) -> None:
    """Attack: 1 MB post-mortems sent to an open hotfix all waited in its state (30 made it 33 MB, reloaded and
    rewritten by every event; ~520 would pass Redis's 512 MB value limit and stop the desk). Past
    WAITING_CHARS_MAX characters (or WAITING_EVENTS_MAX events) one more is dead-lettered with the reason."""
    d = make_daemon()
    xadd(redis, event("declared", ticket="PM-1"))
    big = [event("postmortem", ticket="PM-1", minutes=i, summary=f"report {i} " + "x" * 1_000_000) for i in range(5)]
    ids = xadd(redis, *big)
    drain(d)
    (reason,) = dead_letters(redis).values()
    assert list(dead_letters(redis)) == [ids[4]]
    assert reason.startswith("PM-1: the events waiting for its resolution or a rollback would hold 5,000,")
    assert reason.endswith(" characters (at most 4,194,304)")
    assert len(store.load(redis, "PM-1").pending) == 4
    small = xadd(redis, *[event("updated", ticket="EARLY-1", minutes=i, message="early") for i in range(101)])
    drain(d)
    assert dead_letters(redis)[small[100]] == "EARLY-1: 100 events already wait for its declaration (at most 100)"
    xadd(redis, event("resolved", ticket="PM-1", minutes=10))
    drain(d)
    state = store.load(redis, "PM-1")
    assert state.pending == [] and state.postmortem is not None and state.postmortem.summary.startswith("report 3 ")
    assert redis.xpending(keys.EVENTS_STREAM, keys.CONSUMER_GROUP)["pending"] == 0
