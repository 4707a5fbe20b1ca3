"""The policy table: route(step, settings) → deliveries."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from daemon.lifecycle import apply
from daemon.policy import route
from hotfix.enums import Channel, MessageName
from hotfix.events import parse_event
from hotfix.settings import Settings
from hotfix.state import HotfixState

T0 = datetime(2026, 11, 25, 9, 12, tzinfo=timezone.utc)


@pytest.fixture
def settings() -> Settings:
    """Three audiences; P0 tells everyone, P2 only on-call."""
    return Settings(
        teams={"engineering": {}},
        audiences={"oncall": {"teams": ["engineering"], "emails": ["oncall@example.com"]},
                   "stakeholders": {"emails": ["cto@example.com"], "locale": "en"},
                   "management": {"emails": ["boss@example.com"]}},
        severity={"P0": {"resolve_within": "1h", "announce": ["oncall", "stakeholders", "management"],
                         "updates": ["oncall", "stakeholders"], "resolution": ["oncall", "stakeholders", "management"]},
                  "P2": {"resolve_within": "24h", "announce": ["oncall"], "updates": ["oncall"],
                         "resolution": ["oncall"]}},
    )


def ev(type_: str, minutes: int = 0, **fields: Any):
    data = {"type": type_, "ticket": "INC-7", "at": (T0 + timedelta(minutes=minutes)).isoformat(),
            "id": f"{type_}-{minutes}", **fields}
    if type_ == "declared":
        data.setdefault("title", "Checkout returns 500")
        data.setdefault("severity", "P0")
    return parse_event(data, now=T0)  # the frozen clock bounds the dates


def deliveries_for(settings: Settings, state: HotfixState | None, event) -> tuple[HotfixState, set[tuple[str, str, str]]]:
    steps = apply(state, event, T0)
    out = set()
    for step in steps:
        out |= {(d.message.value, d.audience, d.channel.value) for d in route(step, settings)}
    return steps[-1].after, out


@pytest.mark.parametrize("type_,message,audiences", [
    ("updated", "update", {"oncall", "stakeholders"}),
    ("resolved", "resolution", {"oncall", "stakeholders", "management"}),
    ("rolled_back", "rollback", {"oncall", "stakeholders", "management"}),
    ("cancelled", "cancellation", {"oncall", "stakeholders", "management"}),
])
def test_event_types_go_to_their_audiences(settings: Settings, type_: str, message: str, audiences: set[str]) -> None:
    """Each event type sends its message to the audiences the P0 policy names for it."""
    state, _ = deliveries_for(settings, None, ev("declared"))
    checks = {"checks": {"review": True, "smoke_test": True}} if type_ == "resolved" else {}
    _, out = deliveries_for(settings, state, ev(type_, 10, **checks))
    assert {a for m, a, _ in out if m == message} == audiences
    assert {m for m, _, _ in out} == {message}


def test_announcement_covers_every_channel_of_each_audience(settings: Settings) -> None:
    """A declaration announces on Teams and email for on-call, email for the others."""
    _, out = deliveries_for(settings, None, ev("declared"))
    assert out == {("announcement", "oncall", "teams"), ("announcement", "oncall", "email"),
                   ("announcement", "stakeholders", "email"), ("announcement", "management", "email")}


def test_severity_raise_announces_only_to_newly_concerned(settings: Settings) -> None:
    """P2 → P0 announces to stakeholders and management, not again to on-call."""
    state, _ = deliveries_for(settings, None, ev("declared", severity="P2"))
    _, out = deliveries_for(settings, state, ev("updated", 5, severity="P0"))
    assert {a for m, a, _ in out if m == "announcement"} == {"stakeholders", "management"}


def test_duplicate_and_buffered_plan_nothing(settings: Settings) -> None:
    """A buffered early update and a duplicate event send nothing."""
    state, out = deliveries_for(settings, None, ev("updated", 2, message="x"))
    assert out == set()
    state, _ = deliveries_for(settings, state, ev("declared"))
    _, again = deliveries_for(settings, state, ev("declared"))
    assert again == set()


def test_buffered_update_is_sent_after_the_announcement(settings: Settings) -> None:
    """When the declaration arrives, both the announcement and the buffered update are planned."""
    state, _ = deliveries_for(settings, None, ev("updated", 2, message="x"))
    _, out = deliveries_for(settings, state, ev("declared"))
    assert ("announcement", "oncall", "email") in out and ("update", "oncall", "email") in out


def test_guardrail_goes_to_announce_audiences(settings: Settings) -> None:
    """Production without a smoke test warns every announce audience."""
    state, _ = deliveries_for(settings, None, ev("declared"))
    _, out = deliveries_for(settings, state, ev("updated", 30, phase="production", checks={"review": True}))
    assert {a for m, a, _ in out if m == "guardrail"} == {"oncall", "stakeholders", "management"}


def test_unconfigured_severity_tells_nobody(settings: Settings) -> None:
    """A P1 with no [severity.P1] table is tracked but plans no delivery."""
    _, out = deliveries_for(settings, None, ev("declared", severity="P1"))
    assert out == set()


def test_channel_enum_values() -> None:
    """Channels serialise to the names of the public interface."""
    assert [c.value for c in Channel] == ["teams", "email"]
    assert MessageName("postmortem") is MessageName.POSTMORTEM


def test_resolution_without_review_or_smoke_test_is_a_guardrail(settings: Settings) -> None:
    """Resolving with no review and no smoke test recorded warns everyone told, naming both; with both, no warning."""
    state, _ = deliveries_for(settings, None, ev("declared"))
    after, out = deliveries_for(settings, state, ev("resolved", 30))
    assert {a for m, a, _ in out if m == "guardrail"} == {"oncall", "stakeholders", "management"}
    assert after.guardrails and {g.split("@")[0] for g in after.guardrails} == {"review", "smoke_test"}
    _, clean = deliveries_for(settings, state, ev("resolved", 30, checks={"review": True, "smoke_test": True}))
    assert "guardrail" not in {m for m, _, _ in clean}


def test_guardrail_named_at_production_is_not_repeated_at_resolution(settings: Settings) -> None:
    """A check already flagged at the production deploy is not flagged again when the same attempt resolves."""
    state, _ = deliveries_for(settings, None, ev("declared"))
    state, first = deliveries_for(settings, state, ev("updated", 20, phase="production", checks={"review": True}))
    assert "guardrail" in {m for m, _, _ in first}
    _, out = deliveries_for(settings, state, ev("resolved", 30))
    assert "guardrail" not in {m for m, _, _ in out}


def test_a_new_attempt_after_a_rollback_is_checked_again(settings: Settings) -> None:
    """After a rollback the checks start over: resolving the second fix without a smoke test warns again."""
    state, _ = deliveries_for(settings, None, ev("declared"))
    state, _ = deliveries_for(settings, state, ev("updated", 20, phase="production", checks={"review": True}))
    state, _ = deliveries_for(settings, state, ev("rolled_back", 25))
    _, out = deliveries_for(settings, state, ev("resolved", 40, checks={"review": True}))
    assert "guardrail" in {m for m, _, _ in out}
