"""A hotfix's timeline: what happened, one entry per event, fired timer and decision, in ``at`` order.

Invariants: entries stay in ``at`` order (one inserted after those of the same time: stable); an
event's entry carries a one-line ``summary`` cut to ``SUMMARY_CHARS`` and ``what``, the same as data
(people's text, and what an update set), which the document and the status page show per locale.
Pure: no I/O.
"""
from __future__ import annotations

import bisect
from typing import Any

from hotfix.events import Declared, Event, PostmortemHeld, Resolved, Updated
from hotfix.limits import SUMMARY_CHARS, clip
from hotfix.state import HotfixState, TimelineEntry


def event_entry(event: Event, *, late: bool = False) -> TimelineEntry:
    """The entry of an applied (or ``late``) event: its time, type, id, summary, phase, who and what."""
    return TimelineEntry(at=event.when, type=event.type.value, id=event.event_id, summary=_summary(event),
                         phase=getattr(event, "phase", None), late=late, by=event.by, what=_what(event))


def add_entry(state: HotfixState, entry: TimelineEntry) -> None:
    """Insert an entry keeping the timeline in ``at`` order (stable for equal times)."""
    times = [e.at for e in state.timeline]
    state.timeline.insert(bisect.bisect_right(times, entry.at), entry)


def _summary(event: Event) -> str:
    """A one-line summary of the event for the timeline, cut to ``SUMMARY_CHARS``."""
    return clip(_summary_text(event), SUMMARY_CHARS)


def _what(event: Event) -> dict[str, Any]:
    """The timeline line as data (``TimelineEntry.what``): people's text, and what an update set."""
    if not isinstance(event, Updated):
        text = _summary(event)
        return {"text": text} if text else {}
    what: dict[str, Any] = {
        "text": clip(event.message, SUMMARY_CHARS) if event.message else None,
        "phase": event.phase.value if event.phase else None,
        "severity": event.severity.value if event.severity else None,
        "team": event.team.roles() if event.team else None,
        "checks": [check for check, done in (event.checks or {}).items() if done],
    }
    return {k: v for k, v in what.items() if v}


def _summary_text(event: Event) -> str:
    if isinstance(event, Declared):
        return event.title
    if isinstance(event, Updated):
        parts = [event.message, f"phase → {event.phase.value}" if event.phase else None,
                 f"severity → {event.severity.value}" if event.severity else None]
        parts += [f"{role} → {holder}" for role, holder in (event.team.roles() if event.team else {}).items()]
        parts += [f"✓ {check}" for check, done in (event.checks or {}).items() if done]
        return " · ".join(p for p in parts if p)
    if isinstance(event, Resolved):
        return event.message or event.root_cause or ""
    if isinstance(event, PostmortemHeld):
        return event.summary or event.message or event.root_cause_analysis or ""
    return getattr(event, "reason", None) or event.message or ""
