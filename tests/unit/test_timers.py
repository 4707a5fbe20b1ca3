"""The pure timer schedule: reminders, escalations and post-mortem, with an injected clock."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from daemon.lifecycle import Rules, apply
from daemon.timers import TimerKind, fire, schedule
from hotfix import keys
from hotfix.enums import Severity
from hotfix.events import parse_event
from hotfix.settings import Settings
from hotfix.state import HotfixState
from tests.fixtures.clock import frozen_at

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
#: Every wall clock stands at T0 in each test: the dates written here hold on any day.
frozen_clock = frozen_at(T0)


@pytest.fixture
def settings() -> Settings:
    """P0: 20 s deadline, update every 3 s, warn 10 s before; the coordinator has an address."""
    return Settings(
        audiences={"oncall": {"emails": ["oncall@example.com"]}, "management": {"emails": ["boss@example.com"]}},
        severity={"P0": {"resolve_within": "20s", "announce": ["oncall"], "updates": ["oncall"],
                         "resolution": ["oncall"], "update_every": "3s", "remind": ["oncall"],
                         "warn_before": "10s", "escalate": ["management"]}},
        people={"Alice": {"email": "alice@example.com"}},
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def state_after(*events: dict[str, Any]) -> HotfixState:
    rules = Rules(resolve_within={s: timedelta(seconds=20) for s in Severity})
    state = None
    for data in events:
        state = apply(state, parse_event({"ticket": "INC-1", **data}, now=T0), T0, rules)[-1].after
    assert state is not None
    return state


DECLARED = {"type": "declared", "id": "d", "title": "Down", "severity": "P0", "at": T0.isoformat(),
            "team": {"coordinator": "Alice"}}


def run_clock(state: HotfixState, settings: Settings, until: float, step: float = 0.5) -> list[tuple[float, str, set]]:
    """Advance a fake clock, firing whatever is due; return (time, kind, audiences) of each notice."""
    fired = []
    t = 0.0
    while t <= until:
        for kind in TimerKind:
            result = fire(state, kind, at(t), settings)
            if result is not None:
                state = result.state
                fired.append((t, kind.value, {d.audience for d in result.deliveries}))
        t += step
    return fired


def test_p0_left_alone_reminds_escalates_warns_and_breaches_once_each(settings: Settings) -> None:
    """With no update: reminder at 3 s, escalation at 6 s, at-risk at 10 s, breach at 20 s — each once."""
    fired = run_clock(state_after(DECLARED), settings, until=30)
    assert [(t, k) for t, k, _ in fired] == [(3.0, "reminder"), (6.0, "unanswered"), (10.0, "at_risk"),
                                            (20.0, "breached")]
    assert fired[0][2] == {"oncall", "coordinator:Alice"}
    assert fired[1][2] == {"management"} and fired[3][2] == {"management"}


def test_update_resets_the_reminder(settings: Settings) -> None:
    """An update at 2 s moves the reminder to 5 s."""
    state = state_after(DECLARED, {"type": "updated", "id": "u", "at": at(2).isoformat(), "message": "on it"})
    due = schedule(state, settings.policy(state.severity))
    assert due[TimerKind.REMINDER] == at(5)
    assert due[TimerKind.UNANSWERED] == at(8)


def test_p0_at_risk_already_proposes_rollback(settings: Settings) -> None:
    """"P0 sans fix possible rapide → rollback": the at-risk escalation of a P0 proposes it, before the breach."""
    result = fire(state_after(DECLARED), TimerKind.AT_RISK, at(10), settings)
    assert result is not None and result.deliveries[0].notice is not None
    assert result.deliveries[0].notice["propose_rollback"] is True


def test_breach_of_a_p0_proposes_rollback(settings: Settings) -> None:
    """The breach escalation of a P0 carries propose_rollback."""
    result = fire(state_after(DECLARED), TimerKind.BREACHED, at(21), settings)
    assert result is not None
    assert result.deliveries[0].notice == {"reason": "deadline_breached", "time_left": -1, "propose_rollback": True}


def test_resolution_clears_timers_and_arms_postmortem(settings: Settings) -> None:
    """After resolution only the post-mortem reminders are scheduled: an hour before it, and a day after it
    in case no postmortem event reports it held."""
    pm = at(3600 * 48)
    state = state_after(DECLARED, {"type": "resolved", "id": "r", "at": at(5).isoformat(),
                                   "postmortem_at": pm.isoformat()})
    assert schedule(state, settings.policy(state.severity)) == {TimerKind.POSTMORTEM: pm - timedelta(hours=1),
                                                                TimerKind.POSTMORTEM_OVERDUE: pm + timedelta(days=1)}


def test_cancellation_clears_every_timer(settings: Settings) -> None:
    """A cancelled hotfix has no timer left."""
    state = state_after(DECLARED, {"type": "cancelled", "id": "c", "at": at(1).isoformat()})
    assert schedule(state, settings.policy(state.severity)) == {}


def test_rollback_keeps_reminders_and_deadline_escalations(settings: Settings) -> None:
    """After a rollback that did not restore the service, reminders and deadline escalations go on."""
    state = state_after(DECLARED, {"type": "rolled_back", "id": "rb", "at": at(1).isoformat()})
    fired = [k for _, k, _ in run_clock(state, settings, until=30)]
    assert fired == ["reminder", "unanswered", "at_risk", "breached"]


def test_restored_service_stops_deadline_escalations_not_reminders(settings: Settings) -> None:
    """A rollback with service_restored stops the deadline escalations; update reminders go on."""
    state = state_after(DECLARED, {"type": "rolled_back", "id": "rb", "at": at(1).isoformat(),
                                   "service_restored": True})
    due = schedule(state, settings.policy(state.severity))
    assert TimerKind.AT_RISK not in due and TimerKind.BREACHED not in due
    assert due[TimerKind.REMINDER] == at(4) and TimerKind.POSTMORTEM in due


def test_not_due_yet_fires_nothing(settings: Settings) -> None:
    """A timer asked to fire early does nothing."""
    assert fire(state_after(DECLARED), TimerKind.REMINDER, at(2.9), settings) is None


def test_fired_notice_is_in_the_timeline(settings: Settings) -> None:
    """A fired reminder adds a timeline entry of type reminder."""
    result = fire(state_after(DECLARED), TimerKind.REMINDER, at(3), settings)
    assert result is not None and result.state.timeline[-1].type == "reminder"


@pytest.mark.parametrize(("name", "member"), [(TimerKind.BREACHED, "INC-1|breached"), ("reminder", "INC-1|reminder"),
                                              ("digest:stakeholders", "INC-1|digest:stakeholders")])
def test_timer_member_is_spelled_by_value(name: TimerKind | str, member: str) -> None:
    """A timer kind is stored by its value (never ``TimerKind.BREACHED``), and reads back as that value."""
    assert keys.timer_member("INC-1", name) == member
    assert keys.parse_timer_member(member.encode()) == ("INC-1", member.split("|", 1)[1])


def test_timer_member_of_an_older_release_reads_as_its_value() -> None:
    """``INC-1|TimerKind.AT_RISK``, as Python 3.11+ wrote it, reads as ``at_risk``."""
    assert keys.parse_timer_member("INC-1|TimerKind.AT_RISK") == ("INC-1", "at_risk")


def test_schedule_names_are_plain_strings(settings: Settings) -> None:
    """Timer names out of ``schedule`` are ``str``, not the enum, so no caller can spell them wrong."""
    due = schedule(state_after(DECLARED), settings.policy(Severity.P0))
    assert due and all(type(name) is str for name in due)


def test_at_risk_found_after_the_deadline_is_silent(settings: Settings) -> None:
    """An at-risk warning due before a deadline already passed is recorded once but sends nothing."""
    result = fire(state_after(DECLARED), TimerKind.AT_RISK, at(25), settings)
    assert result is not None and result.deliveries == [] and result.state.timeline[-1].type == "declared"
    assert fire(result.state, TimerKind.AT_RISK, at(26), settings) is None


def reviewer_settings(settings: Settings, prompts: list[str] | None = None) -> Settings:
    """The settings above, with Chloé the reviewer in [people] (and optionally other prompts)."""
    data = settings.model_dump(mode="json")
    data["people"]["Chloé"] = {"email": "chloe@example.com"}
    if prompts is not None:
        data["severity"]["P0"]["prompts"] = prompts
    return Settings(**data)


IN_REVIEW = [{**DECLARED, "team": {"coordinator": "Alice", "reviewer": "Chloé"}},
             {"type": "updated", "id": "r", "at": at(1).isoformat(), "phase": "review"}]


def test_a_silent_reviewer_is_asked_once_more_after_update_every(settings: Settings) -> None:
    """Review asked at 1 s, nothing from Chloé: at 4 s (update_every 3 s) she gets the review request again, once."""
    settings = reviewer_settings(settings)
    state = state_after(*IN_REVIEW)
    assert schedule(state, settings.policy(state.severity))[TimerKind.REVIEW_PENDING.value] == at(4)
    assert fire(state, TimerKind.REVIEW_PENDING, at(3.9), settings) is None
    result = fire(state, TimerKind.REVIEW_PENDING, at(4), settings)
    assert result is not None
    assert [(d.message.value, d.person, d.target) for d in result.deliveries] == [
        ("review_request", "Chloé", "chloe@example.com")]
    assert result.deliveries[0].notice is not None and result.deliveries[0].notice["again"] is True
    assert result.state.timeline[-1].type == "review_request"
    assert TimerKind.REVIEW_PENDING.value not in schedule(result.state, settings.policy(state.severity))
    assert fire(result.state, TimerKind.REVIEW_PENDING, at(30), settings) is None


@pytest.mark.parametrize("answer", [
    {"by": "Chloé", "message": "looking"}, {"checks": {"review": True}}, {"phase": "staging"},
])
def test_a_reviewer_who_answered_is_not_reminded(settings: Settings, answer: dict[str, Any]) -> None:
    """Chloé acting herself, the review being ticked, or the phase moving on cancels the second request."""
    settings = reviewer_settings(settings)
    state = state_after(*IN_REVIEW, {"type": "updated", "id": "a", "at": at(2).isoformat(), **answer})
    assert TimerKind.REVIEW_PENDING.value not in schedule(state, settings.policy(state.severity))


def test_no_review_reminder_when_review_requests_are_off(settings: Settings) -> None:
    """With ``prompts`` lacking review_request, a silent reviewer is not asked again."""
    settings = reviewer_settings(settings, prompts=["assignment"])
    state = state_after(*IN_REVIEW)
    assert TimerKind.REVIEW_PENDING.value not in schedule(state, settings.policy(state.severity))


@pytest.fixture
def boxed() -> Settings:
    """P0 with only the time boxes: triage 4 s, deploy 5 s (no update reminders, no deadline warning)."""
    return Settings(
        audiences={"oncall": {"emails": ["oncall@example.com"]}, "management": {"emails": ["boss@example.com"]}},
        severity={"P0": {"resolve_within": "20s", "remind": ["oncall"], "escalate": ["management"],
                         "triage_within": "4s", "deploy_within": "5s"}},
        people={"Alice": {"email": "alice@example.com"}},
    )


def boxes(fired: list[tuple[float, str, set[str]]]) -> list[tuple[float, str, set[str]]]:
    return [f for f in fired if f[1] not in ("at_risk", "breached")]


def test_triage_time_box_reminds_once_then_escalates(boxed: Settings) -> None:
    """Still in triage after triage_within: the coordinator is reminded once; at twice that, management hears it."""
    fired = boxes(run_clock(state_after(DECLARED), boxed, until=19))
    assert fired == [(4.0, "triage_box", {"oncall", "coordinator:Alice"}), (8.0, "triage_ignored", {"management"})]


def test_leaving_triage_stops_its_time_box(boxed: Settings) -> None:
    """A hotfix that moved to fix within the box hears nothing about triage."""
    state = state_after(DECLARED, {"type": "updated", "id": "u", "at": at(3).isoformat(), "phase": "fix"})
    assert boxes(run_clock(state, boxed, until=19)) == []


def test_deploy_time_box_runs_from_staging_until_production_is_confirmed(boxed: Settings) -> None:
    """Entering staging at 2 s starts the deploy box: a reminder at 7 s, an escalation at 12 s; confirmed stops it."""
    staged = state_after(DECLARED, {"type": "updated", "id": "s", "at": at(2).isoformat(), "phase": "staging"})
    assert staged.deploy_started_at == at(2)
    fired = boxes(run_clock(staged, boxed, until=19))
    assert fired == [(7.0, "deploy_box", {"oncall", "coordinator:Alice"}), (12.0, "deploy_ignored", {"management"})]
    reminder = fire(staged, TimerKind.DEPLOY_BOX, at(7), boxed)
    assert reminder is not None and reminder.deliveries[0].notice is not None
    assert reminder.deliveries[0].notice["reason"] == "deploy_overdue" and reminder.deliveries[0].notice["within"] == 5
    confirmed = state_after(DECLARED, {"type": "updated", "id": "s", "at": at(2).isoformat(), "phase": "staging"},
                            {"type": "updated", "id": "p", "at": at(4).isoformat(), "phase": "production",
                             "checks": {"confirmed": True}})
    assert boxes(run_clock(confirmed, boxed, until=19)) == []


def test_a_rollback_restarts_the_deploy_time_box(boxed: Settings) -> None:
    """After a rollback (back to fix) the next staging entry starts a new deploy box."""
    state = state_after(DECLARED, {"type": "updated", "id": "s", "at": at(1).isoformat(), "phase": "staging"},
                        {"type": "rolled_back", "id": "rb", "at": at(2).isoformat()},
                        {"type": "updated", "id": "s2", "at": at(9).isoformat(), "phase": "staging"})
    assert state.deploy_started_at == at(9)
    assert schedule(state, boxed.policy(state.severity))[TimerKind.DEPLOY_BOX] == at(14)
