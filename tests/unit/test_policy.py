"""The policy table: route(step, settings) → deliveries."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from daemon.lifecycle import apply
from daemon.policy import route
from hotfix.enums import Channel, MessageName, Severity
from hotfix.events import parse_event
from hotfix.settings import Settings
from hotfix.state import HotfixState
from tests.fixtures.clock import frozen_at

T0 = datetime(2026, 11, 25, 9, 12, tzinfo=timezone.utc)
#: Every wall clock stands at T0 in each test: the dates written here hold on any day.
frozen_clock = frozen_at(T0)


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


@pytest.fixture
def table() -> Settings:
    """P1 with the escalation table's audiences: admins for access, customers for a major customer impact."""
    return Settings(
        audiences={"oncall": {"emails": ["oncall@example.com"]}, "management": {"emails": ["boss@example.com"]},
                   "admins": {"emails": ["admin@example.com"]}, "customers": {"emails": ["cs@example.com"]}},
        severity={"P1": {"resolve_within": "4h", "announce": ["oncall"], "updates": ["oncall"],
                         "resolution": ["oncall"], "escalate": ["management"], "access": ["admins"],
                         "customer_impact": ["customers"]}},
    )


def routed(settings: Settings, *events: Any) -> list[set[tuple[str, str]]]:
    """(message, audience) of each event's deliveries, applying them in turn."""
    state, out = None, []
    for event in events:
        steps = apply(state, event, T0)
        out.append({(d.message.value, d.audience) for step in steps for d in route(step, settings)})
        state = steps[-1].after
    return out


def test_needs_access_escalates_to_the_access_audiences(table: Settings) -> None:
    """"Besoin d'accès spécifique": an update with needs_access escalates to [severity.P1] access, with the request."""
    _, update = routed(table, ev("declared", severity="P1"), ev("updated", 5, needs_access="sudo on db-prod-1"))
    assert update == {("update", "oncall"), ("escalation", "admins")}
    notice = [d.notice for d in route(apply(apply(None, ev("declared", severity="P1"), T0)[-1].after,
                                            ev("updated", 5, needs_access="sudo on db-prod-1"), T0)[-1], table)
              if d.message is MessageName.ESCALATION][0]
    assert notice == {"reason": "needs_access", "needs_access": "sudo on db-prod-1", "propose_rollback": False}


def test_needs_access_without_access_audiences_goes_to_escalate(table: Settings) -> None:
    """With no access audiences configured, the request goes to the escalate audiences."""
    table.severity[Severity.P1].access = []
    _, update = routed(table, ev("declared", severity="P1"), ev("updated", 5, needs_access="VPN"))
    assert ("escalation", "management") in update


def test_customer_impact_brings_its_audiences_in_from_then_on(table: Settings) -> None:
    """"Impact client majeur": customers are announced to once, then get updates and the resolution; not before."""
    declared, before, flagged, after, resolved = routed(
        table, ev("declared", severity="P1"), ev("updated", 5, message="x"), ev("updated", 10, customer_impact=True),
        ev("updated", 15, message="y"), ev("resolved", 30, checks={"review": True, "smoke_test": True}))
    assert declared == {("announcement", "oncall")} and before == {("update", "oncall")}
    assert flagged == {("announcement", "customers"), ("update", "oncall"), ("update", "customers")}
    assert after == {("update", "oncall"), ("update", "customers")}
    assert resolved == {("resolution", "oncall"), ("resolution", "customers")}


def test_customer_impact_on_declaration_announces_to_them(table: Settings) -> None:
    """A declaration with customer_impact announces to the customer_impact audiences too."""
    [declared] = routed(table, ev("declared", severity="P1", customer_impact=True))
    assert declared == {("announcement", "oncall"), ("announcement", "customers")}


TEAM = {"coordinator": "Alice", "developer": "Bob", "reviewer": "Chloé", "devops": "Dan"}


@pytest.fixture
def people(settings: Settings) -> Settings:
    """The settings above, with the four role holders in [people] and stakeholders of kind ``stakeholders``."""
    data = settings.model_dump(mode="json", exclude={"people"})
    data["audiences"]["stakeholders"]["kind"] = "stakeholders"
    data["people"] = {name: {"email": f"{name.lower()}@corp.example", "teams": f"{name.lower()}@corp.example"}
                      for name in TEAM.values()}
    return Settings(**data)


