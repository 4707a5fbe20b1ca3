"""The state of one hotfix, as stored in Redis (plain JSON) and handed to workers.

States written by earlier versions still load: a stored ``status: "rolled_back"`` (when a
rollback closed the hotfix) reads as an open hotfix back in ``fix`` with one rollback whose
service was restored at the old closing time, so its deadline never escalates afterwards.
"""
from __future__ import annotations

import enum
import functools
import types
import typing
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hotfix.enums import TERMINAL_STATUSES, Decision, MessageName, Phase, Severity, Status
from hotfix.events import Action, Fix, Team
from hotfix.limits import clip_all

#: The verification checklist of the playbook's coordination template, in order; the review
#: ("accélérée, jamais skippée") is a verification like the others.
VERIFICATION_ITEMS = ("review", "staging", "smoke_test", "production", "confirmed", "monitoring")
#: Checks the golden rules require before production (and before a resolution).
REQUIRED_BEFORE_PRODUCTION = ("review", "smoke_test")
#: The daemon's own bookkeeping (dedup, field times, fired timers, announcement jobs): no view shows it.
BOOKKEEPING = frozenset({"applied_ids", "field_at", "fired", "announcement_jobs"})
#: What a job leaves out of the hotfix it carries: the bookkeeping, events waiting for the declaration,
#: guardrail marks (the message says which rule through its notice).
NOT_IN_JOBS = BOOKKEEPING | {"pending", "guardrails"}
#: Every check the playbook names, in the order of its workflow (the action page offers one box each).
KNOWN_CHECKS = ("branch", "tests", "review", "merged", "staging", "smoke_test", "production", "confirmed",
                "monitoring", "cherry_pick")


class Ack(BaseModel):
    """Someone acted on the hotfix themselves (through an action link, or an event naming them in ``by``)."""

    by: str
    at: datetime
    last: datetime | None = None
    via: str | None = None


class TimelineEntry(BaseModel):
    """One line of the timeline: an applied event or a notice Herald originated.

    ``summary`` is the line in English (the JSON view's, and the fallback of entries stored before
    ``what``); ``what`` says the same as data — people's own text (``text``), the phase, severity, roles
    and checks an update set, or which notice it was (``notice``: a timer kind or an approval step, with its
    figures) — so that each view words it in its reader's language (``<locale>/_timeline.j2``).
    """

    model_config = ConfigDict(extra="ignore")

    at: datetime
    type: str
    id: str
    summary: str = ""
    phase: Phase | None = None
    late: bool = False
    by: str | None = None
    what: dict[str, Any] = Field(default_factory=dict)


class Attempt(BaseModel):
    """One fix that was rolled back: what it was, how far it got, and why it was undone."""

    model_config = ConfigDict(extra="ignore")

    number: int
    rolled_back_at: datetime
    event_id: str = ""
    reason: str | None = None
    next_approach: str | None = None
    service_restored: bool = False
    fix: Fix = Field(default_factory=Fix)
    checks: dict[str, bool] = Field(default_factory=dict)


class PostmortemRecord(BaseModel):
    """What the post-mortem concluded (``postmortem`` events; a later one's answers win, field by field)."""

    model_config = ConfigDict(extra="ignore")

    at: datetime  # when it was reported held (the latest ``postmortem`` event)
    by: str | None = None
    summary: str | None = None
    root_cause_analysis: str | None = None
    why_not_caught: str | None = None
    prevention: str | None = None
    actions: list[Action] = Field(default_factory=list)
    follow_up: str | None = None

    def answered(self) -> list[str]:
        """The playbook's post-mortem questions this record answers."""
        return [name for name in POSTMORTEM_QUESTIONS if getattr(self, name)]


#: The playbook's "Phase 4 : Post-mortem" checklist, in order (``actions`` are the corrective actions).
POSTMORTEM_QUESTIONS = ("root_cause_analysis", "why_not_caught", "prevention", "actions")


