"""The suite holds on any date: a test module that writes out a calendar date runs under a frozen clock.

A date written in a test (``datetime(2026, 11, 25, …)``, ``"2026-11-25T09:12:00Z"``) is true today and may be
false next week (a reminder falls due, a date leaves the accepted window). Such a module declares
``frozen_clock = frozen_at(T0)`` (``tests.fixtures.clock``), or builds its times from "now".
"""
from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
#: A calendar date written out: ``datetime(2026, …`` or an ISO date-time string.
LITERAL_DATE = re.compile(r"datetime\(\s*(19|20)\d\d\s*,|[\"'](19|20)\d\d-\d\d-\d\dT\d\d:\d\d")
#: Modules whose written dates involve no clock, each with why.
NO_CLOCK = {
    "integration/test_mail_sender.py": "formats an email's Date header from a datetime it passes itself",
    "unit/test_dates.py": "its one written date (1970) is out of the window on any day; the rest derive from now",
    "unit/test_suite_clock.py": "this module",
}
#: Hostile-input generators: their dates are sample values for the validator, accepted or not on any day.
SAMPLES = ("fuzz/",)


def test_every_module_with_a_written_date_freezes_the_clock() -> None:
    """No test module writes a calendar date without freezing the clock at it (or being listed as clock-free)."""
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        name = path.relative_to(TESTS).as_posix()
        if name in NO_CLOCK or name.startswith(SAMPLES):
            continue
        text = path.read_text(encoding="utf-8")
        if LITERAL_DATE.search(text) and "frozen_at(" not in text:
            offenders.append(name)
    assert offenders == [], f"written dates without a frozen clock (tests.fixtures.clock.frozen_at): {offenders}"


def test_the_check_sees_a_written_date() -> None:
    """The pattern catches both spellings of a written date, and not a date built from now."""
    assert LITERAL_DATE.search("T0 = datetime(2026, 11, 25, 9, 12, tzinfo=UTC)")
    assert LITERAL_DATE.search('{"at": "2026-11-25T09:38:00Z"}')
    assert not LITERAL_DATE.search("at = datetime.now(UTC) - timedelta(minutes=5)")
