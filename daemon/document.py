"""The coordination document (the playbook's "Template de Coordination"), stating only what was reported.

``build(state, receipts, settings, now)`` is pure: it returns a ``Document`` with one typed section
per part of the playbook's template; ``render_md`` draws it with ``<locale>/document.md.j2``, which
includes one partial per section (``<locale>/_doc_<section>.md.j2``). A new section is one builder
here, one field of ``Document`` and one partial per locale.

Invariants:

- a verification item is ticked only by an explicit ``checks`` entry, never from the phase, and
  shows when it was reported;
- a role's status comes from what its holder did: unassigned (flagged), assigned, active (the holder
  acknowledged it: acted through a link, or an event named them in ``by``), done (its own check, or
  the hotfix closed for the coordinator, naming who reported it when known); never from the phase;
- the communication checklist is ticked only from *sent* receipts to audiences of that kind
  (``[audiences.X] kind``: team, stakeholders, users), naming who and when;
- "post-mortem planned" is ticked only when someone gave its date (or a ``postmortem`` event reported it
  held); a policy default is shown as such; the post-mortem section and "follow-up ticket created" are
  filled only from a ``postmortem`` event;
- every text is cut for its place (a table cell, a heading); a long one is shown whole, bounded, in
  the last section ("full texts"), so the document stays readable and nothing is hidden.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment

from hotfix import dates
from hotfix.durations import format_span
from hotfix.enums import TERMINAL_STATUSES, AudienceKind, DeliveryStatus, EventType, Locale, Status
from hotfix.events import ROLES
from hotfix.limits import DOCUMENT_CELL_CHARS, DOCUMENT_TEXT_CHARS, SUBJECT_CHARS, clip
from hotfix.settings import Settings
from hotfix.state import VERIFICATION_ITEMS, HotfixState, PostmortemRecord
from hotfix.templating import environment

#: The checks that show a role's own work done (the coordinator's is the hotfix closed).
ROLE_CHECKS = {"developer": "merged", "reviewer": "review", "devops": "production"}
#: The verification checklist (state.VERIFICATION_ITEMS: the review, then the playbook's five items).
CHECKLIST = VERIFICATION_ITEMS
#: Receipt rows listed in the communication table (the JSON view has them all).
RECEIPT_ROWS = 200
#: Fields whose text is shown in a table cell or a short line, and whole in "full texts" when long.
LONG_FIELDS = ("title", "impact", "users_affected", "message", "next_step", "root_cause", "reason",
               "next_approach")
#: The post-mortem's free texts (``state.postmortem``), keyed as the document names them.
POSTMORTEM_TEXTS = ("summary", "root_cause_analysis", "why_not_caught", "prevention")


@dataclass(frozen=True)
class Snippet:
    """A text cut for its place; ``cut`` says the whole text is in the "full texts" section."""

    text: str
    cut: bool = False

    def __bool__(self) -> bool:
        return bool(self.text)


@dataclass(frozen=True)
class Member:
    """One row of the team table."""

    role: str
    person: Snippet
    status: str  # unassigned | assigned | active (the holder acknowledged it) | done
    since: datetime | None = None
    evidence: str | None = None  # the check (or "closed", "fix") that shows the work done
    by: str | None = None  # who reported the evidence, when the event said so


@dataclass(frozen=True)
class CheckItem:
    """One verification line: ``done`` is True/False as reported, None when nobody reported it."""

    key: str
    done: bool | None
    at: datetime | None
    by: str | None = None  # who ticked it, when the event said so (an action link always does)


@dataclass(frozen=True)
class Told:
    """Deliveries of one audience: how many recipients got a message, and when."""

    audience: str
    sent: int
    failed: int
    first: datetime | None
    last: datetime | None


@dataclass(frozen=True)
class CommunicationLine:
    """One line of the communication checklist: an audience kind and who of that kind was told."""

    kind: str
    told: bool
    audiences: list[Told]
    configured: bool  # some audience of this kind exists in the configuration


@dataclass(frozen=True)
class Receipt:
    """One row of the receipts table."""

    message: str
    audience: str
    channel: str
    recipient: Snippet
    status: str
    reason: Snippet
    at: datetime | None


@dataclass(frozen=True)
class FullText:
    """A long text shown whole (up to ``DOCUMENT_TEXT_CHARS``) at the end of the document."""

    key: str
    text: str
    cut: bool

    @property
    def fence(self) -> str:
        """A Markdown code fence longer than any run of backticks in the text."""
        longest, run = 0, 0
        for char in self.text:
            run = run + 1 if char == "`" else 0
            longest = max(longest, run)
        return "`" * max(3, longest + 1)


@dataclass(frozen=True)
class Entry:
    """One timeline row."""

    at: datetime
    type: str
    summary: Snippet
    late: bool
    by: Snippet = Snippet("")  # who acted, when the event said so
    what: dict[str, Any] = field(default_factory=dict)  # the line as data, worded per locale (<locale>/_timeline.j2)


@dataclass(frozen=True)
class ActionRow:
    """One corrective action of the post-mortem."""

    title: Snippet
    owner: Snippet
    ticket: Snippet


@dataclass(frozen=True)
class PostmortemSection:
    """What a ``postmortem`` event reported: when, by whom, its answers, actions and follow-up ticket."""

    at: datetime
    by: Snippet
    summary: Snippet
    answers: list[tuple[str, Snippet]]  # the playbook's questions in order (root cause analysis, why not caught, prevention)
    actions: list[ActionRow]
    follow_up: Snippet


@dataclass
class Document:
    """Everything the coordination document says, section by section."""

    state: HotfixState
    title: Snippet
    left_s: int | None
    texts: dict[str, Snippet]
    team: list[Member]
    unassigned: list[str]
    timeline: list[Entry]
    verification: list[CheckItem]
    other_checks: list[CheckItem]
    guardrails: list[str]
    communication: list[CommunicationLine]
    receipts: list[Receipt]
    receipts_total: int
    postmortem_at: datetime | None
    postmortem_by_policy: bool
    full_texts: list[FullText] = field(default_factory=list)
    postmortem: PostmortemSection | None = None
    #: A ``postmortem`` event came before the resolution (or a rollback) and waits for it (``state.pending``).
    postmortem_waiting: bool = False


def _snippet(value: str | None, limit: int = DOCUMENT_CELL_CHARS) -> Snippet:
    if not value:
        return Snippet("")
    flat = " ".join(value.split())
    cut = clip(flat, limit, "")
    return Snippet(cut, cut != flat or len(value) > limit)


def _team(state: HotfixState) -> list[Member]:
    roles = state.team.model_dump()
    out = []
    for role in ROLES:
        person = roles.get(role)
        check = ROLE_CHECKS.get(role)
        out_by: str | None = None
        if role == "coordinator":
            done_at = state.closed_at if state.status in TERMINAL_STATUSES else None
            evidence = state.status.value if done_at is not None else None
        elif check and state.checks.get(check):
            done_at, evidence = state.field_at.get(f"checks.{check}"), check
            ticked = state.checked_by.get(check)
            out_by = ticked.by if ticked is not None else None
        elif role == "developer" and (state.fix.pr or state.fix.commit):
            done_at, evidence = state.field_at.get("fix"), "fix"
        else:
            done_at, evidence = None, None
        ack = state.acknowledged(role)
        if not person:
            out.append(Member(role, Snippet(""), "unassigned", None, evidence))
        elif evidence is not None:
            out.append(Member(role, _snippet(person), "done", done_at, evidence,
                              out_by if evidence == check else None))
        elif ack is not None:
            out.append(Member(role, _snippet(person), "active", ack.at))
        else:
            since = state.field_at.get(f"team.{role}") or state.field_at.get("team") or state.declared_at
            out.append(Member(role, _snippet(person), "assigned", since))
    return out


def _checks(state: HotfixState) -> tuple[list[CheckItem], list[CheckItem]]:
    def item(key: str) -> CheckItem:
        ticked = state.checked_by.get(key) if state.checks.get(key) else None
        return CheckItem(key, state.checks.get(key), state.field_at.get(f"checks.{key}"),
                         ticked.by if ticked is not None else None)

    return [item(k) for k in CHECKLIST], [item(k) for k in state.checks if k not in CHECKLIST]


def _communication(receipts: list[dict[str, Any]], settings: Settings) -> list[CommunicationLine]:
    by_audience: dict[str, dict[str, Any]] = {}
    for r in receipts:
        name = str(r.get("audience") or "")
        row = by_audience.setdefault(name, {"sent": 0, "failed": 0, "times": []})
        if r.get("status") == DeliveryStatus.SENT.value:
            row["sent"] += 1
            when = dates.parse(r.get("at"))
            if when is not None:
                row["times"].append(when)
        elif r.get("status") == DeliveryStatus.FAILED.value:
            row["failed"] += 1
    lines = []
    for kind in AudienceKind:
        told = [Told(name, row["sent"], row["failed"], min(row["times"], default=None), max(row["times"], default=None))
                for name, row in by_audience.items() if settings.audience_kind(name) is kind]
        configured = any(a.kind is kind for a in settings.audiences.values())
        lines.append(CommunicationLine(kind.value, any(t.sent for t in told), told, configured))
    return lines


def _receipts(receipts: list[dict[str, Any]]) -> list[Receipt]:
    return [Receipt(str(r.get("message", "")), str(r.get("audience", "")), str(r.get("channel", "")),
                    _snippet(str(r.get("recipient") or "")), str(r.get("status", "")),
                    _snippet(r.get("reason") if isinstance(r.get("reason"), str) else None), dates.parse(r.get("at")))
            for r in receipts[:RECEIPT_ROWS]]


def _postmortem(record: PostmortemRecord | None, texts: dict[str, Snippet]) -> PostmortemSection | None:
    if record is None:
        return None
    answers = [(name, texts[f"postmortem_{name}"]) for name in POSTMORTEM_TEXTS if name != "summary"]
    actions = [ActionRow(_snippet(a.title), _snippet(a.owner), _snippet(a.ticket)) for a in record.actions]
    return PostmortemSection(record.at, _snippet(record.by), texts["postmortem_summary"], answers, actions,
                             _snippet(record.follow_up))


def _long_texts(state: HotfixState) -> tuple[dict[str, Snippet], list[FullText]]:
    texts: dict[str, Snippet] = {}
    full: list[FullText] = []
    values = {name: getattr(state, name, None) for name in LONG_FIELDS}
    values["fix_description"] = state.fix.description
    for name in POSTMORTEM_TEXTS:
        values[f"postmortem_{name}"] = getattr(state.postmortem, name) if state.postmortem else None
    for name, value in values.items():
        snippet = _snippet(value if isinstance(value, str) else None)
        texts[name] = snippet
        if snippet.cut and isinstance(value, str):
            whole = clip(value, DOCUMENT_TEXT_CHARS, "")
            full.append(FullText(name, whole, len(whole) < len(value)))
    return texts, full


def build(state: HotfixState, receipts: list[dict[str, Any]], settings: Settings, now: datetime) -> Document:
    """The document's content from the state and the delivery receipts (pure)."""
    team = _team(state)
    verification, others = _checks(state)
    texts, full = _long_texts(state)
    left = state.time_left(now)
    return Document(
        state=state,
        title=_snippet(state.title, SUBJECT_CHARS),
        left_s=int(left.total_seconds()) if left is not None and state.status is Status.OPEN else None,
        texts=texts,
        team=team,
        unassigned=[m.role for m in team if m.status == "unassigned"],
        timeline=[Entry(e.at, e.type, _snippet(e.summary), e.late, _snippet(e.by), e.what) for e in state.timeline],
        verification=verification,
        other_checks=others,
        guardrails=sorted({g.split("@")[0] for g in state.guardrails}),
        communication=_communication(receipts, settings),
        receipts=_receipts(receipts),
        receipts_total=len(receipts),
        postmortem_at=state.postmortem_at,
        postmortem_by_policy=state.postmortem_by_policy,
        full_texts=full,
        postmortem=_postmortem(state.postmortem, texts),
        postmortem_waiting=any(p.get("type") == EventType.POSTMORTEM.value for p in state.pending),
    )


