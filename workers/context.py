"""The template context: pre-computed, channel-neutral data that the message templates read.

No wording lives here (that is the templates' job): only times, durations, the SLA clock,
the theme colours and the ``Doc`` that a message's content template fills and a channel
layout (text, HTML, Adaptive Card) draws.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from hotfix import dates, palette
from hotfix.enums import TERMINAL_STATUSES, Channel, Locale, MessageName, Severity, Status
from hotfix.limits import channel_text_chars, clip_all, truncation_marker
from hotfix.state import HotfixState
from hotfix.text import printable_all

log = logging.getLogger(__name__)

#: Every key an event may carry (``hotfix.events``): absent ones are None so templates can test them.
EVENT_KEYS = (
    "type", "ticket", "id", "at", "source", "message", "title", "severity", "impact", "users_affected",
    "team", "eta", "phase", "next_step", "link", "checks", "fix", "root_cause", "postmortem_at",
    "reason", "next_approach", "service_restored", "started_at", "reproducible", "impact_confirmed", "needs_access",
    "customer_impact", "by", "summary", "root_cause_analysis", "why_not_caught", "prevention", "actions", "follow_up",
)
#: Every key a daemon notice may carry, across all messages.
NOTICE_KEYS = (
    "digest", "raised_from", "overdue_by", "last_update_at", "update_every", "reason", "time_left",
    "propose_rollback", "missing", "phase", "postmortem_at", "needs_access", "customer_impact", "since", "within", "entered",
    "role", "person", "target", "again", "asked_at",
    "approval", "preview", "links", "links_by_email", "postmortem_url", "overdue",
)
#: Adaptive Card container styles matching the severity colours (``hotfix.palette``).
SEVERITY_STYLES = {Severity.P0: "attention", Severity.P1: "warning", Severity.P2: "warning"}

_WEEKDAYS = {
    Locale.FR: ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."),
    Locale.EN: ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass
class Block:
    """One piece of a message: a labelled fact, a paragraph, a list of items, or people (a fact naming people).

    A ``people`` block keeps each ``(role label, name)`` so that a Teams card can mention the names;
    its ``text`` is the plain form (``Reviewer: Chloé · DevOps: Dan``) that other channels show.
    """

    kind: str
    label: str = ""
    text: str = ""
    items: list[str] = field(default_factory=list)
    tone: str = ""
    people: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Section:
    """Consecutive blocks drawn together (facts are grouped into one table or FactSet)."""

    kind: str
    blocks: list[Block]


@dataclass
class Link:
    """A button or link (http/https only)."""

    label: str
    url: str


class Doc:
    """What one message says, channel-neutral: content templates fill it, layouts draw it.

    Every string in it is plain text (no markup): layouts escape it for their channel. ``directory``
    maps the names of ``[people]`` that have a Teams id to that id: only they can be mentioned.
    """

    def __init__(self, directory: dict[str, str] | None = None) -> None:
        self.headline = ""
        self.subtitle = ""
        self.footer = ""
        self.blocks: list[Block] = []
        self.links: list[Link] = []
        self.directory = dict(directory or {})

    def head(self, headline: Any, subtitle: Any = "") -> str:
        """Set the headline (e.g. "🚨 HOTFIX EN COURS") and the line under it."""
        self.headline, self.subtitle = str(headline), str(subtitle)
        return ""

    def fact(self, label: Any, value: Any, tone: str = "") -> str:
        """Add ``label: value``; a None or empty value adds nothing."""
        if value is not None and str(value).strip():
            self.blocks.append(Block("fact", label=str(label), text=str(value), tone=tone))
        return ""

    def para(self, text: Any, tone: str = "") -> str:
        """Add a paragraph; empty text adds nothing."""
        if text is not None and str(text).strip():
            self.blocks.append(Block("para", text=str(text), tone=tone))
        return ""

    def items(self, label: Any, items: Any, tone: str = "") -> str:
        """Add a labelled list (oldest first); an empty list adds nothing."""
        values = [str(i) for i in (items or []) if i is not None and str(i).strip()]
        if values:
            self.blocks.append(Block("items", label=str(label), items=values, tone=tone))
        return ""

    def people(self, label: Any, pairs: Any, tone: str = "") -> str:
        """Add ``label: role name · role name`` from ``(role label, name)`` pairs; pairs without a name are skipped."""
        kept = [(str(role or ""), str(name)) for role, name in (pairs or []) if name is not None and str(name).strip()]
        if kept:
            text = " · ".join(f"{role}: {name}" if role else name for role, name in kept)
            self.blocks.append(Block("people", label=str(label), text=text, tone=tone, people=kept))
        return ""

    def mentionable(self, name: str) -> bool:
        """Whether a Teams card may mention ``name`` (a person of ``[people]`` with a Teams id)."""
        return name in self.directory

    def mentions(self) -> list[dict[str, Any]]:
        """The ``msteams.entities`` of every mentionable name in a people block, once each, in order."""
        names = dict.fromkeys(name for b in self.blocks if b.kind == "people" for _, name in b.people
                              if self.mentionable(name))
        return [{"type": "mention", "text": f"<at>{name}</at>", "mentioned": {"id": self.directory[name], "name": name}}
                for name in names]

    def link(self, label: Any, url: Any) -> str:
        """Add a link when ``url`` is an http(s) URL; anything else is dropped."""
        if isinstance(url, str) and safe_url(url):
            self.links.append(Link(str(label), url))
        return ""

    def end(self, footer: Any) -> str:
        """Set the footer line."""
        self.footer = str(footer)
        return ""

    def sections(self, mentions: bool = False) -> list[Section]:
        """The blocks, consecutive facts grouped together; people blocks are facts unless ``mentions`` (cards)."""
        out: list[Section] = []
        for block in self.blocks:
            kind = "fact" if block.kind == "people" and not mentions else block.kind
            if kind == "fact" and out and out[-1].kind == "facts":
                out[-1].blocks.append(block)
            else:
                out.append(Section("facts" if kind == "fact" else kind, [block]))
        return out

    def facts(self) -> list[tuple[str, str]]:
        """Every fact (people blocks included, as plain names) as ``(label, value)``, in order."""
        return [(b.label, b.text) for b in self.blocks if b.kind in ("fact", "people")]


@dataclass(frozen=True)
class SlaClock:
    """The deadline seen from ``reference`` (now, or the closing time of a closed hotfix)."""

    deadline: datetime | None
    reference: datetime
    left: timedelta | None
    overdue: bool
    eta: datetime | None
    eta_late: bool
    eta_margin: timedelta | None
    eta_passed: bool
    closed: bool
    resolved: bool


@dataclass(frozen=True)
class Theme:
    """Colours of a message: hex for email and MessageCard, a container style for the card."""

    color: str
    style: str


def safe_url(url: str) -> bool:
    """Whether ``url`` is an absolute http(s) URL (no ``javascript:`` and the like)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.netloc) and not any(c in url for c in "\r\n\t \"'<>")


