"""Applying events to a hotfix: the pure state machine.

``apply(state, event, now, rules)`` does no I/O. It returns one ``Step`` per event
that took effect: a declaration also flushes the events that arrived before it.
Rules it keeps:

- an event id already applied (or waiting) is a duplicate and changes nothing;
- an event for a ticket not yet declared waits in ``pending`` and is applied,
  in ``at`` order, right after the declaration; at most ``WAITING_EVENTS_MAX`` events (and
  ``WAITING_CHARS_MAX`` characters) wait per ticket: one more raises ``TooManyWaiting``;
- the timeline is kept in ``at`` order whatever order events arrive in, and a
  field is only overwritten by an event at least as recent as the one that set it;
- a late event for a closed (resolved or cancelled) hotfix is recorded but never reopens it;
- ``declared`` for an open ticket is an update; for a closed one it reopens it;
- a rollback keeps the hotfix open: the attempt is kept in ``attempts``, the phase goes
  back to ``fix``, checks start over, the deadline keeps running, and a post-mortem is
  scheduled (unless one already is); a post-mortem's default date falls in working hours
  (``Rules.postmortem_date``);
- a ``postmortem`` event records the post-mortem's answers on a resolved hotfix (its phase becomes
  ``postmortem``) or on one that was rolled back (still open: the phase stays where the fix is);
  for an open hotfix never rolled back it waits in ``pending`` until a resolution or a rollback;
  for a cancelled one it is late;
- an event that says who acted (``by``) acknowledges that person's roles, and a role taken
  through an action link (``source: "link"``) is acknowledged by its taker; a phase that asks
  a role to act (review, staging, production) records when it asked.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from daemon import timeline
from hotfix import dates
from hotfix.enums import TERMINAL_STATUSES, EventType, Phase, Severity, Status
from hotfix.events import (
    Cancelled,
    Declared,
    Event,
    Fix,
    PostmortemHeld,
    Resolved,
    RolledBack,
    Team,
    Updated,
    dump_event,
    load_event,
)
from hotfix.limits import WAITING_CHARS_MAX, WAITING_EVENTS_MAX
from hotfix.settings import PLAYBOOK_DEADLINES
from hotfix.state import REQUIRED_BEFORE_PRODUCTION, Ack, Attempt, HotfixState, PostmortemRecord


class TooManyWaiting(ValueError):
    """An event that would wait beyond the bounds of its ticket's waiting list; ``str()`` says which (a dead letter)."""


class Outcome(str, Enum):
    """What applying one event did."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    BUFFERED = "buffered"
    LATE = "late"


@dataclass(frozen=True)
class Rules:
    """The part of the policy the state machine needs: deadlines and when a post-mortem is held by default."""

    resolve_within: Mapping[Severity, timedelta] = field(default_factory=lambda: dict(PLAYBOOK_DEADLINES))
    postmortem_after: Mapping[Severity, timedelta] = field(
        default_factory=lambda: {s: timedelta(days=2) for s in Severity}
    )
    #: The working hours a default post-mortem date falls in (``[postmortem] time``, ``weekdays``, ``timezone``).
    postmortem_hours: dates.WorkingHours = field(default_factory=dates.WorkingHours)

    def postmortem_date(self, severity: Severity, since: datetime) -> datetime:
        """The default post-mortem date of a hotfix resolved (or rolled back) at ``since``."""
        return self.postmortem_hours.slot(since, self.postmortem_after[severity])


@dataclass(frozen=True)
class Step:
    """One event's effect: the state before and after, and what happened."""

    before: HotfixState
    after: HotfixState
    event: Event
    outcome: Outcome
    reopened: bool = False
    guardrail: tuple[str, ...] = ()


