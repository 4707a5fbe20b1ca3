"""The hotfix state: ``fork`` copies every container, so a pure step never changes the state it was given."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from hotfix.state import HotfixState, TimelineEntry

NOW = datetime.now(timezone.utc)


def test_fork_copies_every_container_field() -> None:
    """Changing every list and dict of a fork (one level deep too) leaves the original as it was."""
    state = HotfixState(ticket="INC-1", timeline=[TimelineEntry(at=NOW, type="declared", id="e1")],
                        applied_ids=["e1"], checks={"review": True}, digest={"execs": [{"id": "u1"}]},
                        field_at={"title": NOW})
    before = state.model_dump()
    fork = state.fork()
    containers = 0
    for _name, value in fork:
        if isinstance(value, list):
            value.append("x")
            containers += 1
        elif isinstance(value, dict):
            for inner in value.values():
                if isinstance(inner, list):
                    inner.append("x")
            value["x"] = "x"
            containers += 1
    assert containers >= 10  # every list and dict field, whatever its name
    assert state.model_dump() == before


def test_fork_is_equal_until_changed() -> None:
    """A fork holds the same values."""
    state = HotfixState(ticket="INC-1", announced_to=["oncall"], digest_since={"execs": NOW})
    fork: Any = state.fork()
    assert fork == state and fork is not state
