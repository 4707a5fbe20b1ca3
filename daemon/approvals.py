"""Messages held for approval: what is held, what supersedes it, and what a decision releases. Pure.

A message for an audience whose ``[audiences.X] approval`` names people is not sent: ``hold`` keeps
it on the hotfix (``state.held``, one per audience) and asks each approver with an
``approval_request``. An approver, or ``approval_timeout``, decides; ``decide`` and ``expire`` return
what to send (``Released``), which ``planner.plan_released`` turns into jobs.

Invariants:

- one held message per audience: a later message for it supersedes the held one (the audience gets the
  latest state once, not a backlog); the new one takes a new ``id`` — an approver never approves what
  they were not shown — and keeps the chain's ``since``, from which ``approval_timeout`` counts; an
  announcement the audience never received stays an announcement until a resolution or a cancellation
  replaces it;
- a decision applies to the held message it names, once: an id already decided, or superseded, is
  answered with what became of it and changes nothing;
- every hold, supersession and decision is a timeline entry and an ``Approval`` record (who, when,
  why); a message sent after ``approval_timeout`` is marked unapproved;
- when the hotfix closes (resolved, cancelled), a held message that told of it in progress is withdrawn
  (``withdraw``): neither an approver nor the timeout sends it any more; a closing message stays held;
- the functions change no input: they return new states whose changed lists are new lists.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from daemon import timeline
from hotfix.enums import Decision, MessageName, Status
from hotfix.routing import PERSON_AUDIENCE, Delivery, expand, team_channels, to_person
from hotfix.settings import Settings
from hotfix.state import Approval, Held, HotfixState, TimelineEntry
from hotfix.text import printable

#: Timer names of approval timeouts are ``approval:<audience>``.
TIMER = "approval:"
#: The free-text parts an approver may reword (event and hotfix fields of the same name).
EDITABLE = ("title", "message", "next_step", "impact", "users_affected", "root_cause", "reason", "next_approach")
#: The longest an edited text may be (as an event's free text).
EDIT_MAX = 4000
#: Messages that end a story: they replace a held announcement the audience never received.
_CLOSING = (MessageName.RESOLUTION, MessageName.CANCELLATION)
#: The audience name of an approver's own copy of an approval request.
PERSON = PERSON_AUDIENCE


@dataclass
class Released:
    """What a decision (or the timeout) does: the new state, what to send, and the wording to send it in.

    ``view`` is the state the released message is rendered from (``state`` with the approver's edits);
    ``counts`` are ``hotfix.communication`` counters; ``answer`` says what happened, for the CLI and the page.
    """

    state: HotfixState
    deliveries: list[Delivery] = field(default_factory=list)
    event: dict[str, Any] | None = None
    view: HotfixState | None = None
    counts: list[tuple[str, ...]] = field(default_factory=list)
    answer: str = ""


class NotHeld(LookupError):
    """No message of this id is waiting: ``str()`` says what became of it."""


def approvers(settings: Settings, audience: str) -> list[str]:
    """The people who may approve the audience's messages (none: its messages are not held)."""
    found = settings.audiences.get(audience)
    return list(found.approval) if found is not None else []


def held_id(ticket: str, audience: str, cause: str, message: MessageName) -> str:
    """A stable id of one held message (``ap-`` and 12 hex digits)."""
    digest = hashlib.sha256("\x1f".join([ticket, audience, cause, message.value]).encode()).hexdigest()
    return f"ap-{digest[:12]}"


def hold(state: HotfixState, deliveries: list[Delivery], event: dict[str, Any] | None, settings: Settings,
         now: datetime) -> tuple[list[Delivery], list[Delivery], list[tuple[str, ...]]]:
    """Keep the deliveries to audiences with approvers on ``state`` (a copy the caller owns, whose lists are
    replaced, never changed); return (what goes now, the approval requests, the counters)."""
    kept: list[Delivery] = []
    by_audience: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        if approvers(settings, delivery.audience):
            by_audience.setdefault(delivery.audience, []).append(delivery)
        else:
            kept.append(delivery)
    asks: list[Delivery] = []
    counts: list[tuple[str, ...]] = []
    for audience, group in by_audience.items():
        first = group[0]
        previous = next((h for h in state.held if h.audience == audience), None)
        message = first.message
        if previous is not None and previous.message is MessageName.ANNOUNCEMENT and message not in _CLOSING:
            message = MessageName.ANNOUNCEMENT
        new = Held(id=held_id(state.ticket, audience, first.cause, message), audience=audience, message=message,
                   cause=first.cause, since=previous.since if previous is not None else now, held_at=now,
                   event=event, notice=first.notice,
                   replaces=[*previous.replaces, previous.id] if previous is not None else [])
        if previous is not None and previous.id == new.id:
            continue  # the same message held again (Teams and email of one delivery): nothing new
        state.held = [h for h in state.held if h.audience != audience] + [new]
        names = " or ".join(approvers(settings, audience))
        if previous is not None:
            _decided(state, previous, Decision.SUPERSEDED, now, reason=f"replaced by {new.id}")
            counts.append(("approvals", Decision.SUPERSEDED.value))
            summary = f"{new.message.value} for {audience} held for approval by {names}, replacing {previous.id}"
        else:
            summary = f"{new.message.value} for {audience} held for approval by {names}"
        _timeline(state, TimelineEntry(at=now, type="held", id=new.id, summary=summary,
                                       what=_what(new, names, replaces=previous.id if previous is not None else None)))
        counts.append(("messages_held", audience))
        asks += requests(state, new, settings)
    return kept, asks, counts


def _what(held: Held, who: str | None, **more: Any) -> dict[str, Any]:
    """An approval step's timeline line as data: which message, for whom, who (approvers or decider), and more."""
    what = {"message": held.message.value, "audience": held.audience, "who": who, **more}
    return {k: v for k, v in what.items() if v not in (None, "", False)}


def requests(state: HotfixState, held: Held, settings: Settings) -> list[Delivery]:
    """An ``approval_request`` to each approver: at their own address, and mentioning them in the team's channels."""
    notice = request_notice(state, held, settings)
    announce = settings.policy(state.severity).announce if state.severity is not None else []
    channels = team_channels([*announce, *state.announced_to], settings)
    out: list[Delivery] = []
    for name in approvers(settings, held.audience):
        out += to_person(MessageName.APPROVAL_REQUEST, name, settings, f"approval-request:{held.id}:{name}",
                         channels=channels, notice=notice)
    return out


def request_notice(state: HotfixState, held: Held, settings: Settings) -> dict[str, Any]:
    """What an approval request says: the held message (to render it), its approvers and its timeout."""
    timeout = settings.policy(state.severity).approval_timeout if state.severity is not None else None
    return {"approval": {
        "id": held.id, "audience": held.audience, "message": held.message.value, "since": held.since.isoformat(),
        "held_at": held.held_at.isoformat(), "replaces": list(held.replaces), "approvers": approvers(settings, held.audience),
        "timeout_at": (held.since + timeout).isoformat() if timeout else None,
        "locale": settings.audience_locale(held.audience).value, "event": held.event, "notice": held.notice,
        "editable": editable(held),
    }}


def editable(held: Held) -> list[str]:
    """The free-text parts of a held message an approver may reword (those its event carries, or the basics)."""
    present = [k for k in EDITABLE if held.event and isinstance(held.event.get(k), str)]
    return present or ["message"]


def find(state: HotfixState, held_id_: str) -> Held:
    """The held message ``held_id_`` of ``state``, or ``NotHeld`` saying what became of it."""
    for held in state.held:
        if held.id == held_id_:
            return held
    for record in state.decisions:
        if record.id == held_id_:
            who = f" by {record.by}" if record.by else ""
            raise NotHeld(f"{held_id_} was already {record.decision.value}{who} at {record.at.isoformat(timespec='seconds')}"
                          + (f" ({record.reason})" if record.reason else ""))
    raise NotHeld(f"no message {held_id_} is held on {state.ticket}")


def decide(state: HotfixState, held_id_: str, decision: Decision, settings: Settings, now: datetime, *,
           by: str, edits: Mapping[str, str] | None = None, reason: str | None = None) -> Released:
    """An approver's decision on a held message: approve (with ``edits``: edited) or decline. ``NotHeld`` if gone.

    ``by``, ``reason`` and ``edits`` are cleaned of control characters (``hotfix.text``) and bounded before they are
    recorded: they reach the state, the timeline, the pages and the released message like an event's texts.
    """
    if decision not in (Decision.APPROVED, Decision.EDITED, Decision.DECLINED):
        raise ValueError(f"an approver approves or declines, not {decision.value}")
    held = find(state, held_id_)
    by = printable(by).strip()[:100]
    if not by:
        raise ValueError("by: say who decides")
    reason = printable(reason).strip()[:EDIT_MAX] or None if reason else None
    after = _copy(state)
    after.held = [h for h in after.held if h.id != held.id]
    clean = check_edits(held, edits or {})
    if decision is Decision.DECLINED:
        _decided(after, held, Decision.DECLINED, now, by=by, reason=reason)
        _timeline(after, TimelineEntry(at=now, type="declined", id=f"{held.id}:declined", summary=(
            f"{held.message.value} for {held.audience} declined by {by}" + (f": {reason}" if reason else "")), by=by,
            what=_what(held, by, reason=reason)))
        return Released(after, counts=[("approvals", Decision.DECLINED.value)],
                        answer=f"{held.id} declined: {held.audience} will not receive this {held.message.value}")
    decision = Decision.EDITED if clean else Decision.APPROVED
    _decided(after, held, decision, now, by=by, edits=clean)
    verb = "approved with edits" if clean else "approved"
    deliveries = _deliveries(held, settings)
    _timeline(after, TimelineEntry(at=now, type="approved", id=f"{held.id}:approved",
                                   summary=f"{held.message.value} for {held.audience} {verb} by {by}{_unsent(deliveries)}",
                                   by=by, what=_what(held, by, edited=bool(clean), unsent=not deliveries)))
    return _release(after, held, deliveries, clean, [("approvals", decision.value)], verb,
                    f"{held.id} {verb}: {held.message.value} sent to {held.audience}")


def expire(state: HotfixState, audience: str, settings: Settings, now: datetime) -> Released | None:
    """The audience's held message goes out unapproved if its ``approval_timeout`` has passed; None otherwise."""
    held = next((h for h in state.held if h.audience == audience), None)
    due = timeout_at(state, held, settings) if held is not None else None
    if held is None or due is None or due > now:
        return None
    after = _copy(state)
    after.held = [h for h in after.held if h.id != held.id]
    _decided(after, held, Decision.TIMEOUT, now, reason="no approver decided in time")
    deliveries = _deliveries(held, settings)
    said = "sent UNAPPROVED" if deliveries else "timed out"
    _timeline(after, TimelineEntry(at=now, type="approval_timeout", id=f"{held.id}:timeout", summary=(
        f"{held.message.value} for {held.audience} {said}: nobody decided within the approval timeout"
        f"{_unsent(deliveries)}"), what=_what(held, None, unsent=not deliveries)))
    return _release(after, held, deliveries, {}, [("approvals", Decision.TIMEOUT.value)], "timed out",
                    f"{held.id} sent unapproved after the timeout")


def withdraw(state: HotfixState, status: Status, now: datetime) -> list[tuple[str, ...]]:
    """At a step that closed the hotfix (``status``): withdraw every held message but the closing ones (``state`` is a
    copy the caller owns; its lists are replaced); the counters. An update held for customers would otherwise reach
    them after the resolution, by an approver's click or unapproved by the timeout, saying it is still in progress."""
    stale = [h for h in state.held if h.message not in _CLOSING]
    if not stale:
        return []
    state.held = [h for h in state.held if h.message in _CLOSING]
    closed = status.value
    for held in stale:
        _decided(state, held, Decision.WITHDRAWN, now, reason=f"the hotfix was {closed} before a decision")
        _timeline(state, TimelineEntry(at=now, type="withdrawn", id=f"{held.id}:withdrawn", summary=(
            f"{held.message.value} for {held.audience} withdrawn, never sent: the hotfix was {closed} before a decision"),
            what=_what(held, None, closed=closed)))
    return [("approvals", Decision.WITHDRAWN.value)] * len(stale)


def timeout_at(state: HotfixState, held: Held, settings: Settings) -> datetime | None:
    """When a held message goes out unapproved (None: it waits for an approver)."""
    timeout = settings.policy(state.severity).approval_timeout if state.severity is not None else None
    return held.since + timeout if timeout else None


def check_edits(held: Held, edits: Mapping[str, str]) -> dict[str, str]:
    """The edits that change something, without control characters; ``ValueError`` naming a part that cannot be
    edited or is too long."""
    out: dict[str, str] = {}
    for name, value in edits.items():
        if name not in EDITABLE:
            raise ValueError(f"{name}: not an editable part (one of {', '.join(EDITABLE)})")
        text = printable(value).strip()  # the door of an approver's text, as parse_event is an event's
        if len(text) > EDIT_MAX:
            raise ValueError(f"{name}: at most {EDIT_MAX} characters")
        if text and text != ((held.event or {}).get(name) or ""):
            out[name] = text
    return out


def _deliveries(held: Held, settings: Settings) -> list[Delivery]:
    """What releasing ``held`` sends now: nothing when its audience left the configuration (or lost its channels)."""
    return expand(held.message, [held.audience], settings, f"approval:{held.id}", held.notice)


def _unsent(deliveries: list[Delivery]) -> str:
    """The end of a release's timeline summary: why nothing went out, when nothing did."""
    return "" if deliveries else ", but nothing was sent: the audience has no channel in the configuration now"


def _release(after: HotfixState, held: Held, deliveries: list[Delivery], edits: dict[str, str],
             counts: list[tuple[str, ...]], decided: str, answer: str) -> Released:
    event = {**(held.event or {}), **edits} if held.event is not None or edits else None
    view = after.model_copy(update={k: v for k, v in edits.items() if k in HotfixState.model_fields})
    if not deliveries:  # the audience left the configuration (or lost its channels) while the message was held
        answer = f"{held.id} {decided}, but nothing was sent: audience {held.audience!r} has no channel in the configuration now"
    return Released(after, deliveries, event, view, counts, answer)


def _decided(state: HotfixState, held: Held, decision: Decision, now: datetime, *, by: str | None = None,
             reason: str | None = None, edits: dict[str, str] | None = None) -> None:
    state.decisions = [*state.decisions, Approval(id=held.id, audience=held.audience, message=held.message.value,
                                                  held_at=held.held_at, decision=decision, at=now, by=by,
                                                  reason=reason, edits=edits or {})]


def _timeline(state: HotfixState, entry: TimelineEntry) -> None:
    state.timeline = list(state.timeline)
    timeline.add_entry(state, entry)


def _copy(state: HotfixState) -> HotfixState:
    after = state.fork()
    after.version += 1
    return after
