"""Timers on the real Redis: reminders, escalations and digests fire once, whoever runs them."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

from daemon import store
from daemon.consumer import Daemon
from daemon.timers import timer_names
from hotfix import keys
from tests.fixtures.herald import CHECKED, event, make_daemon, make_settings, queued, xadd  # noqa: F401

#: The story's start: now (the daemons' clock is frozen and moved by hand from there).
T = datetime.now(timezone.utc).replace(microsecond=0)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T

    def __call__(self) -> datetime:
        return self.now


#: Time boxes off, for the tests of the other timers.
NO_TIME_BOXES = {"triage_within": "0s", "deploy_within": "0s"}


def jobs(redis: Redis) -> list[dict]:
    """The payloads waiting in every queue, bundles unpacked."""
    return queued(redis, *keys.QUEUE_NAMES)


def at(seconds: float) -> str:
    return (T + timedelta(seconds=seconds)).isoformat()


@pytest.fixture
def fast_settings(make_settings):
    """P0: resolve within 20 s, update every 3 s, warn 10 s before; management hears escalations; no time boxes."""
    return make_settings(severity={"P0": {"update_every": "3s", "warn_before": "10s", "resolve_within": "20s",
                                          "remind": ["oncall"], "escalate": ["management"], **NO_TIME_BOXES}})


def run(daemons: list[Daemon], clock: Clock, until: float, step: float = 0.5) -> None:
    """Advance the clock, turning every daemon at each tick."""
    t = (clock.now - T).total_seconds()
    while t <= until:
        clock.now = T + timedelta(seconds=t)
        for daemon in daemons:
            daemon.turn()
        t += step


def test_p0_alone_escalates_once_each_across_two_daemons_and_a_restart(redis: Redis, make_daemon,
                                                                        fast_settings) -> None:
    """Reminder, overdue escalation, at-risk and breach each fire once with two daemons, one restarted midway."""
    clock = Clock()
    a = make_daemon(fast_settings, name="a", clock=clock)
    b = make_daemon(fast_settings, name="b", clock=clock)
    xadd(redis, event("declared", minutes=0, id="d1") | {"at": at(0)})
    run([a, b], clock, until=8)
    a.stopping.set()
    a2 = make_daemon(fast_settings, name="a", clock=clock)  # the restarted daemon
    run([a2, b], clock, until=25)
    state = store.load(redis, "INC-1")
    notices = Counter(e.type for e in state.timeline if e.type in ("reminder", "escalation"))
    assert notices == {"reminder": 1, "escalation": 3}
    causes = Counter((j["message"], j["cause"].split("@")[0]) for j in jobs(redis) if j["message"] != "announcement")
    assert causes == {("reminder", "timer:INC-1:reminder"): 2,  # oncall: Teams + email
                      ("escalation", "timer:INC-1:unanswered"): 1, ("escalation", "timer:INC-1:at_risk"): 1,
                      ("escalation", "timer:INC-1:breached"): 1}
    breach = next(j for j in jobs(redis) if "breached" in j["cause"])
    assert breach["notice"]["propose_rollback"] is True and breach["audience"] == "management"
    assert redis.zrange(keys.TIMERS, 0, -1) == []


def test_update_resets_the_reminder(redis: Redis, make_daemon, fast_settings) -> None:
    """An update at 2 s means no reminder at 3 s, one at 5 s."""
    clock = Clock()
    daemon = make_daemon(fast_settings, clock=clock)
    xadd(redis, event("declared", id="d1") | {"at": at(0)}, event("updated", id="u1", message="on it") | {"at": at(2)})
    run([daemon], clock, until=4.5)
    assert not any(j["message"] == "reminder" for j in jobs(redis))
    run([daemon], clock, until=5.5)
    assert sum(j["message"] == "reminder" for j in jobs(redis)) == 2


def test_resolution_clears_timers(redis: Redis, make_daemon, fast_settings) -> None:
    """After resolution no reminder or escalation fires; only the post-mortem timers remain (before, overdue)."""
    clock = Clock()
    daemon = make_daemon(fast_settings, clock=clock)
    xadd(redis, event("declared", id="d1") | {"at": at(0)}, event("resolved", id="r1", checks=CHECKED) | {"at": at(1)})
    run([daemon], clock, until=30)
    assert {j["message"] for j in jobs(redis)} == {"announcement", "resolution"}
    assert sorted(m.decode() for m in redis.zrange(keys.TIMERS, 0, -1)) == ["INC-1|postmortem",
                                                                           "INC-1|postmortem_overdue"]


def test_timers_moved_by_later_events_keep_their_names(redis: Redis, make_daemon, fast_settings) -> None:
    """Timers rescheduled by events of later batches are stored as ``<ticket>|<name>`` (so they can fire)."""
    clock = Clock()
    daemon = make_daemon(fast_settings, clock=clock)
    for seconds, raw in ((0, event("declared", id="d1")), (1, event("updated", id="u1", message="on it")),
                         (2, event("resolved", id="r1"))):
        xadd(redis, raw | {"at": at(seconds)})
        run([daemon], clock, until=seconds + 0.5)
        members = {m.decode() for m in redis.zrange(keys.TIMERS, 0, -1)}
        assert members <= {f"INC-1|{name}" for name in timer_names(fast_settings)}, members
    assert sorted(m.decode() for m in redis.zrange(keys.TIMERS, 0, -1)) == ["INC-1|postmortem",
                                                                           "INC-1|postmortem_overdue"]


def test_digest_folds_updates_but_never_delays_announcements(redis: Redis, make_daemon, make_settings) -> None:
    """Three updates within an audience's 10 s digest window become one update; the announcement goes at once."""
    settings = make_settings(audiences={"stakeholders": {"digest": "10s"}})
    clock = Clock()
    daemon = make_daemon(settings, clock=clock)
    xadd(redis, event("declared", id="d1") | {"at": at(0)})
    run([daemon], clock, until=0.5)
    assert any(j["message"] == "announcement" and j["audience"] == "stakeholders" for j in jobs(redis))
    xadd(redis, *[event("updated", id=f"u{i}", message=f"step {i}") | {"at": at(1 + i)} for i in range(3)])
    run([daemon], clock, until=9)
    updates = [j for j in jobs(redis) if j["message"] == "update"]
    assert {j["audience"] for j in updates} == {"oncall"}  # not folded: sent at once
    run([daemon], clock, until=12)
    folded = [j for j in jobs(redis) if j["message"] == "update" and j["audience"] == "stakeholders"]
    assert len(folded) == 1
    assert [e["message"] for e in folded[0]["notice"]["digest"]] == ["step 0", "step 1", "step 2"]


