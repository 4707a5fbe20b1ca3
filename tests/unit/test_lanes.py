"""Splitting a read into the urgent group and the rest (daemon.lanes.split), and where producers write."""
from __future__ import annotations

from daemon import lanes
from hotfix import keys
from hotfix.events import Event, parse_event
from tests.fixtures.herald import event


def item(stream: str, entry_id: str, data: dict) -> tuple[lanes.Entry, Event]:
    return lanes.Entry(stream, entry_id, {}), parse_event(data)


def test_a_ticket_is_never_split_and_the_urgent_group_follows_the_server_clock() -> None:
    """Every entry of an urgent ticket goes first, lane and public entries merged by entry id; the rest keeps its order."""
    items = [
        item(keys.EVENTS_STREAM, "100-0", event("declared", ticket="A", severity="P2")),
        item(keys.EVENTS_STREAM, "101-0", event("declared", ticket="B", severity="P2")),
        item(keys.EVENTS_STREAM, "103-0", event("updated", ticket="B", minutes=1, message="x")),
        item(keys.P0_STREAM, "102-0", event("updated", ticket="B", minutes=2, severity="P0")),
        item(keys.EVENTS_STREAM, "104-0", event("declared", ticket="C", severity="P2")),
    ]
    urgent = lanes.urgent_tickets([e for _, e in items], set())
    first, rest = lanes.split(items, urgent)
    assert [(e.ticket, entry.id) for entry, e in first] == [("B", "101-0"), ("B", "102-0"), ("B", "103-0")]
    assert [e.ticket for _, e in rest] == ["A", "C"]


def test_a_ticket_known_at_p0_goes_first_without_saying_p0() -> None:
    """An update that does not name a severity is urgent when its ticket is open at P0."""
    items = [item(keys.EVENTS_STREAM, "1-0", event("updated", ticket="A", message="x")),
             item(keys.EVENTS_STREAM, "2-0", event("updated", ticket="B", message="y"))]
    first, rest = lanes.split(items, lanes.urgent_tickets([e for _, e in items], {"B"}))
    assert [e.ticket for _, e in first] == ["B"] and [e.ticket for _, e in rest] == ["A"]


def test_producers_write_urgent_tickets_to_the_lane() -> None:
    """The P0 lane for an urgent ticket, the public stream otherwise."""
    p0, p2 = parse_event(event("declared", ticket="A")), parse_event(event("declared", ticket="B", severity="P2"))
    urgent = lanes.urgent_tickets([p0, p2], set())
    assert (lanes.stream_for(p0, urgent), lanes.stream_for(p2, urgent)) == (keys.P0_STREAM, keys.EVENTS_STREAM)