@functools.lru_cache(maxsize=8)
def _environment(templates: Path) -> Environment:
    """The document's template environment for a templates folder: built once (Jinja still reloads edited files)."""
    env = environment(templates, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["cell"] = lambda v: str(v if v not in (None, "") else "—").replace("|", "\\|").replace("\n", " ")
    return env


def _formatters(zone: ZoneInfo, day: datetime | None) -> dict[str, Callable[[Any], str]]:
    reference = (dates.in_zone(day, zone).date() if day else None)

    def hhmm(value: Any) -> str:
        when = dates.parse(value)
        if when is None:
            return "—"
        same_day = dates.in_zone(when, zone).date() == reference
        return dates.local(when, zone, "%H:%M" if same_day else "%Y-%m-%d %H:%M")

    def full(value: Any) -> str:
        when = dates.parse(value)
        return dates.local(when, zone, "%Y-%m-%d %H:%M %Z")

    return {"hhmm": hhmm, "full": full}


def render_md(document: Document, settings: Settings, locale: Locale | None = None) -> str:
    """The document as Markdown in ``locale`` (default: the configured one)."""
    locale = locale or settings.locale
    zone = ZoneInfo(settings.timezone)
    state = document.state
    template = _environment(settings.templates_path()).get_template(f"{locale.value}/document.md.j2")
    return template.render(d=document, h=state, locale=locale.value,
                           span=lambda seconds: format_span(seconds, locale), **_formatters(zone, state.declared_at))


def document_md(state: HotfixState, receipts: list[dict[str, Any]], settings: Settings, now: datetime,
                locale: Locale | None = None) -> str:
    """``hotfix show --format md``: the playbook's coordination document, filled from what was reported."""
    return render_md(build(state, receipts, settings, now), settings, locale)