def test_resolution_flushes_a_pending_digest_first(redis: Redis, make_daemon, make_settings) -> None:
    """A resolution inside the window sends the folded updates before the resolution."""
    settings = make_settings(audiences={"stakeholders": {"digest": "1h"}})
    clock = Clock()
    daemon = make_daemon(settings, clock=clock)
    xadd(redis, event("declared", id="d1") | {"at": at(0)}, event("updated", id="u1", message="x") | {"at": at(1)},
         event("resolved", id="r1", checks=CHECKED) | {"at": at(2)})
    run([daemon], clock, until=3)
    mine = [j["message"] for j in jobs(redis) if j["audience"] == "stakeholders"]
    assert mine == ["announcement", "update", "resolution"]


@pytest.fixture
def two_severities(make_settings):
    """P2: 24 h, reminded every 4 h; P0: 1 h, reminded every 15 min, warned 15 min before; both escalate to management
    (no time boxes: test_time_boxes_remind_once_each has them)."""
    common = {"remind": ["oncall"], "escalate": ["management"], **NO_TIME_BOXES}
    return make_settings(severity={"P2": {"resolve_within": "24h", "update_every": "4h", "warn_before": "1h", **common},
                                   "P0": {"resolve_within": "1h", "update_every": "15m", "warn_before": "15m", **common}})


def notices(redis: Redis, ticket: str = "INC-1") -> list[tuple[str, str, datetime]]:
    """(type, occurrence, time) of the notices on the timeline."""
    state = store.load(redis, ticket)
    return [(e.type, e.id.split(":", 2)[2].split("@")[0], e.at) for e in state.timeline
            if e.type in ("reminder", "escalation", "postmortem")]


