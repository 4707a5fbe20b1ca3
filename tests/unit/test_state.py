"""The hotfix state: ``fork`` copies every container, so a pure step never changes the state it was given."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Annotated, Any, Optional

from pydantic import Field

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


class _Later(HotfixState):
    """A state with container fields spelled as a later version (or a subclass) might spell them."""

    tags: Annotated[list[str], Field(max_length=5)] | None = None
    notes: Optional[Annotated[dict[str, list[str]], Field(max_length=5)]] = None
    labels: dict[str, Annotated[list[str], Field(max_length=5)]] = Field(default_factory=dict)
    seen: Sequence[str] = ()
    anything: object = None
    bare: dict = Field(default_factory=dict)  # type: ignore[type-arg]


def test_fork_copies_containers_whatever_their_annotation_says() -> None:
    """Lists and dicts behind ``Annotated`` (in a union too), ``Sequence``, ``object`` or a bare ``dict`` are copied
    like plain ones, one level deep in a dict."""
    state = _Later(ticket="INC-1", tags=["a"], notes={"n": ["a"]}, labels={"l": ["a"]}, seen=["a"], anything=["a"],
                   bare={"b": ["a"]})
    before = state.model_dump()
    fork: Any = state.fork()
    for name in ("tags", "seen", "anything"):
        getattr(fork, name).append("x")
    for name in ("notes", "labels", "bare"):
        next(iter(getattr(fork, name).values())).append("x")
        getattr(fork, name)["x"] = []
    assert state.model_dump() == before
