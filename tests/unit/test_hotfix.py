"""The pure state machine: apply(state, event, now)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from daemon.lifecycle import Outcome, apply
from hotfix.enums import Phase, Severity, Status
from hotfix.events import parse_event
from hotfix.state import HotfixState
from tests.fixtures.clock import frozen_at

T0 = datetime(2026, 11, 25, 9, 12, tzinfo=timezone.utc)
#: Every wall clock stands at T0 in each test: the dates written here hold on any day.
frozen_clock = frozen_at(T0)
NOW = T0 + timedelta(minutes=1)
#: Two days after T0 (a Wednesday), at 14:00 in Europe/Paris (UTC+1 in November).
FRIDAY_14H = datetime(2026, 11, 27, 13, 0, tzinfo=timezone.utc)


def ev(type_: str, minutes: int = 0, id_: str | None = None, **fields: Any):
    """An event of the ticket INC-1 at T0 + minutes."""
    data = {"type": type_, "ticket": "INC-1", "at": (T0 + timedelta(minutes=minutes)).isoformat(),
            "id": id_ or f"{type_}-{minutes}", **fields}
    if type_ == "declared":
        data.setdefault("title", "Checkout returns 500")
        data.setdefault("severity", "P0")
    return parse_event(data, now=T0)  # the frozen clock bounds the dates


def run(*events) -> HotfixState:
    """Apply events in the given order and return the final state."""
    state = None
    for event in events:
        state = apply(state, event, NOW)[-1].after
    assert state is not None
    return state


def test_declaration_sets_deadline_from_severity() -> None:
    """A P0 declared at 09:12 must be resolved by 10:12."""
    state = run(ev("declared"))
    assert state.declared and state.status is Status.OPEN
    assert state.deadline == T0 + timedelta(hours=1)
    assert [e.type for e in state.timeline] == ["declared"]


@pytest.mark.parametrize("severity,hours", [("P0", 1), ("P1", 4), ("P2", 24)])
def test_playbook_deadlines(severity: str, hours: int) -> None:
    """Each severity gets the playbook's deadline."""
    assert run(ev("declared", severity=severity)).deadline == T0 + timedelta(hours=hours)


def test_duplicate_event_id_changes_nothing() -> None:
    """Applying the same event id twice is a no-op the second time."""
    state = run(ev("declared"), ev("updated", 5, message="fix in progress"))
    steps = apply(state, ev("updated", 5, message="fix in progress"), NOW)
    assert [s.outcome for s in steps] == [Outcome.DUPLICATE]
    assert steps[-1].after == state


def test_update_before_declaration_waits_and_applies_after() -> None:
    """An update arriving first is buffered, then applied right after the declaration."""
    first = apply(None, ev("updated", 3, phase="fix"), NOW)
    assert [s.outcome for s in first] == [Outcome.BUFFERED]
    assert not first[-1].after.declared
    steps = apply(first[-1].after, ev("declared"), NOW)
    assert [s.outcome for s in steps] == [Outcome.APPLIED, Outcome.APPLIED]
    assert steps[-1].after.phase is Phase.FIX and steps[-1].after.pending == []
    assert [e.type for e in steps[-1].after.timeline] == ["declared", "updated"]


def test_out_of_order_updates_keep_timeline_and_latest_values() -> None:
    """An older update arriving late takes its place in the timeline and does not overwrite newer fields."""
    state = run(ev("declared"), ev("updated", 20, next_step="deploy staging"), ev("updated", 10, next_step="review"))
    assert [e.id for e in state.timeline] == ["declared-0", "updated-10", "updated-20"]
    assert state.next_step == "deploy staging"


def test_late_update_never_reopens_resolved() -> None:
    """An update after resolution is recorded as late and leaves the hotfix resolved."""
    state = run(ev("declared"), ev("resolved", 40, root_cause="bad config"), ev("updated", 30, message="late"))
    assert state.status is Status.RESOLVED
    late = [e for e in state.timeline if e.id == "updated-30"]
    assert late and late[0].late is True


def test_declared_again_while_open_is_an_update() -> None:
    """A second declaration of an open ticket keeps the first declaration time."""
    state = run(ev("declared"), ev("declared", 5, id_="d2", title="Checkout down"))
    assert state.declared_at == T0 and state.title == "Checkout down"
    steps = apply(run(ev("declared")), ev("declared", 5, id_="d2"), NOW)
    assert steps[-1].reopened is False


@pytest.mark.parametrize("type_,status", [("resolved", Status.RESOLVED), ("cancelled", Status.CANCELLED)])
def test_closing_events(type_: str, status: Status) -> None:
    """Resolution and cancellation close the hotfix with their time."""
    state = run(ev("declared"), ev(type_, 30))
    assert state.status is status and state.closed_at == T0 + timedelta(minutes=30)
    assert not state.is_open


def test_rollback_keeps_the_hotfix_open_back_in_fix() -> None:
    """A rollback keeps the hotfix open in phase fix, counts it, keeps the attempt and starts the checks over."""
    state = run(ev("declared"), ev("updated", 10, phase="production", checks={"review": True, "smoke_test": True},
                                   fix={"pr": "4711"}),
                ev("rolled_back", 20, reason="refunds broken", next_approach="patch behind a flag"))
    assert state.is_open and state.status is Status.OPEN and state.phase is Phase.FIX
    assert state.rollbacks == 1 and state.closed_at is None and state.deadline == T0 + timedelta(hours=1)
    assert (state.reason, state.next_approach) == ("refunds broken", "patch behind a flag")
    assert state.checks == {} and state.fix.pr is None
    attempt = state.attempts[0]
    assert (attempt.number, attempt.fix.pr, attempt.checks["review"]) == (1, "4711", True)
    assert state.postmortem_at == FRIDAY_14H  # two days later, at the working time