def test_each_timer_follows_its_hotfix_across_batches(redis: Redis, make_daemon, two_severities) -> None:
    """Re-classified, re-planned and resolved in separate batches, each timer fires once, at its new time."""
    clock = Clock()
    daemon = make_daemon(two_severities, clock=clock)
    minute = 60.0
    xadd(redis, event("declared", id="d1", severity="P2") | {"at": at(0)})
    run([daemon], clock, until=0)
    clock.now = T + timedelta(hours=2)  # two hours in, it is a P0 after all: its 1 h deadline is long past
    xadd(redis, event("updated", id="u1", severity="P0") | {"at": at(2 * 3600)})
    daemon.turn()  # one turn: the change, then the escalation
    assert notices(redis) == [("escalation", "breached", T + timedelta(hours=2))]
    breach = [j for j in jobs(redis) if j["message"] == "escalation"]
    assert [j["audience"] for j in breach] == ["management"] and breach[0]["notice"]["propose_rollback"] is True
    xadd(redis, event("updated", id="u2", message="rollback under way") | {"at": at(2 * 3600 + 10 * minute)})
    run([daemon], clock, until=2 * 3600 + 40 * minute, step=minute)  # re-planned: reminder at 2 h 25
    assert notices(redis)[1:] == [("reminder", "reminder", T + timedelta(hours=2, minutes=25)),
                                  ("escalation", "unanswered", T + timedelta(hours=2, minutes=40))]
    postmortem_at = T + timedelta(hours=5)
    xadd(redis, event("resolved", id="r1", postmortem_at=postmortem_at.isoformat()) | {"at": at(2 * 3600 + 41 * minute)})
    run([daemon], clock, until=6 * 3600, step=minute)
    assert notices(redis)[3:] == [("postmortem", "postmortem", T + timedelta(hours=4))]  # 1 h before, once
    assert [m.decode() for m in redis.zrange(keys.TIMERS, 0, -1)] == ["INC-1|postmortem_overdue"]
    xadd(redis, event("postmortem", id="pm1", summary="held") | {"at": at(6 * 3600 + minute)})  # reported held
    run([daemon], clock, until=6 * 3600 + 2 * minute, step=minute)
    assert redis.zrange(keys.TIMERS, 0, -1) == []


def test_a_timer_stored_by_an_older_release_still_fires(redis: Redis, make_daemon, fast_settings) -> None:
    """A member spelled ``INC-1|TimerKind.BREACHED`` (Python 3.11 str() of the kind) is rewritten and fires once."""
    clock = Clock()
    daemon = make_daemon(fast_settings, clock=clock)
    xadd(redis, event("declared", id="d1") | {"at": at(0)})
    run([daemon], clock, until=0)
    redis.delete(keys.TIMERS)
    redis.zadd(keys.TIMERS, {"INC-1|TimerKind.BREACHED": (T + timedelta(seconds=20)).timestamp()})
    run([daemon], clock, until=25)
    [(kind, name, when)] = [n for n in notices(redis) if n[1] == "breached"]
    assert T + timedelta(seconds=20) <= when <= T + timedelta(seconds=21)  # rewritten in one tick, fired the next
    assert b"INC-1|TimerKind.BREACHED" not in redis.zrange(keys.TIMERS, 0, -1)


def test_a_silent_reviewer_is_asked_again_once_across_two_daemons(redis: Redis, make_daemon, make_settings) -> None:
    """Review asked at 1 s, Chloé silent: at 4 s both daemons together ask her once more, by email and in Teams."""
    settings = make_settings(severity={"P0": {"update_every": "3s", "resolve_within": "1h", "remind": ["oncall"]}},
                             people={"Chloé": {"email": "chloe@example.com", "teams": "chloe@example.com"}})
    clock = Clock()
    daemons = [make_daemon(settings, clock=clock, name=f"d{i}") for i in range(2)]
    xadd(redis, {**event("declared", team={"coordinator": "Alice", "reviewer": "Chloé"}), "at": at(0)},
         {**event("updated", phase="review"), "at": at(1)})
    run(daemons, clock, until=3.5)
    before = [j for j in jobs(redis) if j["message"] == "review_request"]
    run(daemons, clock, until=12)
    again = [j for j in jobs(redis) if j["message"] == "review_request" and j not in before]
    assert sorted((j["channel"], j["recipients"][0], j["notice"]["again"]) for j in again) == [
        ("email", "chloe@example.com", True), ("teams", "engineering", True)]
    state = store.load(redis, "INC-1")
    assert state is not None and [e.type for e in state.timeline].count("review_request") == 1


def test_time_boxes_remind_once_each(redis: Redis, make_daemon, make_settings) -> None:
    """Triage and deploy time boxes each remind once, through two daemons, and escalate once when ignored."""
    settings = make_settings(severity={"P0": {"resolve_within": "1h", "remind": ["oncall"], "escalate": ["management"],
                                              "triage_within": "4s", "deploy_within": "5s"}})
    clock = Clock()
    a, b = make_daemon(settings, name="a", clock=clock), make_daemon(settings, name="b", clock=clock)
    xadd(redis, event("declared", id="d1") | {"at": at(0)})
    run([a, b], clock, until=9)
    xadd(redis, event("updated", id="u1", phase="staging") | {"at": at(9.5)})
    run([a, b], clock, until=25)
    assert [(kind, name) for kind, name, _ in notices(redis)] == [
        ("reminder", "triage_box"), ("escalation", "triage_ignored"), ("reminder", "deploy_box"),
        ("escalation", "deploy_ignored")]
    reminded = Counter((j["audience"], j["notice"]["reason"]) for j in jobs(redis) if j["message"] == "reminder")
    assert reminded == {("oncall", "triage_overdue"): 2, ("oncall", "deploy_overdue"): 2}  # Teams + email, once each
