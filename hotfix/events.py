"""Hotfix events: the JSON producers send (the public interface; ``POST /events`` documents it in its OpenAPI schema).

``parse_event`` is the single door: it turns raw JSON into a typed event or raises
``InvalidEvent`` whose message names every bad field. It takes the caller's clock
(``now``): every date of an accepted event lies within ``hotfix.dates.WINDOW`` of it.
``load_event`` re-reads an event this door already let in (kept in a state), unchecked.
"""
from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from hotfix import dates, wire
from hotfix.classification import classify_impact
from hotfix.connection import as_text
from hotfix.enums import EventType, Phase, Severity
from hotfix.keys import TICKET_MAX, TICKET_PATTERN, TICKET_RULE
from hotfix.limits import SHORT_TEXT_MAX, STORED_CUT, STORED_TEXT_MAX, clip
from hotfix.text import printable, printable_all

Ticket = Annotated[str, Field(pattern=TICKET_PATTERN, max_length=TICKET_MAX)]
#: Free text (title, impact, messages…): never refused for its length, stored whole up to a bound.
Text = Annotated[str, AfterValidator(lambda v: clip(v, STORED_TEXT_MAX, STORED_CUT))]
#: Names, identifiers and links: refused when longer than ``SHORT_TEXT_MAX``.
ShortText = Annotated[str, Field(max_length=SHORT_TEXT_MAX)]
Title = Annotated[str, Field(min_length=1), AfterValidator(lambda v: clip(v, STORED_TEXT_MAX, STORED_CUT))]


#: The playbook's roles, in its order ("qui diagnostique ? qui développe ? qui review ? qui déploie ?").
ROLES = ("coordinator", "diagnostician", "developer", "reviewer", "devops")


class Team(BaseModel):
    """Who does what: the playbook's roles, triage's "qui diagnostique ?" included (more roles are kept as given)."""

    model_config = ConfigDict(extra="allow")

    coordinator: ShortText | None = None
    diagnostician: ShortText | None = None
    developer: ShortText | None = None
    reviewer: ShortText | None = None
    devops: ShortText | None = None

    def roles(self) -> dict[str, str]:
        """Every role that has a person, the four known ones first."""
        values = {**self.__dict__, **(self.model_extra or {})}  # what model_dump gives, without its cost (hot path)
        return {k: v for k, v in values.items() if isinstance(v, str) and v}


class Fix(BaseModel):
    """What was changed to fix it."""

    model_config = ConfigDict(extra="forbid")

    pr: ShortText | None = None
    commit: ShortText | None = None
    description: Text | None = None


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    ticket: Ticket
    id: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    at: AwareDatetime | None = None
    source: ShortText | None = None
    by: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    message: Text | None = None

    @model_validator(mode="after")
    def _dates_in_window(self, info: ValidationInfo) -> _Event:
        """Every date within ``dates.WINDOW`` of the caller's clock (``context["now"]``; no clock, no check)."""
        now = (info.context or {}).get("now")
        window = (info.context or {}).get("window", dates.WINDOW)
        found = dates.problems(self, now, window) if isinstance(now, datetime) else []
        if found:
            raise ValueError("; ".join(found))
        return self

    @property
    def event_id(self) -> str:
        """The id, which ``parse_event`` always fills."""
        assert self.id is not None
        return self.id

    @property
    def when(self) -> datetime:
        """The time, which ``parse_event`` always fills."""
        assert self.at is not None
        return self.at


class _Report(BaseModel):
    """What ``declared`` and ``updated`` may both report: triage answers and the escalation table's triggers."""

    started_at: AwareDatetime | None = None        # "depuis quand ?"
    reproducible: bool | None = None               # "reproductible ?"
    impact_confirmed: bool | None = None           # "impact réel ?"
    needs_access: Text | None = None               # "besoin d'accès spécifique" → the access audiences
    customer_impact: bool | None = None            # "impact client majeur" → the customer_impact audiences


class Declared(_Event, _Report):
    """A new hotfix: the announcement."""

    type: Literal[EventType.DECLARED] = EventType.DECLARED
    title: Title
    severity: Severity | None = None
    impact: Text | None = None
    users_affected: Text | None = None
    team: Team | None = None
    eta: AwareDatetime | None = None
    phase: Phase | None = None
    next_step: Text | None = None
    link: ShortText | None = None

    @model_validator(mode="after")
    def _classify(self) -> Declared:
        if self.severity is None:
            guess = classify_impact(self.impact, self.title)
            if guess is None:
                raise ValueError(
                    "severity: missing, and impact does not say enough to classify it "
                    "(give severity P0, P1 or P2)"
                )
            self.severity = guess
        return self


class Updated(_Event, _Report):
    """News about a running hotfix."""

    type: Literal[EventType.UPDATED] = EventType.UPDATED
    next_step: Text | None = None
    eta: AwareDatetime | None = None
    phase: Phase | None = None
    severity: Severity | None = None
    team: Team | None = None
    checks: dict[Annotated[str, Field(max_length=64)], bool] | None = None
    fix: Fix | None = None
    impact: Text | None = None
    users_affected: Text | None = None
    title: Title | None = None


class Resolved(_Event):
    """The fix is in production and confirmed."""

    type: Literal[EventType.RESOLVED] = EventType.RESOLVED
    root_cause: Text | None = None
    fix: Fix | None = None
    postmortem_at: AwareDatetime | None = None
    checks: dict[Annotated[str, Field(max_length=64)], bool] | None = None


class RolledBack(_Event):
    """The change was rolled back: the hotfix stays open and goes on with a new approach."""

    type: Literal[EventType.ROLLED_BACK] = EventType.ROLLED_BACK
    reason: Text | None = None
    next_approach: Text | None = None
    service_restored: bool | None = None


