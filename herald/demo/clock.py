"""The story clock: playbook time that the daemon, the workers and the page all read, compressed for people.

Story time starts at the declaration and only moves forward, by jumps from one step to the
next. The daemon's timers and the messages' times follow it, so a story of an hour (or of the
two days before a post-mortem) plays in seconds. When someone watches (``pace``), each jump
also takes a little real time, in proportion to the minutes it skips (``SECONDS_PER_MINUTE``,
at most ``MAX_PAUSE``), so the story can be followed as it unfolds; otherwise it runs at once.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

#: Real seconds a watched story spends per playbook minute it skips.
SECONDS_PER_MINUTE = 0.1
#: The longest real pause of one jump (a two-day wait included).
MAX_PAUSE = 1.5
#: How long after a step's events the daemon looks at them (timers due at the step's minute fire then).
SETTLE = timedelta(seconds=30)


class StoryClock:
    """Story time, moved forward by ``jump``; call it to read the time."""

    def __init__(self, start: datetime, *, pace: bool = False, sleep: Callable[[float], None] = time.sleep) -> None:
        self.start = start
        self.current = start
        self.pace = pace
        self._sleep = sleep

    def __call__(self) -> datetime:
        return self.current

    def at(self, minute: float) -> datetime:
        """The time ``minute`` story minutes after the start."""
        return self.start + timedelta(minutes=minute)

    def minute(self, when: datetime) -> float:
        """Story minutes from the start to ``when``."""
        return (when - self.start).total_seconds() / 60

    def jump(self, when: datetime) -> None:
        """Move to ``when`` plus the settling time (never backwards); a watched story waits a little."""
        target = max(self.current, when + SETTLE)
        skipped = (target - self.current).total_seconds() / 60
        if self.pace and skipped > 0:
            self._sleep(min(MAX_PAUSE, skipped * SECONDS_PER_MINUTE))
        self.current = target
