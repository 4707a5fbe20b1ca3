"""Durations: the one owner of their formats.

- configuration: ``"30s"``, ``"15m"``, ``"1h"``, ``"1d"`` or combined ``"1h30m"`` (``parse_duration`` /
  ``format_duration``, which round-trip);
- messages and the CLI: ``45 min``, ``1 h 05 min``, ``2 j 3 h`` in the reader's locale (``format_span``);
- live clocks (the status pages, whose script writes the same): ``1h 02m 05s`` (``format_clock``).
"""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

from hotfix.enums import Locale

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DAY_UNIT = {Locale.FR: "j", Locale.EN: "d"}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_duration(value: Any) -> timedelta:
    """Turn ``"15m"`` (or a number of seconds, or a timedelta) into a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '30s', '15m', '1h' or '1d'")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if text and _PART.sub("", text) == "":
            return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in _PART.findall(text)))
    raise ValueError(f"invalid duration {value!r}: expected a number with s, m, h or d, such as '15m'")


def format_duration(delta: timedelta) -> str:
    """The shortest ``1h30m`` form of a duration."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out)


def format_span(value: timedelta | float | str | None, locale: Locale) -> str:
    """A duration (timedelta or seconds), unsigned, to the minute: ``45 min``, ``1 h 05 min``, ``2 j 3 h``, ``30 s``."""
    if value is None or value == "":
        return ""
    if isinstance(value, timedelta):
        seconds = abs(int(value.total_seconds()))
    else:
        try:
            seconds = abs(int(float(value)))
        except (TypeError, ValueError):
            return str(value)
    if seconds < 60:
        return f"{seconds} s"
    days, rest = divmod((seconds + 30) // 60, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} {_DAY_UNIT[locale]} {hours} h" if hours else f"{days} {_DAY_UNIT[locale]}"
    if hours:
        return f"{hours} h {mins:02d} min" if mins else f"{hours} h"
    return f"{mins} min"


def format_clock(seconds: float) -> str:
    """Unsigned, to the second: ``2d 03h``, ``1h 02m 05s``, ``12m 05s``, ``45s``."""
    s = int(abs(seconds))
    days, hours, minutes, secs = s // 86400, s % 86400 // 3600, s % 3600 // 60, s % 60
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]
