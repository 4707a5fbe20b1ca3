"""Realistic sample data for ``hotfix preview`` and the tests: one P0 checkout outage, told end to end."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from hotfix.enums import MessageName, Phase, Severity, Status
from hotfix.events import Fix, Team
from hotfix.settings import PLAYBOOK_DEADLINES
from hotfix.state import Attempt, HotfixState, PostmortemRecord, TimelineEntry

log = logging.getLogger(__name__)

TICKET = "INC-1042"
#: How long before ``now`` the sample hotfix was declared.
DECLARED_AGO = timedelta(minutes=25)
#: How far past its deadline the sample of an escalation is (matches ``sample_notice``).
BREACHED_BY = timedelta(minutes=7)
_CLOSING = {
    MessageName.RESOLUTION: Status.RESOLVED,
    MessageName.POSTMORTEM: Status.RESOLVED,
    MessageName.CANCELLATION: Status.CANCELLED,
}


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def sample_hotfix(severity: Severity = Severity.P0, now: datetime | None = None,
                  message: MessageName | None = None) -> HotfixState:
    """A hotfix declared 25 minutes before ``now``, in review; closed (or late) the way ``message`` implies."""
    now = _now(now)
    within = PLAYBOOK_DEADLINES[Severity(severity)]
    breached = message is not None and MessageName(message) is MessageName.ESCALATION
    declared = now - (within + BREACHED_BY if breached else DECLARED_AGO)
    deadline = declared + within
    state = HotfixState(
        ticket=TICKET,
        declared=True,
        severity=Severity(severity),
        title="Checkout returns 500",
        impact="No order can be paid",
        users_affected="all EU customers",
        started_at=declared - timedelta(minutes=4),
        reproducible=True,
        source="alertmanager",
        link="https://tickets.example.com/browse/INC-1042",
        team=Team(coordinator="Alice", developer="Bob", reviewer="Chloé", devops="Dan"),
        phase=Phase.REVIEW,
        eta=deadline - (deadline - declared) / 4,
        declared_at=declared,
        declared_id="am-7f3a",
        deadline=deadline,
        last_update_at=now - timedelta(minutes=8),
        message="Root cause found: the payment client timeout was set to 0 by the last release",
        next_step="Review of PR #4711, then deploy to staging",
        checks={"review": False, "staging": False},
        fix=Fix(pr="4711", commit="9c1e2ab", description="Restore the payment client timeout to 10 s"),
        timeline=[
            TimelineEntry(at=declared, type="declared", id="am-7f3a", summary="Problème détecté", phase=Phase.TRIAGE),
            TimelineEntry(at=declared + timedelta(minutes=5), type="updated", id="u-1", summary="Fix en cours",
                          phase=Phase.FIX),
            TimelineEntry(at=now - timedelta(minutes=8), type="updated", id="u-2", summary="Review",
                          phase=Phase.REVIEW),
        ],
        version=3,
    )
    status = _CLOSING.get(MessageName(message)) if message is not None else None
    if status is not None:
        state.status = status
        state.closed_at = now - timedelta(minutes=2)
        state.phase = Phase.RESOLVED if status is Status.RESOLVED else state.phase
    if status is Status.RESOLVED:
        state.root_cause = "A config change set the payment client timeout to 0"
        state.postmortem_at = (now + timedelta(days=2)).replace(hour=14, minute=0, second=0)
        state.checks = {"review": True, "staging": True, "smoke_test": True, "production": True}
    elif status is Status.CANCELLED:
        state.reason = "False alarm: a synthetic probe was misconfigured"
    elif message is not None and MessageName(message) is MessageName.ROLLBACK:
        state.reason = "The fix broke the refund flow"
        state.next_approach = "Patch the timeout in the payment client only, behind a flag"
        rolled_at = now - timedelta(minutes=2)
        state.attempts = [Attempt(number=1, rolled_back_at=rolled_at, event_id="sample-rollback", reason=state.reason,
                                  next_approach=state.next_approach, service_restored=True, fix=state.fix,
                                  checks={"review": True, "staging": True, "smoke_test": True, "production": True})]
        state.rollbacks, state.phase, state.checks, state.fix = 1, Phase.FIX, {}, Fix()
        state.service_restored, state.service_restored_at = True, rolled_at
        state.postmortem_at = (now + timedelta(days=2)).replace(hour=14, minute=0, second=0)
    return state


def sample_event(message: MessageName, now: datetime | None = None) -> dict[str, Any] | None:
    """The event that triggers ``message`` as plain JSON; None for daemon-originated messages."""
    now = _now(now)
    hotfix = sample_hotfix(now=now)
    base = {"ticket": TICKET, "id": f"sample-{MessageName(message).value}", "at": _iso(now), "source": "sample"}
    events: dict[MessageName, dict[str, Any]] = {
        MessageName.ANNOUNCEMENT: {
            "type": "declared", "at": _iso(now - DECLARED_AGO), "severity": hotfix.severity, "title": hotfix.title,
            "impact": hotfix.impact, "users_affected": hotfix.users_affected,
            "team": hotfix.team.model_dump(exclude_none=True), "eta": _iso(hotfix.eta or now),
        },
        MessageName.UPDATE: {
            "type": "updated", "message": hotfix.message, "next_step": hotfix.next_step,
            "eta": _iso(hotfix.eta or now), "phase": Phase.REVIEW.value,
        },
        MessageName.RESOLUTION: {
            "type": "resolved", "root_cause": "A config change set the payment client timeout to 0",
            "fix": {"pr": "4711", "commit": "9c1e2ab"},
            "postmortem_at": _iso((now + timedelta(days=2)).replace(hour=14, minute=0, second=0)),
        },
        MessageName.ROLLBACK: {"type": "rolled_back", "at": _iso(now - timedelta(minutes=2)),
                               "reason": "The fix broke the refund flow",
                               "next_approach": "Patch the timeout in the payment client only, behind a flag",
                               "service_restored": True},
        MessageName.CANCELLATION: {"type": "cancelled", "reason": "False alarm: a synthetic probe was misconfigured"},
    }
    found = events.get(MessageName(message))
    if found is None:
        return None
    out = {**base, **found}
    if isinstance(out.get("severity"), Severity):
        out["severity"] = out["severity"].value
    return out


def sample_notice(message: MessageName, now: datetime | None = None) -> dict[str, Any] | None:
    """The data of a daemon-originated ``message``; None for messages triggered by an event."""
    now = _now(now)
    notices: dict[MessageName, dict[str, Any]] = {
        MessageName.REMINDER: {"overdue_by": 300, "last_update_at": _iso(now - timedelta(minutes=20)),
                               "update_every": 900},
        MessageName.ESCALATION: {"reason": "deadline_breached", "time_left": -BREACHED_BY.total_seconds(),
                                 "propose_rollback": True},
        MessageName.GUARDRAIL: {"missing": ["review", "smoke_test"], "phase": Phase.PRODUCTION.value},
        MessageName.POSTMORTEM: {"postmortem_at": _iso((now + timedelta(hours=1)).replace(second=0)),
                                 "postmortem_url": f"https://herald.example.com/hotfix/{TICKET}/postmortem"},
        MessageName.ASSIGNMENT: {"role": "reviewer", "person": "Chloé"},
        MessageName.REVIEW_REQUEST: {"role": "reviewer", "person": "Chloé", "target": Phase.REVIEW.value},
        MessageName.DEPLOY_REQUEST: {"role": "devops", "person": "Dan", "target": Phase.PRODUCTION.value},
        MessageName.APPROVAL_REQUEST: {
            "approval": {"id": "ap-5a3c9e1f0b2d", "audience": "customers", "message": "update",
                         "since": _iso(now - timedelta(minutes=2)), "held_at": _iso(now - timedelta(minutes=2)),
                         "replaces": [], "approvers": ["Alice", "Bob"], "timeout_at": _iso(now + timedelta(minutes=3)),
                         "locale": "en", "editable": ["message", "next_step"]},
            "preview": "🔄 UPDATE — The fix is being reviewed; the payment page is back for most customers.\n"
                       "Next step: deploy to production",
            "links": {action: f"https://herald.example.com/approval/sample-token?do={action}"
                      for action in ("approve", "edit", "decline")},
        },
    }
    return notices.get(MessageName(message))


def sample_digest(now: datetime | None = None, count: int = 3) -> dict[str, Any]:
    """An update notice folding ``count`` updates, oldest first."""
    now = _now(now)
    steps = ["Reproduced on staging", "Fix written, PR #4711 open", "Review in progress"]
    return {"digest": [
        {"type": "updated", "ticket": TICKET, "id": f"d-{i}", "at": _iso(now - timedelta(minutes=5 * (count - i))),
         "message": steps[i % len(steps)] if count <= len(steps) else f"{steps[i % len(steps)]} ({i + 1})"}
        for i in range(count)
    ]}


#: The other texts of a message that ``hotfix preview MESSAGE --case NAME`` shows (the first is the default).
CASES: dict[MessageName, tuple[str, ...]] = {
    MessageName.ANNOUNCEMENT: ("declared", "raised", "customer_impact"),
    MessageName.UPDATE: ("review", "fix", "production", "digest"),
    MessageName.REMINDER: ("update", "triage", "deploy"),
    MessageName.ESCALATION: ("breached", "at_risk", "unanswered", "needs_access", "triage", "deploy"),
    MessageName.ROLLBACK: ("restored", "not_restored"),
    MessageName.GUARDRAIL: ("production", "resolution"),
    MessageName.POSTMORTEM: ("before", "overdue", "report"),
}


def sample_case(message: MessageName, case: str | None, severity: Severity = Severity.P0,
                now: datetime | None = None) -> tuple[HotfixState, dict[str, Any] | None, dict[str, Any] | None]:
    """(hotfix, event, notice) of one text of ``message`` (its default when ``case`` is None or its first).

    Raises ``ValueError`` naming the known cases for an unknown one.
    """
    now = _now(now)
    message = MessageName(message)
    known = CASES.get(message, ("default",))
    if case is not None and case not in known:
        raise ValueError(f"unknown case {case!r} for {message.value} (one of {', '.join(known)})")
    hotfix = sample_hotfix(severity, now=now, message=message)
    event, notice = sample_event(message, now=now), sample_notice(message, now=now)
    if case is None or case == known[0]:
        return hotfix, event, notice
    left = int((hotfix.deadline - now).total_seconds()) if hotfix.deadline else 0
    since = _iso(now - timedelta(minutes=17))
    box = {"triage": ("triage_overdue", 900, Phase.TRIAGE), "deploy": ("deploy_overdue", 1800, Phase.STAGING)}
    if case == "raised":
        notice = {"raised_from": Severity.P2.value}
    elif case == "customer_impact":
        hotfix.customer_impact = True
        notice = {"customer_impact": True}
    elif case in ("fix", "production"):
        phase = Phase(case)
        hotfix.phase = phase
        event = {**(event or {}), "phase": phase.value}
        notice = {"entered": phase.value}
    elif case == "digest":
        event, notice = None, sample_digest(now)
    elif case in box and message is MessageName.REMINDER:
        reason, within, phase = box[case]
        hotfix.phase = phase
        notice = {"reason": reason, "since": since, "within": within, "overdue_by": 17 * 60 - within,
                  "time_left": left, "phase": phase.value, "propose_rollback": False}
    elif case in box:
        reason, within, phase = box[case]
        hotfix.phase = phase
        notice = {"reason": reason, "since": _iso(now - timedelta(seconds=2 * within + 60)), "within": within,
                  "overdue_by": within + 60, "time_left": left, "phase": phase.value, "propose_rollback": False}
    elif case == "at_risk":
        hotfix = sample_hotfix(severity, now=now)
        hotfix.deadline = now + timedelta(minutes=10)
        notice = {"reason": "deadline_at_risk", "time_left": 600, "propose_rollback": severity is Severity.P0}
    elif case == "unanswered":
        hotfix = sample_hotfix(severity, now=now)
        notice = {"reason": "update_overdue", "time_left": int((hotfix.deadline - now).total_seconds())
                  if hotfix.deadline else 0, "propose_rollback": False,
                  "last_update_at": _iso(now - timedelta(minutes=31))}
    elif case == "needs_access":
        hotfix = sample_hotfix(severity, now=now)
        hotfix.needs_access = "Read access to the production payments database"
        notice = {"reason": "needs_access", "needs_access": hotfix.needs_access, "propose_rollback": False}
    elif case == "not_restored":
        hotfix.service_restored, hotfix.service_restored_at = False, None
        hotfix.attempts = [a.model_copy(update={"service_restored": False}) for a in hotfix.attempts]
        event = {**(event or {}), "service_restored": False}
    elif case == "resolution":
        hotfix = sample_hotfix(severity, now=now, message=MessageName.RESOLUTION)
        hotfix.checks = {"staging": True, "production": True}
        notice = {"missing": ["review", "smoke_test"], "phase": Phase.RESOLVED.value}
    elif case == "overdue" and hotfix.postmortem_at is not None:
        hotfix.postmortem_at = (now - timedelta(days=1)).replace(minute=0, second=0)
        notice = {"postmortem_at": _iso(hotfix.postmortem_at), "overdue": True,
                  "overdue_by": int((now - hotfix.postmortem_at).total_seconds())}
    elif case == "report":
        report = {"summary": "A release set the payment client timeout to 0; every EU card payment failed for 38 min",
                  "root_cause_analysis": "The timeout default changed in the client library and no config set it",
                  "why_not_caught": "Staging pins the old library; no alert on the payment error rate",
                  "prevention": "Alert on the payment error rate; staging uses production's dependency lock",
                  "actions": [{"title": "Alert on payment error rate > 2 %", "owner": "Dan", "ticket": "OPS-311"},
                              {"title": "Staging uses the production lock file", "owner": "Bob", "ticket": "OPS-312"},
                              {"title": "Explicit timeouts in every client config"}],
                  "follow_up": "INC-1043"}
        hotfix.phase = Phase.POSTMORTEM
        hotfix.postmortem = PostmortemRecord(at=now, by="Alice", **report)
        event = {"type": "postmortem", "ticket": TICKET, "id": "sample-postmortem", "at": _iso(now), "source": "sample",
                 "by": "Alice", **report}
        notice = None
    return hotfix, event, notice