class Held(BaseModel):
    """A message for an audience with ``approval``, kept until an approver decides (one per audience at most).

    ``since`` is when the first message of the chain was held (``approval_timeout`` counts from it);
    ``held_at`` when this one was: a later message supersedes it and takes a new ``id``, so a link
    to what an approver saw never approves what they did not see.
    """

    model_config = ConfigDict(extra="ignore")

    id: str
    audience: str
    message: MessageName
    cause: str
    since: datetime
    held_at: datetime
    event: dict[str, Any] | None = None
    notice: dict[str, Any] | None = None
    replaces: list[str] = Field(default_factory=list)


class Approval(BaseModel):
    """What became of one held message: who decided what, and when."""

    model_config = ConfigDict(extra="ignore")

    id: str
    audience: str
    message: str
    held_at: datetime
    decision: Decision
    at: datetime
    by: str | None = None
    reason: str | None = None
    edits: dict[str, str] = Field(default_factory=dict)


class HotfixState(BaseModel):
    """Everything Herald knows about one hotfix."""

    model_config = ConfigDict(extra="ignore")

    ticket: str
    declared: bool = False
    status: Status = Status.OPEN
    severity: Severity | None = None
    title: str = ""
    impact: str | None = None
    users_affected: str | None = None
    started_at: datetime | None = None
    reproducible: bool | None = None
    impact_confirmed: bool | None = None
    needs_access: str | None = None
    customer_impact: bool = False
    source: str | None = None
    link: str | None = None
    team: Team = Field(default_factory=Team)
    phase: Phase = Phase.TRIAGE
    eta: datetime | None = None
    declared_at: datetime | None = None
    declared_id: str | None = None
    deadline: datetime | None = None
    last_update_at: datetime | None = None
    closed_at: datetime | None = None
    message: str | None = None
    next_step: str | None = None
    deploy_started_at: datetime | None = None  # this attempt entered staging (the deploy time box runs)
    checks: dict[str, bool] = Field(default_factory=dict)
    fix: Fix = Field(default_factory=Fix)
    root_cause: str | None = None
    postmortem_at: datetime | None = None
    #: True when ``postmortem_at`` is the policy's default, not a date someone gave.
    postmortem_by_policy: bool = False
    #: The post-mortem's answers, once a ``postmortem`` event reported it held.
    postmortem: PostmortemRecord | None = None
    reason: str | None = None
    next_approach: str | None = None
    rollbacks: int = 0
    attempts: list[Attempt] = Field(default_factory=list)
    service_restored: bool = False
    service_restored_at: datetime | None = None
    guardrails: list[str] = Field(default_factory=list)
    #: Per role: its holder's acknowledgement (since when they are on it, and their latest action).
    acks: dict[str, Ack] = Field(default_factory=dict)
    #: Per check: who ticked it, and when (only for events that say who).
    checked_by: dict[str, Ack] = Field(default_factory=dict)
    #: Per role: when the phase last asked it to act (review → reviewer, staging/production → devops).
    requested: dict[str, datetime] = Field(default_factory=dict)
    #: Messages held for approval, one per audience at most; and every decision taken on one.
    held: list[Held] = Field(default_factory=list)
    decisions: list[Approval] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    applied_ids: list[str] = Field(default_factory=list)
    pending: list[dict[str, Any]] = Field(default_factory=list)
    announced_to: list[str] = Field(default_factory=list)
    announcement_jobs: list[str] = Field(default_factory=list)
    field_at: dict[str, datetime] = Field(default_factory=dict)
    fired: list[str] = Field(default_factory=list)
    digest: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    digest_since: dict[str, datetime] = Field(default_factory=dict)
    version: int = 0

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        """Read a state closed by a rollback (older versions) as the open hotfix it now is."""
        if isinstance(data, dict) and data.get("status") == "rolled_back":
            data = {**data, "status": Status.OPEN.value, "phase": Phase.FIX.value,
                    "rollbacks": max(1, int(data.get("rollbacks") or 0)), "service_restored": True,
                    "service_restored_at": data.get("closed_at"), "closed_at": None}
        return data

    @property
    def is_open(self) -> bool:
        return self.declared and self.status not in TERMINAL_STATUSES

    def time_left(self, now: datetime) -> timedelta | None:
        """Until the deadline (negative once breached)."""
        return None if self.deadline is None else self.deadline - now

    def eta_past_deadline(self) -> bool:
        return self.eta is not None and self.deadline is not None and self.eta > self.deadline

    def fork(self) -> HotfixState:
        """A copy whose lists and dicts (and those one level inside them) may be changed without touching this one.

        Every container field is copied, whatever its name: a new field needs no list kept by hand.
        Entries themselves (timeline entries, events) are shared: they are never changed in place.
        """
        update: dict[str, Any] = {}
        values = self.__dict__  # the fields' values, without pydantic's iterator (the hot path)
        for name, deep in _containers(type(self)):
            value = values[name]
            if type(value) is list:
                update[name] = list(value)
            elif type(value) is dict:
                update[name] = {k: _shallow(v) for k, v in value.items()} if deep else dict(value)
        return self.model_copy(update=update)

    def missing_verification(self) -> list[str]:
        """Verification items not checked yet."""
        return [item for item in VERIFICATION_ITEMS if not self.checks.get(item)]

    def clipped(self, limit: int, marker: str = "…") -> HotfixState:
        """This state with every text longer than ``limit`` cut and ended with ``marker`` (itself when none is)."""
        data = self.model_dump(mode="json")
        cut = clip_all(data, limit, marker)
        return self if cut == data else HotfixState.model_validate(cut)

    def warned(self) -> set[str]:
        """Checks a guardrail already named for the current attempt (since the last rollback)."""
        since = self.attempts[-1].rolled_back_at if self.attempts else None
        out = set()
        for mark in self.guardrails:
            check, _, at = mark.partition("@")
            if since is None or (at and datetime.fromisoformat(at) >= since):
                out.add(check)
        return out

    def acknowledged(self, role: str, since: datetime | None = None) -> Ack | None:
        """The acknowledgement of the role's current holder (acting at or after ``since``), or None."""
        ack = self.acks.get(role)
        holder = self.team.roles().get(role)
        if ack is None or holder is None or ack.by != holder:
            return None
        if since is not None and (ack.last or ack.at) < since:
            return None
        return ack