def sla_clock(hotfix: HotfixState, now: datetime) -> SlaClock:
    """The SLA clock of a hotfix at ``now``."""
    closed = hotfix.status in TERMINAL_STATUSES
    reference = hotfix.closed_at if closed and hotfix.closed_at is not None else now
    left = None if hotfix.deadline is None else hotfix.deadline - reference
    margin = None if hotfix.eta is None or hotfix.deadline is None else hotfix.deadline - hotfix.eta
    return SlaClock(
        deadline=hotfix.deadline,
        reference=reference,
        left=left,
        overdue=left is not None and left < timedelta(0),
        eta=hotfix.eta,
        eta_late=hotfix.eta_past_deadline(),
        eta_margin=margin,
        eta_passed=not closed and hotfix.eta is not None and hotfix.eta < now,
        closed=closed,
        resolved=hotfix.status is Status.RESOLVED,
    )


def elapsed(hotfix: HotfixState, now: datetime) -> timedelta | None:
    """Declaration to closing (or to ``now`` while open): the playbook's "Durée totale"."""
    if hotfix.declared_at is None:
        return None
    end = hotfix.closed_at if hotfix.closed_at is not None else now
    return max(end - hotfix.declared_at, timedelta(0))


def theme(message: MessageName, severity: Severity | None) -> Theme:
    """Red/orange/yellow by severity; green for a resolution; grey for a false alarm."""
    if message is MessageName.RESOLUTION:
        return Theme(palette.GOOD, "good")
    if message is MessageName.CANCELLATION:
        return Theme(palette.NEUTRAL, "emphasis")
    sev = severity or Severity.P2
    return Theme(palette.of(sev), SEVERITY_STYLES[sev])