def apply(state: HotfixState | None, event: Event, now: datetime, rules: Rules | None = None) -> list[Step]:
    """Apply ``event`` to ``state`` (None for an unknown ticket); the last step's ``after`` is the new state."""
    rules = rules or Rules()
    current = state if state is not None else HotfixState(ticket=event.ticket)
    if event.event_id in current.applied_ids or any(p.get("id") == event.event_id for p in current.pending):
        return [Step(current, current, event, Outcome.DUPLICATE)]
    if _waits(current, event):
        raw = dump_event(event)
        _check_room(current, raw)
        after = current.fork()
        after.pending.append(raw)
        after.pending.sort(key=lambda p: str(p.get("at", "")))
        after.version += 1
        return [Step(current, after, event, Outcome.BUFFERED)]

    first = _apply_one(current, event, rules)
    if not first.after.pending:
        return [first]
    state_now = first.after.fork()
    waiting = [(raw, load_event(raw)) for raw in state_now.pending]
    steps = [Step(first.before, state_now, event, first.outcome, first.reopened, first.guardrail)]
    while True:  # in ``at`` order, each waiting event that may apply now (a resolution frees a post-mortem)
        ready = next((i for i, (_, queued) in enumerate(waiting) if not _waits(state_now, queued)), None)
        if ready is None:
            break
        _, queued = waiting.pop(ready)
        state_now.pending = [raw for raw, _ in waiting]
        step = _apply_one(state_now, queued, rules)
        steps.append(step)
        state_now = step.after.fork()
        steps[-1] = Step(step.before, state_now, queued, step.outcome, step.reopened, step.guardrail)
    return steps


def _check_room(state: HotfixState, raw: dict[str, Any]) -> None:
    """``TooManyWaiting`` unless ``raw`` fits beside the events already waiting on ``state``."""
    why = "its declaration" if not state.declared else "its resolution or a rollback"
    if len(state.pending) >= WAITING_EVENTS_MAX:
        raise TooManyWaiting(f"{state.ticket}: {len(state.pending)} events already wait for {why} "
                             f"(at most {WAITING_EVENTS_MAX})")
    size = sum(len(json.dumps(p, default=str)) for p in [*state.pending, raw])
    if size > WAITING_CHARS_MAX:
        raise TooManyWaiting(f"{state.ticket}: the events waiting for {why} would hold {size:,} characters "
                             f"(at most {WAITING_CHARS_MAX:,})")


def _waits(state: HotfixState, event: Event) -> bool:
    """Whether ``event`` must wait: before the declaration, or a post-mortem before a resolution or rollback."""
    if not state.declared:
        return not isinstance(event, Declared)
    return isinstance(event, PostmortemHeld) and state.status is Status.OPEN and state.rollbacks == 0


def _apply_one(before: HotfixState, event: Event, rules: Rules) -> Step:
    after = before.fork()
    after.version += 1
    after.applied_ids.append(event.event_id)
    reopened = False
    guardrail: tuple[str, ...] = ()
    closed = before.declared and before.status in TERMINAL_STATUSES

    if isinstance(event, Declared):
        if not before.declared or closed:
            reopened = closed
            _declare(after, event, rules)
        else:
            _merge(after, event, _fields_of_declared(event))
            _set_deadline(after, rules)
    elif isinstance(event, PostmortemHeld) and before.status is not Status.CANCELLED:
        _record_postmortem(after, event)
    elif closed:
        timeline.add_entry(after, timeline.event_entry(event, late=True))
        return Step(before, after, event, Outcome.LATE)
    elif isinstance(event, Updated):
        _merge(after, event, _fields_of_update(event))
        if event.severity is not None:
            _set_deadline(after, rules)
        if event.phase is Phase.PRODUCTION and before.phase is not Phase.PRODUCTION:
            guardrail = _guardrail(after, event.when)
    elif isinstance(event, Resolved):
        _merge(after, event, {"root_cause": event.root_cause, "postmortem_at": event.postmortem_at,
                              "message": event.message})
        _merge_fix(after, event.fix, event.when)
        _merge_checks(after, event.checks, event.when)
        after.status, after.phase, after.closed_at = Status.RESOLVED, Phase.RESOLVED, event.when
        guardrail = _guardrail(after, event.when)
        if event.postmortem_at is not None:
            after.postmortem_by_policy = False
        elif after.postmortem_at is None and after.severity is not None:
            after.postmortem_at = rules.postmortem_date(after.severity, event.when)
            after.postmortem_by_policy = True
        if after.postmortem is not None:  # held already (after a rollback): the hotfix ends in post-mortem
            after.phase = Phase.POSTMORTEM
    elif isinstance(event, RolledBack):
        _roll_back(after, event, rules)
    else:
        assert isinstance(event, Cancelled)  # a post-mortem of a cancelled hotfix is late (above)
        _merge(after, event, {"reason": event.reason, "message": event.message})
        after.status, after.closed_at = Status.CANCELLED, event.when
    _track_deploy(after, event.when)
    if event.type is not EventType.POSTMORTEM and (event.type is not EventType.DECLARED or before.declared):
        after.last_update_at = max(filter(None, [after.last_update_at, event.when]))
    _note_requests(before, after, event.when)
    _acknowledge(after, event)
    timeline.add_entry(after, timeline.event_entry(event))
    return Step(before, after, event, Outcome.APPLIED, reopened, guardrail)