@functools.cache
def _containers(model: type[BaseModel]) -> tuple[tuple[str, bool], ...]:
    """(name, holds containers) of every field of ``model`` that may hold a list or a dict, from its annotation."""
    found = []
    for name, info in model.model_fields.items():
        kinds = _kinds(info.annotation)
        if kinds & {list, dict, Any}:
            members = _args(info.annotation)
            values = [arg for kind in members if typing.get_origin(kind) is dict for arg in typing.get_args(kind)[1:]]
            found.append((name, Any in kinds or dict in members  # a bare ``dict``: its values may be anything
                          or any(_kinds(v) & {list, dict, Any} for v in values)))
    return tuple(found)


def _args(annotation: Any) -> list[Any]:
    """The members of a union (``X | None``), or the annotation itself; ``Annotated`` unwrapped (pydantic leaves it
    inside a union: ``Annotated[list[str], …] | None``)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _args(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [member for arg in typing.get_args(annotation) for member in _args(arg)]
    return [annotation]


#: Annotations whose values are never a list or a dict (a model's own containers are never changed in place).
_PLAIN = (str, int, float, datetime, timedelta, enum.Enum, BaseModel, type(None))


def _kinds(annotation: Any) -> set[Any]:
    """The containers (list, dict) an annotation allows; ``Any`` for one that may be anything (``object``,
    ``Sequence``, an alias…): only the plain values of ``_PLAIN`` are sure to hold none."""
    out: set[Any] = set()
    for member in _args(annotation):
        origin = typing.get_origin(member) or member
        if origin in (list, dict):
            out.add(origin)
        elif not (isinstance(origin, type) and issubclass(origin, _PLAIN)):
            out.add(Any)
    return out


def _shallow(value: Any) -> Any:
    """A list or dict copied one level deep; anything else as is."""
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value
