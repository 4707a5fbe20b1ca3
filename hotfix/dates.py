"""Dates: the one window Herald accepts them in, and conversions that never overflow.

Invariants:

- Every date an event carries (``at``, ``eta``, ``started_at``, ``postmortem_at`` and any other,
  nested ones included) lies within ``WINDOW`` of the receiver's clock — the intake's, ``hotfix
  push``'s or the daemon's — so a deadline, a timer or a local time computed from it can never
  leave Python's calendar (years 1-9999). ``problems`` says which field is out and why.
- A default meeting date (``WorkingHours.slot``) is a working day at the working time, in the
  configured zone, and always later than the moment it is computed from: never at night.
- Whatever is already stored is still shown: ``local`` and ``iso`` fall back to UTC, then to a
  plain text, instead of raising ``OverflowError``.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel

#: How far from now (either way) an event's date may be: about a year.
WINDOW = timedelta(days=366)
#: How much wider the daemon's window is than the doors' (the intake, ``hotfix push``): an event they
#: accepted at the window's edge is read again by the daemon later — a second later, or after a backlog of
#: up to this long — and must still pass, or an accepted event would end as a dead letter.
BACKLOG_GRACE = timedelta(days=30)


def window_problem(value: datetime, now: datetime, window: timedelta = WINDOW) -> str | None:
    """Why ``value`` is refused at ``now`` (None when it is within ``window``)."""
    if value.tzinfo is None:  # event models only take aware dates; a naive one is read as UTC
        value = value.replace(tzinfo=timezone.utc)
    if value > now + window:
        return f"too far in the future ({iso(value)}): at most {window.days} days from now"
    if value < now - window:
        return f"too far in the past ({iso(value)}): at most {window.days} days ago"
    return None


def problems(model: BaseModel, now: datetime, window: timedelta = WINDOW) -> list[str]:
    """``field: why`` for every date of ``model`` (walked through nested models, lists and dicts) out of the window."""
    return [f"{path}: {problem}" for path, value in _dates(model, "")
            if (problem := window_problem(value, now, window))]


#: Values with nothing inside (``bool`` is an ``int``; ``str`` enums are ``str``).
_SCALARS = (str, int, float)


def _dates(value: Any, path: str) -> Iterator[tuple[str, datetime]]:
    """Every datetime inside ``value`` with its path, in field order; iterative (an event is walked on every read)."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, datetime):
            yield path, value
            continue
        if isinstance(value, BaseModel):
            children: Any = [*value.__dict__.items(), *(value.model_extra or {}).items()]
        elif isinstance(value, (list, tuple)):
            children = enumerate(value)
        elif isinstance(value, dict):
            children = value.items()
        else:
            continue
        prefix = f"{path}." if path else ""
        stack.extend(reversed([(f"{prefix}{name}", item) for name, item in children
                               if item is not None and not isinstance(item, _SCALARS)]))  # most fields: nothing inside


def parse(value: Any) -> datetime | None:
    """A datetime from a datetime or an ISO-8601 string (``Z`` accepted); None for anything else."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def iso(value: datetime | date | None) -> str:
    """ISO-8601 text of a date (empty for None); never raises."""
    return value.isoformat() if value is not None else ""


def in_zone(value: datetime, zone: tzinfo) -> datetime:
    """``value`` in ``zone``; unchanged when that would leave the calendar (a stored year-9999 date)."""
    try:
        return value.astimezone(zone)
    except (OverflowError, ValueError):
        return value


def local(value: datetime | None, zone: tzinfo, fmt: str = "%Y-%m-%d %H:%M:%S %Z", *, empty: str = "—") -> str:
    """``value`` in ``zone`` formatted with ``fmt`` (``empty`` for None); never raises."""
    if value is None:
        return empty
    try:
        return in_zone(value, zone).strftime(fmt)
    except (OverflowError, ValueError):
        return iso(value)


def epoch_ms(value: datetime | None) -> int | None:
    """Epoch milliseconds (what pages' scripts count with), or None."""
    if value is None:
        return None
    try:
        return int(value.timestamp() * 1000)
    except (OverflowError, ValueError, OSError):
        return None


def producer_time(text: Any, now: datetime) -> datetime | None:
    """A time a producer stamped (Alertmanager's ``startsAt``, Jira's ``created``), or None.

    Unreadable, naive, zero ("0001-01-01…") or out-of-window values give None: such a field
    is an optional detail, and must never cost the event it rides on.
    """
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None or window_problem(value, now) is not None:
        return None
    return value


#: Weekday names as the configuration spells them, Monday first (``date.weekday()`` order).
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class WorkingHours:
    """When a meeting is set by default: one time of day, on some weekdays, in a time zone."""

    at: time = time(14, 0)
    weekdays: frozenset[int] = field(default_factory=lambda: frozenset(range(5)))
    zone: str = "Europe/Paris"

    def slot(self, since: datetime, after: timedelta) -> datetime:
        """The meeting ``after`` ``since``: on the local day ``since + after`` falls on, at ``at``, moved on to
        the next working day when that day is not one; always later than ``since``."""
        tz = ZoneInfo(self.zone)
        day = in_zone(since + after, tz).date()
        for _ in range(2 * len(WEEKDAYS) + 1):
            candidate = datetime.combine(day, self.at, tzinfo=tz)
            if day.weekday() in self.weekdays and candidate > since:
                return candidate
            day += timedelta(days=1)
        return since + after  # no working day at all (settings refuse it): the plain delay
