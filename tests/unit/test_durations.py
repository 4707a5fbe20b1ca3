"""Duration formats, one owner: configuration (``1h30m``), messages (``1 h 05 min``), live clocks (``1h 02m 05s``)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from hotfix.durations import format_clock, format_duration, format_span, parse_duration
from hotfix.enums import Locale


@pytest.mark.parametrize("value,fr,en", [
    (30, "30 s", "30 s"),
    (timedelta(minutes=45), "45 min", "45 min"),
    (-2700, "45 min", "45 min"),                       # unsigned: the words around it say "late"
    (timedelta(hours=1, minutes=5, seconds=20), "1 h 05 min", "1 h 05 min"),
    (7200, "2 h", "2 h"),
    (timedelta(days=2, hours=3), "2 j 3 h", "2 d 3 h"),
    (None, "", ""),
    ("n/a", "n/a", "n/a"),
])
def test_format_span(value: object, fr: str, en: str) -> None:
    """Messages and the CLI write a duration to the minute, in the reader's locale."""
    assert (format_span(value, Locale.FR), format_span(value, Locale.EN)) == (fr, en)  # type: ignore[arg-type]


@pytest.mark.parametrize("seconds,text", [(45, "45s"), (725, "12m 05s"), (3725, "1h 02m 05s"), (-3725, "1h 02m 05s"),
                                          (183600, "2d 03h")])
def test_format_clock(seconds: float, text: str) -> None:
    """A live clock counts to the second, as the status page's script does."""
    assert format_clock(seconds) == text


@pytest.mark.parametrize("delta", [timedelta(seconds=30), timedelta(hours=1, minutes=30), timedelta(days=1, seconds=1)])
def test_format_duration_round_trips(delta: timedelta) -> None:
    """The configuration form parses back to the same duration."""
    assert parse_duration(format_duration(delta)) == delta
