"""What Herald says when nobody else does: the pure timer schedule.

``schedule(state, policy)`` lists the notices due for a hotfix and when: update
reminders while it is open (a rollback keeps it open), deadline escalations unless a
rollback restored the service, the post-mortem reminders once one is scheduled (before
its date, and once overdue — both only while no ``postmortem`` event reported it held),
and one more review request to a reviewer who stayed silent;
``fire(state, kind, now, settings)`` records one notice on the state and plans
its deliveries. Each occurrence has an identity (``occurrence``) kept in
``state.fired`` once fired, so a timer fires once however many daemons look
at it, and an update (which moves ``last_update_at``) re-arms the reminder.
Timer names are plain strings (``TimerKind`` values, ``digest:<audience>``, ``approval:<audience>`` for
a message held past its ``approval_timeout``);
``hotfix.keys.timer_member`` alone spells them in Redis. An at-risk warning
found due only after the deadline passed is recorded but says nothing: the
breach escalation covers it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from daemon import timeline
from daemon.approvals import TIMER as APPROVAL
from daemon.approvals import Released, expire
from hotfix.durations import format_span
from hotfix.enums import Channel, Locale, MessageName, Phase, Severity, Status
from hotfix.routing import Delivery, expand, team_channels, to_person
from hotfix.settings import PostmortemSettings, Settings, SeverityPolicy
from hotfix.state import HotfixState, TimelineEntry


class TimerKind(str, Enum):
    """The notices Herald originates on its own."""

    REMINDER = "reminder"        # no update for update_every → remind the coordinator
    UNANSWERED = "unanswered"    # still nothing one period later → escalate ("nobody available")
    AT_RISK = "at_risk"          # warn_before the deadline → escalate with the time left (P0: propose a rollback)
    BREACHED = "breached"        # the deadline passed → escalate (P0: propose a rollback)
    POSTMORTEM = "postmortem"    # before the post-mortem → remind the team
    POSTMORTEM_OVERDUE = "postmortem_overdue"  # overdue_after its date, no postmortem event → remind again
    REVIEW_PENDING = "review_pending"  # review asked update_every ago, reviewer silent → ask them once more
    TRIAGE_BOX = "triage_box"    # still in triage triage_within after the declaration → remind the coordinator
    TRIAGE_IGNORED = "triage_ignored"  # still in triage at twice that → escalate
    DEPLOY_BOX = "deploy_box"    # deploy_within after entering staging, production not confirmed → remind
    DEPLOY_IGNORED = "deploy_ignored"  # still not confirmed at twice that → escalate


#: The playbook's time boxes: (reminder, escalation when ignored, the notice's reason).
TIME_BOXES = ((TimerKind.TRIAGE_BOX, TimerKind.TRIAGE_IGNORED, "triage_overdue"),
              (TimerKind.DEPLOY_BOX, TimerKind.DEPLOY_IGNORED, "deploy_overdue"))


#: Timer names of digests are ``digest:<audience>``.
DIGEST = "digest:"


@dataclass(frozen=True)
class Fired:
    """A notice that fired: the new state and its deliveries (``released``: a held message the timeout sends)."""

    state: HotfixState
    deliveries: list[Delivery]
    occurrence: str
    released: Released | None = None


def _base(state: HotfixState) -> datetime | None:
    return state.last_update_at or state.declared_at


def occurrence(state: HotfixState, kind: TimerKind) -> str:
    """The identity of this timer's current occurrence."""
    if kind in (TimerKind.REMINDER, TimerKind.UNANSWERED):
        anchor = _base(state)
    elif kind is TimerKind.REVIEW_PENDING:
        anchor = state.requested.get("reviewer")
    elif kind in (TimerKind.POSTMORTEM, TimerKind.POSTMORTEM_OVERDUE):
        anchor = state.postmortem_at
    elif kind in (TimerKind.TRIAGE_BOX, TimerKind.TRIAGE_IGNORED):
        anchor = state.declared_at
    elif kind in (TimerKind.DEPLOY_BOX, TimerKind.DEPLOY_IGNORED):
        anchor = state.deploy_started_at
    else:
        anchor = state.deadline
    return f"{kind.value}@{anchor.isoformat() if anchor else '-'}"