def with_keys(data: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any]:
    """A copy of ``data`` where every known key exists (None when absent)."""
    out: dict[str, Any] = dict.fromkeys(keys)
    out.update(data or {})
    return out


def build_context(
    message: MessageName,
    locale: Locale,
    hotfix: HotfixState,
    *,
    event: dict[str, Any] | None,
    notice: dict[str, Any] | None,
    now: datetime,
    tz: ZoneInfo,
    channel: Channel | None = None,
    directory: dict[str, str] | None = None,
    person: str | None = None,
    act_url: str | None = None,
    unsubscribe_url: str | None = None,
) -> dict[str, Any]:
    """Everything a template may read; pure (same input, same context).

    Every text is cut to the channel's budget with the visible truncation marker; ``channel`` tells
    the templates where the message goes (a Teams channel has no thread; an email does). ``person``
    is who the message is for (a role prompt, a reminder), ``act_url`` the signed action link of this
    message (None: no link, e.g. for stakeholders), ``unsubscribe_url`` the foot's unsubscribe link (a
    self-service audience's email), ``directory`` who can be mentioned.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    limit, marker = channel_text_chars(channel), truncation_marker(locale.value, hotfix.ticket)
    hotfix = _for_templates(hotfix, limit, marker)
    event, notice = printable_all(clip_all(event, limit, marker)), printable_all(clip_all(notice, limit, marker))
    notice_data = with_keys(notice, NOTICE_KEYS)
    digest = [with_keys(e, EVENT_KEYS) for e in (notice_data.get("digest") or []) if isinstance(e, dict)]
    notice_data["digest"] = digest
    return {
        "message": message.value,
        "channel": channel.value if channel is not None else Channel.EMAIL.value,
        "locale": locale.value,
        "hotfix": hotfix,
        "event": with_keys(event, EVENT_KEYS),
        "has_event": event is not None,
        "notice": notice_data,
        "now": now.astimezone(tz),
        "timezone": tz.key,
        "sla": sla_clock(hotfix, now),
        "elapsed": elapsed(hotfix, now),
        "theme": theme(message, hotfix.severity),
        "doc": Doc(directory),
        "person": person or notice_data.get("person"),
        "act_url": act_url if isinstance(act_url, str) and safe_url(act_url) else None,
        "unsubscribe_url": unsubscribe_url if isinstance(unsubscribe_url, str) and safe_url(unsubscribe_url) else None,
    }


def _for_templates(hotfix: HotfixState, limit: int, marker: str) -> HotfixState:
    """The state with every text cut to ``limit`` (ended with ``marker``) and without control characters (one
    stored before ``parse_event`` cleaned them): one dump for both, the state itself when nothing changes."""
    data = hotfix.model_dump(mode="json")
    ready = printable_all(clip_all(data, limit, marker))
    return hotfix if ready == data else HotfixState.model_validate(ready)


def format_time(value: Any, tz: ZoneInfo, now: datetime, locale: Locale, *, full: bool = False) -> str:
    """``HH:MM`` in ``tz``, with the date when not today (or when ``full``); '' for nothing."""
    when = dates.parse(value)
    if when is None:
        return "" if value is None else str(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    local, today = dates.in_zone(when, tz), now.astimezone(tz).date()
    hhmm = local.strftime("%H:%M")
    if not full and local.date() == today:
        return hhmm
    day = _WEEKDAYS[locale][local.weekday()]
    if locale is Locale.FR:
        return f"{day} {local:%d/%m} {hhmm}"
    return f"{day} {local.day} {_MONTHS_EN[local.month - 1]} {hhmm}"


def seconds(value: Any) -> float | None:
    """Seconds of a timedelta or a number (signed); None otherwise."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None
