"""What ``list`` and ``show --format json`` print: plain data (the coordination document is ``daemon.document``)."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from hotfix.state import BOOKKEEPING, HotfixState
from hotfix.text import printable


def most_urgent_first(states: Iterable[HotfixState]) -> list[HotfixState]:
    """By severity (unknown last), then deadline (none last), then ticket: ``list`` and the status page's order."""
    return sorted(states, key=lambda s: (s.severity.rank if s.severity else 9, s.deadline is None,
                                         s.deadline.timestamp() if s.deadline else 0.0, s.ticket))


def list_row(state: HotfixState, now: datetime) -> dict[str, Any]:
    """One open hotfix as ``hotfix list --format json`` shows it (texts ``printable``: a state stored before that rule
    must not write escapes or bidi overrides to a terminal)."""
    left = state.time_left(now)
    return {
        "ticket": state.ticket, "severity": state.severity.value if state.severity else None,
        "status": state.status.value, "phase": state.phase.value, "title": printable(state.title),
        "deadline": state.deadline.isoformat() if state.deadline else None,
        "time_left_s": int(left.total_seconds()) if left is not None else None,
        "eta": state.eta.isoformat() if state.eta else None,
        "last_update_at": state.last_update_at.isoformat() if state.last_update_at else None,
        "rollbacks": state.rollbacks, "service_restored": state.service_restored,
        "coordinator": printable(state.team.coordinator) if state.team.coordinator else None,
        "declared_at": state.declared_at.isoformat() if state.declared_at else None,
    }


def show_data(state: HotfixState, deliveries: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The full picture of one hotfix for ``show --format json``."""
    data = state.model_dump(mode="json", exclude=set(BOOKKEEPING))
    data.update(list_row(state, now))
    data["deliveries"] = [
        {k: d.get(k) for k in ("message", "audience", "channel", "recipient", "status", "reason", "at", "via")}
        for d in deliveries
    ]
    data["missing_verification"] = state.missing_verification()
    data["eta_past_deadline"] = state.eta_past_deadline()
    return data