def digest_windows(settings: Settings) -> dict[str, timedelta]:
    """The audiences that fold updates, and their window."""
    return {name: a.digest for name, a in settings.audiences.items() if a.digest}


def timer_names(settings: Settings) -> list[str]:
    """Every timer name a hotfix can have under these settings."""
    return ([k.value for k in TimerKind] + [DIGEST + a for a in digest_windows(settings)]
            + [APPROVAL + name for name, audience in settings.audiences.items() if audience.approval])


def schedule(state: HotfixState, policy: SeverityPolicy, digests: dict[str, timedelta] | None = None,
             postmortem: PostmortemSettings | None = None) -> dict[str, datetime]:
    """When each pending notice of this hotfix is due (fired ones left out), by timer name (a plain ``str``)."""
    due: dict[str, datetime] = {}
    for audience, since in state.digest_since.items():
        if state.digest.get(audience):
            due[DIGEST + audience] = since + (digests or {}).get(audience, timedelta(0))
    if policy.approval_timeout:
        for held in state.held:
            due[APPROVAL + held.audience] = held.since + policy.approval_timeout
    if not state.declared:
        return due
    if state.status is Status.OPEN:
        base = _base(state)
        if policy.update_every and base is not None and policy.update_every > timedelta(0):
            due[TimerKind.REMINDER.value] = base + policy.update_every
            due[TimerKind.UNANSWERED.value] = base + 2 * policy.update_every
        review = _review_pending(state, policy)
        if review is not None:
            due[TimerKind.REVIEW_PENDING.value] = review
        due.update({kind.value: at for kind, at in _time_boxes(state, policy).items()})
        if state.deadline is not None and not state.service_restored:
            if policy.warn_before:
                due[TimerKind.AT_RISK.value] = state.deadline - policy.warn_before
            due[TimerKind.BREACHED.value] = state.deadline
    if state.status is not Status.CANCELLED and state.postmortem_at is not None and state.postmortem is None:
        due[TimerKind.POSTMORTEM.value] = state.postmortem_at - policy.postmortem_remind_before
        due[TimerKind.POSTMORTEM_OVERDUE.value] = state.postmortem_at + (postmortem or PostmortemSettings()).overdue_after
    return {k: v for k, v in due.items()
            if k.startswith((DIGEST, APPROVAL)) or occurrence(state, TimerKind(k)) not in state.fired}


def fire(state: HotfixState, name: str, now: datetime, settings: Settings) -> Fired | None:
    """Fire the timer ``name`` if it is due now and not fired yet; None otherwise."""
    policy = settings.policy(state.severity or Severity.P2)
    when = schedule(state, policy, digest_windows(settings), settings.postmortem).get(name)
    if when is None or when > now:
        return None
    if name.startswith(DIGEST):
        after = state.model_copy(deep=True)
        deliveries = flush_digest(after, name[len(DIGEST):], settings)
        return Fired(after, deliveries, f"{name}@{when.isoformat()}")
    if name.startswith(APPROVAL):
        released = expire(state, name[len(APPROVAL):], settings, now)
        if released is None:
            return None
        return Fired(released.state, released.deliveries, f"{name}@{when.isoformat()}", released)
    kind = TimerKind(name)
    key = occurrence(state, kind)
    after = state.model_copy(deep=True)
    after.fired.append(key)
    after.version += 1
    if kind is TimerKind.AT_RISK and state.deadline is not None and now >= state.deadline:
        return Fired(after, [], key)  # already breached (e.g. raised to P0 late): the breach escalation says it
    cause = f"timer:{state.ticket}:{key}"
    if kind is TimerKind.REVIEW_PENDING:
        return _remind_reviewer(state, after, now, settings, cause, key)
    notice = _notice(state, kind, now, policy)
    message, audiences = _routing(kind, state.severity or Severity.P2, settings)
    deliveries = expand(message, audiences, settings, cause, notice)
    if kind in (TimerKind.REMINDER, TimerKind.POSTMORTEM, TimerKind.POSTMORTEM_OVERDUE, TimerKind.TRIAGE_BOX,
                TimerKind.DEPLOY_BOX):
        deliveries += _coordinator(state, settings, message, cause, notice)
    timeline.add_entry(after, TimelineEntry(at=now, type=message.value, id=cause, summary=_summary(kind, notice),
                                            what=_what(kind, notice)))
    return Fired(after, deliveries, key)


