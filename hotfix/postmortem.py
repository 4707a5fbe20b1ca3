"""The post-mortem draft: the playbook's "Phase 4 : Post-mortem", filled from a hotfix's record.

``build(state, receipts, settings, now)`` is pure: from the state (timeline, attempts, guardrails,
approval decisions) and the delivery receipts it computes the figures a post-mortem reviews — the
time spent in each phase, the time to the first announcement, updates on time and late against
``update_every``, the deadline met or missed and by how much, who was told what and when — and
``render_md`` writes them as the playbook's checklist (fr or en, ``templates/<locale>/postmortem.md.j2``).

Invariants, which the figures keep with the timeline they come from:

- ``phases`` sums to ``duration_s``: the time from the declaration to the closing (to ``now`` while open),
  split at every timeline entry that changed the phase (a rollback goes back to ``fix``), each stretch within a
  second of its length (its rounded ends' difference);
- ``updates_total`` is the number of ``updated`` entries of the timeline while the hotfix was open; one is
  late when more than ``update_every`` passed since the previous word (declaration, update or rollback);
- ``time_to_announce_s`` runs from the declaration to the first announcement a receipt says was sent;
- ``deadline_met`` is None while an open hotfix is still within its deadline, and for a false alarm;
- ``report`` is what a ``postmortem`` event reported (None before): the draft shows its answers in place of
  the questions left "to complete in the meeting".
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from hotfix import dates
from hotfix.durations import format_span
from hotfix.enums import EventType, Locale, MessageName, Phase, Status
from hotfix.settings import SHIPPED_TEMPLATES, Settings
from hotfix.state import HotfixState, PostmortemRecord, TimelineEntry
from hotfix.templating import environment

#: Timeline entries that are people's word to the audiences (what ``update_every`` paces).
WORD = (EventType.DECLARED.value, EventType.UPDATED.value, EventType.ROLLED_BACK.value)
#: The template of the draft, per locale, beside the coordination document's.
TEMPLATE = "postmortem.md.j2"


class PhaseSpan(BaseModel):
    """One stretch of time in one phase."""

    phase: Phase
    start: datetime
    end: datetime
    seconds: int


class UpdateFigure(BaseModel):
    """One update: when, how long after the previous word, and whether that was too long."""

    at: datetime
    id: str
    gap_s: int
    late: bool
    summary: str = ""


class RollbackFigure(BaseModel):
    """One attempt that was rolled back."""

    number: int
    at: datetime
    reason: str | None = None
    next_approach: str | None = None
    service_restored: bool = False
    pr: str | None = None


class GuardrailFigure(BaseModel):
    """A golden rule broken: the check that was missing, and when."""

    check: str
    at: datetime | None = None


class DeliveryFigure(BaseModel):
    """Who was told what, and when (one receipt)."""

    message: str
    audience: str
    channel: str
    recipient: str
    status: str
    at: datetime | None = None


class ApprovalFigure(BaseModel):
    """A message held for approval and what became of it."""

    id: str
    message: str
    audience: str
    held_at: datetime
    decision: str | None = None
    by: str | None = None
    at: datetime | None = None
    reason: str | None = None
    wait_s: int | None = None


class Postmortem(BaseModel):
    """The post-mortem draft of one hotfix (``hotfix postmortem T --format json``)."""

    ticket: str
    title: str
    severity: str | None
    status: str
    generated_at: datetime
    declared_at: datetime | None
    closed_at: datetime | None
    duration_s: int | None
    deadline: datetime | None
    deadline_met: bool | None
    deadline_margin_s: int | None = Field(description="deadline minus the end: positive = early, negative = late by")
    first_announcement_at: datetime | None
    time_to_announce_s: int | None
    update_every_s: int | None
    updates_total: int
    updates_late: int
    updates_on_time: int
    longest_silence_s: int | None
    updates: list[UpdateFigure]
    phases: dict[str, int]
    phase_spans: list[PhaseSpan]
    rollbacks: list[RollbackFigure]
    guardrails: list[GuardrailFigure]
    deliveries: list[DeliveryFigure]
    told: dict[str, list[str]] = Field(description="message → audiences it reached (a sent receipt)")
    approvals: list[ApprovalFigure]
    root_cause: str | None
    fix: dict[str, Any]
    postmortem_at: datetime | None
    timeline: list[TimelineEntry]
    report: PostmortemRecord | None = Field(None, description="what a postmortem event reported: answers, "
                                            "corrective actions, follow-up ticket")


def build(state: HotfixState, receipts: list[dict[str, Any]], settings: Settings, now: datetime) -> Postmortem:
    """The draft of ``state`` with its delivery ``receipts`` at ``now`` (pure)."""
    start = state.declared_at
    end = state.closed_at if state.closed_at is not None else now
    policy = settings.policy(state.severity) if state.severity is not None else None
    every = policy.update_every if policy is not None else None
    sent = [r for r in receipts if r.get("status") == "sent"]
    first = min((dates.parse(r.get("at")) for r in sent if r.get("message") == MessageName.ANNOUNCEMENT.value),
                default=None, key=lambda t: t or end)
    updates, silence = _updates(state, every, end)
    spans = _phases(state, end)
    phases: dict[str, int] = {}
    for span in spans:
        phases[span.phase.value] = phases.get(span.phase.value, 0) + span.seconds
    met, margin = _deadline(state, end)
    told: dict[str, list[str]] = {}
    for r in sent:
        audiences = told.setdefault(str(r.get("message")), [])
        if r.get("audience") not in audiences:
            audiences.append(str(r.get("audience")))
    return Postmortem(
        ticket=state.ticket, title=state.title, severity=state.severity.value if state.severity else None,
        status=state.status.value, generated_at=now, declared_at=start, closed_at=state.closed_at,
        duration_s=_seconds(end - start) if start is not None else None,
        deadline=state.deadline, deadline_met=met, deadline_margin_s=margin,
        first_announcement_at=first,
        time_to_announce_s=_seconds(first - start) if first is not None and start is not None else None,
        update_every_s=_seconds(every) if every else None,
        updates_total=len(updates), updates_late=sum(u.late for u in updates),
        updates_on_time=sum(not u.late for u in updates), longest_silence_s=silence, updates=updates,
        phases=phases, phase_spans=spans,
        rollbacks=[RollbackFigure(number=a.number, at=a.rolled_back_at, reason=a.reason, next_approach=a.next_approach,
                                  service_restored=a.service_restored, pr=a.fix.pr) for a in state.attempts],
        guardrails=[_guardrail(g) for g in state.guardrails],
        deliveries=[DeliveryFigure(**{k: str(r.get(k) or "") for k in ("message", "audience", "channel", "recipient",
                                                                       "status")}, at=dates.parse(r.get("at"))) for r in receipts],
        told=told, approvals=approvals(state), root_cause=state.root_cause,
        fix=state.fix.model_dump(exclude_none=True), postmortem_at=state.postmortem_at,
        timeline=list(state.timeline), report=state.postmortem,
    )


def approvals(state: HotfixState) -> list[ApprovalFigure]:
    """Every message held for approval (decided or still waiting), oldest first."""
    out = [ApprovalFigure(id=d.id, message=d.message, audience=d.audience, held_at=d.held_at, decision=d.decision,
                          by=d.by, at=d.at, reason=d.reason, wait_s=_seconds(d.at - d.held_at))
           for d in state.decisions]
    out += [ApprovalFigure(id=h.id, message=h.message.value, audience=h.audience, held_at=h.held_at) for h in state.held]
    return sorted(out, key=lambda a: a.held_at)


def _seconds(delta: timedelta) -> int:
    return int(round(delta.total_seconds()))


def _open_entries(state: HotfixState) -> list[TimelineEntry]:
    """Timeline entries applied while the hotfix was open (late ones left out), from its declaration on."""
    return [e for e in state.timeline if not e.late and (state.declared_at is None or e.at >= state.declared_at)]


def _updates(state: HotfixState, every: timedelta | None, end: datetime) -> tuple[list[UpdateFigure], int | None]:
    """Every update with its gap since the previous word, and the longest silence until the end."""
    if state.declared_at is None:
        return [], None
    previous = state.declared_at
    longest = timedelta(0)
    out: list[UpdateFigure] = []
    for entry in _open_entries(state):
        if entry.type not in WORD or entry.id == state.declared_id:
            continue
        gap = entry.at - previous
        longest = max(longest, gap)
        if entry.type == EventType.UPDATED.value:
            out.append(UpdateFigure(at=entry.at, id=entry.id, gap_s=_seconds(gap), late=every is not None and gap > every,
                                    summary=entry.summary))
        previous = max(previous, entry.at)
    longest = max(longest, end - previous)
    return out, _seconds(longest)


def _phases(state: HotfixState, end: datetime) -> list[PhaseSpan]:
    """The phases one after the other, from the declaration to ``end``; consecutive stretches of one phase merged."""
    if state.declared_at is None:
        return []
    origin = state.declared_at
    current, since = Phase.TRIAGE, origin
    spans: list[PhaseSpan] = []

    def seconds(start: datetime, until: datetime) -> int:
        """The stretch's whole seconds as the difference of its rounded ends (from the declaration): stretches laid end
        to end sum to the rounded duration, each within a second of its length (five stretches of 0.8 s rounded one by
        one gave 5 s for 4)."""
        return _seconds(until - origin) - _seconds(start - origin)

    def close(until: datetime) -> None:
        if until > since:
            if spans and spans[-1].phase is current:
                last = spans[-1]
                spans[-1] = PhaseSpan(phase=current, start=last.start, end=until, seconds=seconds(last.start, until))
            else:
                spans.append(PhaseSpan(phase=current, start=since, end=until, seconds=seconds(since, until)))

    for entry in _open_entries(state):
        nxt = _phase_after(entry, current)
        if entry.at > end:
            break
        if nxt is not current:
            close(entry.at)
            current, since = nxt, max(since, entry.at)
    close(end)  # the stretches lie end to end from the declaration to ``end``: their seconds sum to the duration
    return spans


def _phase_after(entry: TimelineEntry, current: Phase) -> Phase:
    if entry.type == EventType.ROLLED_BACK.value:
        return Phase.FIX
    if entry.type == EventType.RESOLVED.value:
        return Phase.RESOLVED
    if entry.type in (EventType.DECLARED.value, EventType.UPDATED.value) and entry.phase is not None:
        return entry.phase
    return current


def _deadline(state: HotfixState, end: datetime) -> tuple[bool | None, int | None]:
    """Met or missed, and the margin (positive: that much early; negative: late by that much)."""
    if state.deadline is None or state.status is Status.CANCELLED:
        return None, None
    margin = _seconds(state.deadline - end)
    if state.status is Status.RESOLVED:
        return margin >= 0, margin
    return (False, margin) if margin < 0 else (None, margin)


def _guardrail(raw: str) -> GuardrailFigure:
    check, _, at = raw.partition("@")
    return GuardrailFigure(check=check, at=dates.parse(at))


def render_md(draft: Postmortem, settings: Settings, locale: Locale | None = None) -> str:
    """The draft as the playbook's post-mortem checklist, in Markdown (``templates/<locale>/postmortem.md.j2``)."""
    locale = locale or settings.locale
    zone = ZoneInfo(settings.timezone)

    first_day = draft.declared_at.astimezone(zone).date() if draft.declared_at is not None else None

    def hhmm(value: datetime | None) -> str:
        """The time, with the date when it is not the declaration's day (a reminder two days later)."""
        if value is None:
            return "—"
        local = value.astimezone(zone)
        return local.strftime("%H:%M:%S" if local.date() == first_day else "%Y-%m-%d %H:%M:%S")

    def full(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if value is not None else "—"

    def span(value: int | float | None) -> str:
        return format_span(value, locale) if value is not None else "—"

    env = environment(settings.templates_path(), SHIPPED_TEMPLATES, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters["cell"] = lambda v: " ".join(str(v if v not in (None, "") else "—").replace("|", "\\|").split())
    env.filters["span"] = span
    template = env.get_template(f"{locale.value}/{TEMPLATE}")
    return template.render(p=draft, hhmm=hhmm, full=full, span=span)