def _track_deploy(after: HotfixState, when: datetime) -> None:
    """The deploy time box starts when an attempt enters staging and is cleared when it goes back before it."""
    if after.phase in (Phase.STAGING, Phase.PRODUCTION):
        if after.deploy_started_at is None:
            after.deploy_started_at = when
    elif after.phase in (Phase.TRIAGE, Phase.FIX, Phase.REVIEW):
        after.deploy_started_at = None


def _guardrail(after: HotfixState, when: datetime) -> tuple[str, ...]:
    """The golden-rule checks missing now and not yet named for this attempt; they are recorded as named."""
    already = after.warned()
    missing = tuple(c for c in REQUIRED_BEFORE_PRODUCTION if not after.checks.get(c) and c not in already)
    after.guardrails.extend(f"{c}@{when.isoformat()}" for c in missing)
    return missing


def _roll_back(after: HotfixState, event: RolledBack, rules: Rules) -> None:
    """Keep the attempt that was undone, go back to ``fix`` with clean checks; the clock runs on."""
    restored = bool(event.service_restored)
    after.attempts.append(Attempt(number=after.rollbacks + 1, rolled_back_at=event.when, event_id=event.event_id,
                                  reason=event.reason, next_approach=event.next_approach, service_restored=restored,
                                  fix=after.fix, checks=dict(after.checks)))
    after.rollbacks += 1
    _merge(after, event, {"reason": event.reason, "next_approach": event.next_approach, "message": event.message,
                          "phase": Phase.FIX})
    after.checks, after.fix = {}, Fix()
    if event.service_restored is not None:
        after.service_restored = restored
        after.service_restored_at = event.when if restored else None
    if after.postmortem_at is None and after.severity is not None:
        after.postmortem_at = rules.postmortem_date(after.severity, event.when)
        after.postmortem_by_policy = True


def _record_postmortem(after: HotfixState, event: PostmortemHeld) -> None:
    """Keep the post-mortem's answers (a later event's win, field by field); a resolved hotfix enters ``postmortem``."""
    record = after.postmortem or PostmortemRecord(at=event.when)
    given = {name: getattr(event, name) for name in ("summary", "root_cause_analysis", "why_not_caught",
                                                      "prevention", "actions", "follow_up")}
    update: dict[str, Any] = {"at": max(record.at, event.when), "by": event.by or record.by}
    for name, value in given.items():
        key = f"postmortem.{name}"
        if value is not None and (after.field_at.get(key) is None or event.when >= after.field_at[key]):
            update[name] = value
            after.field_at[key] = event.when
    after.postmortem = record.model_copy(update=update)
    if event.message is not None:
        _merge(after, event, {"message": event.message})
    if after.status is Status.RESOLVED:
        after.phase = Phase.POSTMORTEM


def _declare(after: HotfixState, event: Declared, rules: Rules) -> None:
    after.declared = True
    after.status = Status.OPEN
    after.phase = event.phase or Phase.TRIAGE
    after.declared_at = event.when
    after.declared_id = event.event_id
    after.closed_at = None
    after.last_update_at = event.when
    after.announcement_jobs = []
    after.announced_to = []
    after.fired = []
    after.rollbacks, after.attempts, after.service_restored, after.service_restored_at = 0, [], False, None
    for name, value in _fields_of_declared(event).items():
        if value is not None:
            setattr(after, name, value)
            after.field_at[name] = event.when
    _set_deadline(after, rules)


