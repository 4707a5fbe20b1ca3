"""Held messages in Redis: listing them, finding one by id, and committing a decision on it.

``settle`` is the one door of an approver's decision (the ``hotfix approve`` / ``decline`` commands and
the signed approval page): it runs the pure ``approvals.decide`` and ``planner.plan_released`` inside
``store.commit``, so the decision, its timeline entry, its counters and the released message's jobs are
written together or not at all, and two approvers deciding at once decide once (the second is told
what the first did).
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from redis import Redis

from daemon import approvals, store
from daemon.planner import plan_released
from hotfix import keys, subscribers
from hotfix.connection import as_text
from hotfix.enums import Decision
from hotfix.settings import Settings
from hotfix.state import HotfixState


def pending(redis: Redis, settings: Settings) -> list[dict[str, Any]]:
    """Every message waiting for an approver, oldest first (``hotfix approvals --format json``)."""
    rows: list[dict[str, Any]] = []
    tickets = sorted(as_text(t) for t in redis.smembers(keys.HELD_TICKETS))
    for state in store.load_many(redis, tickets):
        for held in state.held:
            due = approvals.timeout_at(state, held, settings)
            rows.append({"id": held.id, "ticket": state.ticket, "message": held.message.value, "audience": held.audience,
                         "since": held.since.isoformat(), "held_at": held.held_at.isoformat(),
                         "approvers": approvals.approvers(settings, held.audience), "replaces": list(held.replaces),
                         "timeout_at": due.isoformat() if due else None, "severity": state.severity.value
                         if state.severity else None, "title": state.title})
    return sorted(rows, key=lambda r: (r["held_at"], r["id"]))


def ticket_of(redis: Redis, held_id: str) -> str | None:
    """The ticket of a held message (``ValueError`` for a malformed id)."""
    raw = redis.get(keys.approval(held_id))
    return as_text(raw) if raw else None


def load(redis: Redis, held_id: str, ticket: str | None = None) -> HotfixState:
    """The hotfix holding (or that held) ``held_id``; ``NotHeld`` when nobody knows it."""
    ticket = ticket or ticket_of(redis, held_id)
    state = store.load(redis, ticket) if ticket else None
    if state is None:
        raise approvals.NotHeld(f"no message {held_id} is held (`hotfix approvals` lists those waiting)")
    return state


def settle(redis: Redis, settings: Settings, held_id: str, decision: Decision, *, by: str, now: datetime,
           edits: Mapping[str, str] | None = None, reason: str | None = None,
           ticket: str | None = None) -> approvals.Released:
    """Approve (edits: edited) or decline ``held_id`` and send what that releases; ``NotHeld`` if it is not waiting."""
    ticket = load(redis, held_id, ticket).ticket
    book = subscribers.Book(redis)
    book.refresh()
    outcome: list[approvals.Released] = []

    def decide(state: HotfixState | None) -> store.Change:
        if state is None:
            raise approvals.NotHeld(f"no message {held_id} is held")
        released = approvals.decide(state, held_id, decision, settings, now, by=by, edits=edits, reason=reason)
        planned = plan_released(released, settings, now, changes=book.get)
        outcome[:] = [released]
        return store.Change(planned.state, planned.jobs, counts=planned.counts)

    store.commit_one(redis, ticket, decide, settings)
    return outcome[0]