def prompts_of(settings: Settings, state: HotfixState | None, event) -> tuple[HotfixState, list[tuple[str, str, str, str]]]:
    """(message, person, channel, target) of the role prompts an event plans."""
    steps = apply(state, event, T0)
    found = [(d.message.value, d.person or "", d.channel.value, d.target or "") for step in steps
             for d in route(step, settings) if d.message.value in ("assignment", "review_request", "deploy_request")]
    return steps[-1].after, sorted(found)


def test_declaration_assigns_each_role_by_email_only(people: Settings) -> None:
    """A declaration with a team sends each holder an ``assignment`` email (the announcement card mentions them all)."""
    _, found = prompts_of(people, None, ev("declared", team=TEAM))
    assert found == sorted(("assignment", n, "email", f"{n.lower()}@corp.example") for n in TEAM.values())


def test_a_new_role_holder_is_told_by_email_and_mentioned_in_the_team_channel(people: Settings) -> None:
    """A role given later goes to the person's email and, as a mention, to the responders' Teams channel only."""
    state, _ = prompts_of(people, None, ev("declared", team=TEAM))
    _, found = prompts_of(people, state, ev("updated", 5, team={"reviewer": "Bob"}))
    assert found == [("assignment", "Bob", "email", "bob@corp.example"), ("assignment", "Bob", "teams", "engineering")]


@pytest.mark.parametrize("phase,message,person", [
    ("review", "review_request", "Chloé"), ("staging", "deploy_request", "Dan"), ("production", "deploy_request", "Dan"),
])
def test_entering_a_phase_prompts_its_role(people: Settings, phase: str, message: str, person: str) -> None:
    """Review asks the reviewer; staging and production each ask devops: by email and in the team channel."""
    state, _ = prompts_of(people, None, ev("declared", team=TEAM))
    state, found = prompts_of(people, state, ev("updated", 5, phase=phase))
    assert found == [(message, person, "email", f"{person.lower()}@corp.example"), (message, person, "teams", "engineering")]
    _, again = prompts_of(people, state, ev("updated", 6, phase=phase, message="still there"))
    assert again == []


def test_nobody_is_prompted_about_what_they_did_themselves(people: Settings) -> None:
    """The reviewer who moves the phase to review, or takes a role, gets no prompt for it."""
    state, _ = prompts_of(people, None, ev("declared", team=TEAM))
    _, found = prompts_of(people, state, ev("updated", 5, phase="review", by="Chloé"))
    assert found == []
    _, found = prompts_of(people, state, ev("updated", 5, team={"devops": "Bob"}, by="Bob"))
    assert found == []


def test_prompts_can_be_switched_off_per_severity(people: Settings) -> None:
    """``[severity.P0] prompts = ["deploy_request"]`` keeps deploy requests and drops the rest."""
    data = people.model_dump(mode="json")
    data["severity"]["P0"]["prompts"] = ["deploy_request"]
    only_deploy = Settings(**data)
    state, found = prompts_of(only_deploy, None, ev("declared", team=TEAM))
    assert found == []
    state, found = prompts_of(only_deploy, state, ev("updated", 5, phase="review"))
    assert found == []
    _, found = prompts_of(only_deploy, state, ev("updated", 6, phase="staging"))
    assert {m for m, *_ in found} == {"deploy_request"}


def test_a_person_without_address_is_still_mentioned_by_name_in_teams(people: Settings) -> None:
    """A reviewer unknown to [people] gets no email, but the team channel still hears the review request."""
    state, _ = prompts_of(people, None, ev("declared", team={**TEAM, "reviewer": "Zoé"}))
    _, found = prompts_of(people, state, ev("updated", 5, phase="review"))
    assert found == [("review_request", "Zoé", "teams", "engineering")]


def test_closed_hotfix_prompts_nobody(people: Settings) -> None:
    """A resolution does not prompt anyone, whatever it changes."""
    state, _ = prompts_of(people, None, ev("declared", team=TEAM))
    _, found = prompts_of(people, state, ev("resolved", 30))
    assert found == []


def test_the_update_that_enters_a_phase_says_so(settings: Settings) -> None:
    """Updates carry the phase they enter (for the playbook's advice); one that stays in its phase carries nothing."""
    state = apply(None, ev("declared"), T0)[-1].after
    entering = apply(state, ev("updated", 5, phase="fix"), T0)[-1]
    assert {str(d.notice) for d in route(entering, settings) if d.message is MessageName.UPDATE} == {"{'entered': 'fix'}"}
    staying = apply(entering.after, ev("updated", 6, phase="fix", message="still fixing"), T0)[-1]
    assert {d.notice for d in route(staying, settings) if d.message is MessageName.UPDATE} == {None}