def _set_deadline(after: HotfixState, rules: Rules) -> None:
    if after.severity is not None and after.declared_at is not None:
        after.deadline = after.declared_at + rules.resolve_within[after.severity]


def _fields_of_report(event: Declared | Updated) -> dict[str, Any]:
    return {"started_at": event.started_at, "reproducible": event.reproducible,
            "impact_confirmed": event.impact_confirmed, "needs_access": event.needs_access,
            "customer_impact": event.customer_impact}


def _fields_of_declared(event: Declared) -> dict[str, Any]:
    return {**_fields_of_report(event), "title": event.title, "severity": event.severity, "impact": event.impact,
            "users_affected": event.users_affected, "eta": event.eta, "phase": event.phase,
            "next_step": event.next_step, "link": event.link, "source": event.source, "message": event.message,
            "team": event.team}


def _fields_of_update(event: Updated) -> dict[str, Any]:
    fields = {**_fields_of_report(event), "message": event.message, "next_step": event.next_step, "eta": event.eta,
              "phase": event.phase, "severity": event.severity, "impact": event.impact, "users_affected": event.users_affected,
              "title": event.title, "team": event.team}
    return fields


def _merge(after: HotfixState, event: Event, fields: dict[str, Any]) -> None:
    """Set each given field unless a more recent event already set it."""
    for name, value in fields.items():
        if value is None:
            continue
        if name == "team":
            _merge_team(after, value, event.when)
            continue
        set_at = after.field_at.get(name)
        if set_at is None or event.when >= set_at:
            setattr(after, name, value)
            after.field_at[name] = event.when
    if isinstance(event, Updated):
        _merge_checks(after, event.checks, event.when)
        _merge_fix(after, event.fix, event.when)


def _merge_team(after: HotfixState, team: Team, when: datetime) -> None:
    merged = after.team.model_dump()
    for role, person in team.roles().items():
        key = f"team.{role}"
        if after.field_at.get(key) is None or when >= after.field_at[key]:
            merged[role] = person
            after.field_at[key] = when
    after.team = Team(**merged)


def _merge_checks(after: HotfixState, checks: dict[str, bool] | None, when: datetime) -> None:
    """Record each reported check and when it was reported (``field_at["checks.<name>"]``)."""
    for name, done in (checks or {}).items():
        after.checks[name] = done
        after.field_at[f"checks.{name}"] = when


def _merge_fix(after: HotfixState, fix: Fix | None, when: datetime) -> None:
    if fix is None:
        return
    merged = after.fix.model_dump()
    merged.update({k: v for k, v in fix.model_dump().items() if v is not None})
    after.fix = Fix(**merged)
    after.field_at["fix"] = when


#: The role each phase asks to act.
PHASE_ROLES = {Phase.REVIEW: "reviewer", Phase.STAGING: "devops", Phase.PRODUCTION: "devops"}
#: ``source`` of the events the action page pushes.
LINK_SOURCE = "link"


def _note_requests(before: HotfixState, after: HotfixState, when: datetime) -> None:
    """Remember when a phase that asks a role to act was entered."""
    role = PHASE_ROLES.get(after.phase)
    if role is not None and (after.phase is not before.phase or not before.declared):
        after.requested[role] = when


def _acknowledge(after: HotfixState, event: Event) -> None:
    """Record who acted: the roles of ``by``, the roles taken through a link, the checks ``by`` ticked."""
    roles = {role for role, holder in after.team.roles().items() if event.by and holder == event.by}
    team = getattr(event, "team", None)
    if event.source == LINK_SOURCE and team is not None:
        roles |= {role for role, holder in team.roles().items() if after.team.roles().get(role) == holder}
    for role in sorted(roles):
        holder = after.team.roles()[role]
        ack = after.acks.get(role)
        if ack is None or ack.by != holder:
            after.acks[role] = Ack(by=holder, at=event.when, last=event.when, via=event.source)
        elif ack.last is None or event.when > ack.last:
            after.acks[role] = ack.model_copy(update={"last": event.when})
    checks = getattr(event, "checks", None) or {}
    for check, done in checks.items():
        if done and event.by:
            after.checked_by[check] = Ack(by=event.by, at=event.when, via=event.source)