class Cancelled(_Event):
    """A false alarm."""

    type: Literal[EventType.CANCELLED] = EventType.CANCELLED
    reason: Text | None = None


#: Corrective actions one post-mortem may list.
ACTIONS_MAX = 100


class Action(BaseModel):
    """One corrective action of a post-mortem: what, who, and the ticket that tracks it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: Title
    owner: ShortText | None = None
    ticket: ShortText | None = None


class PostmortemHeld(_Event):
    """The post-mortem held (the playbook's "Phase 4"): its answers, corrective actions and follow-up ticket.

    Applies to a resolved hotfix (its phase becomes ``postmortem``) or to one that was rolled back.
    """

    type: Literal[EventType.POSTMORTEM] = EventType.POSTMORTEM
    summary: Text | None = None
    root_cause_analysis: Text | None = None        # "root cause analysis"
    why_not_caught: Text | None = None             # "pourquoi pas détecté avant ?"
    prevention: Text | None = None                 # "comment éviter à l'avenir ?"
    actions: Annotated[list[Action], Field(max_length=ACTIONS_MAX)] | None = None  # "actions correctives"
    follow_up: ShortText | None = None             # "ticket de suivi créé"


Event = Annotated[Union[Declared, Updated, Resolved, RolledBack, Cancelled, PostmortemHeld], Field(discriminator="type")]
_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
#: The fields that name something (a hotfix, an event): a control or bidi character in them is refused, never removed.
IDENTIFIERS = ("ticket", "id")
#: The event types, for error messages.
_TYPES = ", ".join(t.value for t in EventType)

class InvalidEvent(ValueError):
    """An event that cannot be applied; ``str()`` names each bad field."""

    def __init__(self, reason: str, raw: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw


def describe_errors(exc: ValidationError, *, drop_first: bool = True) -> str:
    """One ``field: problem`` clause per error, joined with ``; ``."""
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        if drop_first and loc and loc[0] in {t.value for t in EventType}:
            loc = loc[1:]  # the discriminator tag is noise for the reader
        field = ".".join(loc) or "event"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "string_pattern_mismatch" and (err.get("ctx") or {}).get("pattern") == TICKET_PATTERN:
            msg = TICKET_RULE  # the rule in words, not the regular expression
        if msg.startswith(field + ":") or (not loc and re.match(r"^[A-Za-z0-9_.]+: ", msg)):
            parts.append(msg)
        else:
            parts.append(f"{field}: {msg}")
    return "; ".join(parts)


def parse_event(raw: str | bytes | dict[str, Any], *, now: datetime | None = None, default_id: str | None = None,
                default_at: datetime | None = None, window: timedelta = dates.WINDOW) -> Event:
    """Validate one event at ``now`` (default: the current time); fill ``id`` and ``at`` when absent.

    Raises ``InvalidEvent`` naming each bad field, a date out of ``window`` of ``now`` included (the doors
    use ``dates.WINDOW``; the daemon, reading what they accepted later, adds ``dates.BACKLOG_GRACE``).
    """
    now = now or datetime.now(timezone.utc)
    if isinstance(raw, dict):
        data: Any = raw
        text = json.dumps(raw, default=str)
    elif not isinstance(raw, (str, bytes)):  # an item of a JSON array that is no object
        raise InvalidEvent(f"event: expected a JSON object, got {_kind(raw)}", json.dumps(raw, default=str)[:200])
    else:
        text = as_text(raw)
        try:
            data = wire.loads(raw)
        except wire.WireError as exc:
            raise InvalidEvent(f"event: {exc}", text) from None
    if not isinstance(data, dict):
        raise InvalidEvent(f"event: expected a JSON object, got {_kind(data)}", text)
    for name in IDENTIFIERS:  # an identifier is refused, not silently changed: INC\u202e-1 is not INC-1
        value = data.get(name)
        if isinstance(value, str) and printable(value) != value:
            raise InvalidEvent(f"{name}: control or bidi characters are not allowed in an identifier", text)
    data = printable_all(data)  # no control character is ever stored (hotfix.text)
    if "type" not in data:
        raise InvalidEvent(f"type: missing (one of {_TYPES})", text)
    if not isinstance(data["type"], str):
        raise InvalidEvent(f"type: expected a string (one of {_TYPES}), "
                           f"got {type(data['type']).__name__}", text)
    if data["type"] not in {t.value for t in EventType}:
        raise InvalidEvent(
            f"type: unknown {str(data['type'])[:40]!r} (one of {_TYPES})",
            text,
        )
    try:
        event = _ADAPTER.validate_python(data, context={"now": now, "window": window})
    except ValidationError as exc:
        raise InvalidEvent(describe_errors(exc), text) from None
    if event.id is None:
        event.id = default_id or new_event_id()
    if event.at is None:
        event.at = default_at or now
        problem = dates.window_problem(event.at, now, window)
        if problem is not None:
            raise InvalidEvent(f"at: missing, and the time of intake is {problem}", text)
    return event


def _kind(value: Any) -> str:
    """What a JSON value is, for an error: ``a number (1)``, ``an array``, ``a string``…"""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({str(value)[:20]})"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object" if isinstance(value, dict) else type(value).__name__


def load_event(data: dict[str, Any]) -> Event:
    """An event ``parse_event`` accepted earlier (kept as plain data in a state), without the date window."""
    return _ADAPTER.validate_python(data)


def new_event_id() -> str:
    """A fresh idempotency key for an event that came without one."""
    return uuid.uuid4().hex


def dump_event(event: Event) -> dict[str, Any]:
    """The event as plain JSON data (for jobs and the stream)."""
    return event.model_dump(mode="json", exclude_none=True)