def test_after_a_rollback_updates_apply_and_a_second_fix_resolves() -> None:
    """Updates after a rollback are applied (not late); the resolution's duration counts from the declaration."""
    state = run(ev("declared"), ev("rolled_back", 20, service_restored=True), ev("updated", 25, message="second fix"),
                ev("rolled_back", 30, reason="again"), ev("resolved", 50))
    assert not any(e.late for e in state.timeline)
    assert state.rollbacks == 2 and [a.number for a in state.attempts] == [1, 2]
    assert state.status is Status.RESOLVED and state.declared_at == T0
    assert state.service_restored and state.service_restored_at == T0 + timedelta(minutes=20)


def test_old_rolled_back_state_loads_as_open() -> None:
    """A state stored with status rolled_back by an older version loads as an open hotfix with one rollback."""
    old = run(ev("declared")).model_dump(mode="json")
    old.update(status="rolled_back", closed_at=(T0 + timedelta(minutes=30)).isoformat())
    state = HotfixState.model_validate_json(json.dumps(old))
    assert state.status is Status.OPEN and state.phase is Phase.FIX and state.rollbacks == 1
    assert state.closed_at is None and state.service_restored_at == T0 + timedelta(minutes=30)


def test_resolution_defaults_postmortem_date() -> None:
    """A resolution without postmortem_at gets the default: two days later at 14:00 local (Wednesday → Friday)."""
    state = run(ev("declared"), ev("resolved", 30))
    assert state.postmortem_at == FRIDAY_14H and state.postmortem_by_policy


def test_severity_raise_moves_deadline() -> None:
    """Reclassifying P2 → P0 recomputes the deadline from the declaration."""
    state = run(ev("declared", severity="P2"), ev("updated", 5, severity="P0"))
    assert state.severity is Severity.P0 and state.deadline == T0 + timedelta(hours=1)


def test_production_without_checks_is_a_guardrail() -> None:
    """Moving to production with no review and no smoke test recorded flags both."""
    state = run(ev("declared"))
    steps = apply(state, ev("updated", 20, phase="production", checks={"review": True}), NOW)
    assert steps[-1].guardrail == ("smoke_test",)
    ok = apply(state, ev("updated", 20, phase="production", checks={"review": True, "smoke_test": True}), NOW)
    assert ok[-1].guardrail == ()


def test_team_merges_roles() -> None:
    """A team update changes only the roles it names."""
    state = run(ev("declared", team={"coordinator": "Alice", "developer": "Bob"}),
                ev("updated", 5, team={"developer": "Eve"}))
    assert state.team.coordinator == "Alice" and state.team.developer == "Eve"


TEAM = {"coordinator": "Alice", "reviewer": "Chloé", "devops": "Dan"}


def test_an_event_by_a_role_holder_acknowledges_their_role() -> None:
    """Chloé posting through a link marks the reviewer role as hers since then; later posts move only ``last``."""
    state = run(ev("declared", team=TEAM), ev("updated", 5, message="on it", source="link", by="Chloé"),
                ev("updated", 9, message="reading the PR", by="Chloé"))
    ack = state.acknowledged("reviewer")
    assert ack is not None and ack.by == "Chloé" and ack.via == "link"
    assert ack.at == T0 + timedelta(minutes=5) and ack.last == T0 + timedelta(minutes=9)
    assert state.acknowledged("devops") is None and state.acknowledged("coordinator") is None
    assert state.timeline[-1].by == "Chloé"


def test_a_role_taken_through_a_link_is_acknowledged_by_its_taker() -> None:
    """``take_role`` (team change, source link) acknowledges the new holder even when ``by`` is an audience."""
    state = run(ev("declared", team=TEAM), ev("updated", 5, team={"devops": "Bob"}, source="link", by="oncall"))
    assert state.team.devops == "Bob"
    ack = state.acknowledged("devops")
    assert ack is not None and ack.by == "Bob"
    assert "devops → Bob" in state.timeline[-1].summary


def test_an_acknowledgement_does_not_follow_a_role_to_someone_else() -> None:
    """When the reviewer changes, the former reviewer's acknowledgement no longer counts."""
    state = run(ev("declared", team=TEAM), ev("updated", 5, by="Chloé", message="ok"),
                ev("updated", 7, team={"reviewer": "Bob"}))
    assert state.acknowledged("reviewer") is None


def test_checks_remember_who_ticked_them() -> None:
    """A check set by an event that says who is kept with that person and time; one without ``by`` is not."""
    state = run(ev("declared", team=TEAM), ev("updated", 5, checks={"review": True}, by="Chloé", source="link"),
                ev("updated", 6, checks={"smoke_test": True}))
    assert state.checks == {"review": True, "smoke_test": True}
    assert state.checked_by["review"].by == "Chloé" and state.checked_by["review"].at == T0 + timedelta(minutes=5)
    assert "smoke_test" not in state.checked_by
    assert "✓ review" in state.timeline[1].summary


@pytest.mark.parametrize("phase,role", [("review", "reviewer"), ("staging", "devops"), ("production", "devops")])
def test_entering_a_phase_records_when_its_role_was_asked(phase: str, role: str) -> None:
    """Entering review asks the reviewer, staging and production ask devops: the time is kept per role."""
    state = run(ev("declared", team=TEAM), ev("updated", 4, phase=phase), ev("updated", 8, phase=phase, message="x"))
    assert state.requested == {role: T0 + timedelta(minutes=4)}
