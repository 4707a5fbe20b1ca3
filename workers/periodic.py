"""A daemon thread of ``hotfix worker`` doing one pass every few seconds (the sweeper, the scheduling)."""
from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)


class Periodic:
    """Calls ``turn(now)`` (monotonic) every ``every`` seconds in a daemon thread until ``stop``; a pass that raises
    (Redis away for a moment) is logged and the next one tries again."""

    name = "herald-periodic"

    def __init__(self, every: float) -> None:
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def turn(self, now: float) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after the pass in hand."""
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=self.every + 5)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.turn(time.monotonic())
            except Exception as exc:  # noqa: BLE001 - the next pass tries again
                log.warning("%s: a pass failed: %s: %s", self.name, type(exc).__name__, exc)
