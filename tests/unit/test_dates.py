"""The date window of events (every date field, at the caller's clock) and display that never overflows."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hotfix import dates
from hotfix.events import InvalidEvent, _Event, parse_event

#: The receiver's clock: now, so the suite holds whatever the date it runs on.
NOW = datetime.now(timezone.utc).replace(microsecond=0)
#: The smallest valid event of each type (a type added later gets its entry here).
BASES: dict[str, dict[str, Any]] = {"declared": {"title": "t", "severity": "P0"}}


def _date_fields() -> list[tuple[str, str]]:
    """(event type, field) for every date field of every event model, found by introspection."""
    out = []
    for model in _Event.__subclasses__():
        type_ = model.model_fields["type"].default.value
        out += [(type_, name) for name, field in model.model_fields.items() if "datetime" in str(field.annotation).lower()]
    return out


DATE_FIELDS = _date_fields()


def event(type_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "ticket": "INC-1", **BASES.get(type_, {}), **fields}


def test_every_event_type_has_a_date_field_found() -> None:
    """The introspection finds ``at`` on every type and ``eta`` / ``postmortem_at`` where they exist."""
    found = set(DATE_FIELDS)
    assert {("declared", "at"), ("declared", "eta"), ("updated", "eta"), ("resolved", "postmortem_at")} <= found


@pytest.mark.parametrize(("type_", "field"), DATE_FIELDS)
@pytest.mark.parametrize(("offset", "problem"), [
    (dates.WINDOW + timedelta(seconds=1), "too far in the future"), (-dates.WINDOW - timedelta(seconds=1), "too far in the past"),
    (timedelta(days=365 * 5000), "too far in the future"), (dates.WINDOW, None), (-dates.WINDOW, None)])
def test_each_date_field_is_bounded_by_the_window(type_: str, field: str, offset: timedelta, problem: str | None) -> None:
    """A date just outside the window (either way) is refused naming its field; one on the edge is accepted."""
    data = event(type_, **{field: (NOW + offset).isoformat()})
    if problem is None:
        assert getattr(parse_event(data, now=NOW), field) == NOW + offset
        return
    with pytest.raises(InvalidEvent) as caught:
        parse_event(data, now=NOW)
    assert caught.value.reason.startswith(f"{field}: {problem}")


@pytest.mark.parametrize("text", ["9999-12-31T23:30:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_the_calendar_edges_are_refused(text: str) -> None:
    """The repro dates (year 9999, year 1 with an offset) are refused, never an OverflowError."""
    with pytest.raises(InvalidEvent, match="^eta: too far"):
        parse_event(event("updated", eta=text), now=NOW)


def test_the_window_follows_the_callers_clock() -> None:
    """A date two years ahead is refused today and accepted by a clock two years on."""
    later = NOW + timedelta(days=730)
    data = event("declared", eta=later.isoformat(), at=later.isoformat())
    with pytest.raises(InvalidEvent):
        parse_event(data, now=NOW)
    assert parse_event(data, now=later).eta == later


def test_two_bad_dates_are_both_named() -> None:
    """Every out-of-window date is named, each as its own clause."""
    far = (NOW + timedelta(days=4000)).isoformat()
    with pytest.raises(InvalidEvent) as caught:
        parse_event(event("declared", at=far, eta=far), now=NOW)
    assert [c.split(":")[0] for c in caught.value.reason.split("; ")] == ["at", "eta"]


def test_a_missing_at_takes_the_intake_time_checked_too() -> None:
    """An event without ``at`` whose intake time is out of the window (a hand-made stream id) is refused."""
    with pytest.raises(InvalidEvent, match="^at: missing"):
        parse_event(event("updated"), now=NOW, default_at=datetime(1970, 1, 1, tzinfo=timezone.utc))


@pytest.mark.parametrize("value", [datetime.max.replace(tzinfo=timezone.utc), datetime.min.replace(tzinfo=timezone.utc)])
def test_display_of_a_stored_extreme_date_never_raises(value: datetime) -> None:
    """A date at the calendar's edge shows (in UTC, or as stored) in any zone instead of raising."""
    for zone in (ZoneInfo("Europe/Paris"), ZoneInfo("Pacific/Kiritimati"), ZoneInfo("America/Adak")):
        assert dates.local(value, zone)
        assert dates.in_zone(value, zone) is not None
    assert dates.epoch_ms(value) is None or isinstance(dates.epoch_ms(value), int)
    assert dates.local(None, ZoneInfo("UTC")) == "—"


@pytest.mark.parametrize("lag", [timedelta(seconds=1), timedelta(days=3)])
def test_the_daemon_still_takes_an_edge_date_the_intake_accepted(lag: timedelta) -> None:
    """A date on the window's edge, accepted at the intake, passes the daemon's door read later (dates.BACKLOG_GRACE)."""
    from daemon.consumer import READ_WINDOW

    data = event("declared", at=(NOW - dates.WINDOW).isoformat(), eta=(NOW + dates.WINDOW).isoformat())
    parse_event(data, now=NOW)
    with pytest.raises(InvalidEvent, match="^at: too far in the past"):
        parse_event(data, now=NOW + lag)  # the doors' window alone would dead-letter it
    assert parse_event(data, now=NOW + lag, window=READ_WINDOW).at == NOW - dates.WINDOW
    with pytest.raises(InvalidEvent, match="^at: too far in the past"):
        parse_event(data, now=NOW + dates.BACKLOG_GRACE + timedelta(seconds=1), window=READ_WINDOW)