def _box(state: HotfixState, policy: SeverityPolicy) -> tuple[str, datetime, timedelta] | None:
    """The time box running now, if any: (its reason, since when, how long it allows)."""
    if state.phase is Phase.TRIAGE and state.declared_at is not None and policy.triage_within > timedelta(0):
        return "triage_overdue", state.declared_at, policy.triage_within
    if (state.deploy_started_at is not None and not state.checks.get("confirmed")
            and policy.deploy_within > timedelta(0)):
        return "deploy_overdue", state.deploy_started_at, policy.deploy_within
    return None


def _time_boxes(state: HotfixState, policy: SeverityPolicy) -> dict[TimerKind, datetime]:
    """The reminder at the end of the running time box, and the escalation at twice its length."""
    box = _box(state, policy)
    if box is None:
        return {}
    reason, since, within = box
    remind, escalate = next((r, e) for r, e, why in TIME_BOXES if why == reason)
    return {remind: since + within, escalate: since + 2 * within}


def _review_pending(state: HotfixState, policy: SeverityPolicy) -> datetime | None:
    """When to ask the reviewer again: ``update_every`` after the review request, unless they answered."""
    asked = state.requested.get("reviewer")
    if (asked is None or state.phase is not Phase.REVIEW or not state.team.reviewer or state.checks.get("review")
            or MessageName.REVIEW_REQUEST not in policy.prompts or not policy.update_every
            or state.acknowledged("reviewer", since=asked) is not None):
        return None
    return asked + policy.update_every


def _remind_reviewer(state: HotfixState, after: HotfixState, now: datetime, settings: Settings, cause: str,
                     key: str) -> Fired:
    """The review request once more, to the reviewer in person and mentioning them in the team's channels."""
    policy = settings.policy(state.severity or Severity.P2)
    name = state.team.reviewer or ""
    asked = state.requested.get("reviewer")
    notice = {"role": "reviewer", "person": name, "target": Phase.REVIEW.value, "again": True,
              "asked_at": asked.isoformat() if asked else None}
    channels = team_channels([*policy.announce, *state.announced_to], settings)
    deliveries = to_person(MessageName.REVIEW_REQUEST, name, settings, cause, channels=channels, notice=notice)
    timeline.add_entry(after, TimelineEntry(at=now, type=MessageName.REVIEW_REQUEST.value, id=cause,
                                            summary=f"review still pending: {name} asked again",
                                            what={"notice": TimerKind.REVIEW_PENDING.value, "person": name}))
    return Fired(after, deliveries, key)


def fold(state: HotfixState, audience: str, event: dict[str, Any], now: datetime) -> None:
    """Keep an update for an audience's digest instead of sending it now."""
    if not state.digest.get(audience):
        state.digest_since[audience] = now
    state.digest.setdefault(audience, []).append(event)


def flush_digest(state: HotfixState, audience: str, settings: Settings) -> list[Delivery]:
    """One update carrying every folded event to ``audience``; the digest is emptied."""
    events = state.digest.pop(audience, [])
    since = state.digest_since.pop(audience, None)
    if not events:
        return []
    state.version += 1
    cause = f"digest:{state.ticket}:{audience}:{since.isoformat() if since else ''}"
    return expand(MessageName.UPDATE, [audience], settings, cause, {"digest": events})


def _routing(kind: TimerKind, severity: Severity, settings: Settings) -> tuple[MessageName, list[str]]:
    policy = settings.policy(severity)
    if kind in (TimerKind.REMINDER, TimerKind.TRIAGE_BOX, TimerKind.DEPLOY_BOX):
        return MessageName.REMINDER, policy.remind
    if kind is TimerKind.POSTMORTEM:
        return MessageName.POSTMORTEM, settings.postmortem_audiences(severity)
    if kind is TimerKind.POSTMORTEM_OVERDUE:  # those who must hold it: the responders, and the coordinator
        return MessageName.POSTMORTEM, policy.remind
    return MessageName.ESCALATION, policy.escalate


def _coordinator(state: HotfixState, settings: Settings, message: MessageName, cause: str,
                 notice: dict[str, Any]) -> list[Delivery]:
    """The coordinator in person, when the ``[people]`` table knows their address."""
    name = state.team.coordinator
    person = settings.people.get(name) if name else None
    if person is None or not person.email:
        return []
    return [Delivery(message, f"coordinator:{name}", Channel.EMAIL, cause, person.email, notice, name)]


def _notice(state: HotfixState, kind: TimerKind, now: datetime, policy: SeverityPolicy) -> dict[str, Any]:
    base = _base(state)
    if kind is TimerKind.REMINDER:
        every = policy.update_every or timedelta(0)
        return {"overdue_by": int((now - (base + every)).total_seconds()) if base else 0,
                "last_update_at": base.isoformat() if base else None, "update_every": int(every.total_seconds())}
    if kind is TimerKind.POSTMORTEM:
        return {"postmortem_at": state.postmortem_at.isoformat() if state.postmortem_at else None}
    if kind is TimerKind.POSTMORTEM_OVERDUE:
        return {"postmortem_at": state.postmortem_at.isoformat() if state.postmortem_at else None, "overdue": True,
                "overdue_by": int((now - state.postmortem_at).total_seconds()) if state.postmortem_at else 0}
    left = int((state.deadline - now).total_seconds()) if state.deadline else 0
    box = _box(state, policy)
    if box is not None and any(kind in (r, e) for r, e, _ in TIME_BOXES):
        reason, since, within = box
        return {"reason": reason, "since": since.isoformat(), "within": int(within.total_seconds()),
                "overdue_by": int((now - since - within).total_seconds()), "time_left": left,
                "phase": state.phase.value, "propose_rollback": False}
    if kind is TimerKind.UNANSWERED:
        return {"reason": "update_overdue", "time_left": left, "propose_rollback": False,
                "last_update_at": base.isoformat() if base else None}
    breached = kind is TimerKind.BREACHED
    return {"reason": "deadline_breached" if breached else "deadline_at_risk", "time_left": left,
            "propose_rollback": state.severity is Severity.P0}  # "P0 sans fix possible rapide → rollback"


def _what(kind: TimerKind, notice: dict[str, Any]) -> dict[str, Any]:
    """The notice's timeline line as data: its kind and the figures its wording needs."""
    what: dict[str, Any] = {"notice": kind.value}
    what.update({k: notice[k] for k in ("within", "time_left") if notice.get(k) is not None})
    return what


def _summary(kind: TimerKind, notice: dict[str, Any]) -> str:
    return {
        TimerKind.REMINDER: "update overdue: coordinator reminded",
        TimerKind.UNANSWERED: "no update for two periods: escalated",
        TimerKind.AT_RISK: f"deadline at risk ({format_span(notice.get('time_left', 0), Locale.EN)} left): escalated",
        TimerKind.BREACHED: "deadline breached: escalated",
        TimerKind.POSTMORTEM: "post-mortem reminder sent",
        TimerKind.POSTMORTEM_OVERDUE: "post-mortem overdue (no postmortem event): team reminded",
        TimerKind.TRIAGE_BOX: f"triage beyond {format_span(notice.get('within', 0), Locale.EN)}: coordinator reminded",
        TimerKind.TRIAGE_IGNORED: "triage still not done at twice its time box: escalated",
        TimerKind.DEPLOY_BOX: f"deploy beyond {format_span(notice.get('within', 0), Locale.EN)}: coordinator reminded",
        TimerKind.DEPLOY_IGNORED: "deploy still not confirmed at twice its time box: escalated",
    }.get(kind, kind.value)
