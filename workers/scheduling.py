"""RQ's scheduler — retries and delayed jobs, due, back to their queue — run in a thread of ``hotfix worker``.

RQ starts its scheduler in a process forked from the worker. Herald's worker has threads (P0 companions, job
heartbeats, the sweeper): a fork taken while one of them holds a lock (the stderr buffer's, logging at that
instant) leaves the child blocked on it for good — and with it every retry of every job, since it keeps the
queues' scheduler locks and no other worker schedules them. Found as a CI failure (one full run in six): a retry
due in a second never ran. Here the same work runs in a thread: every ``EVERY`` seconds it keeps the queues'
scheduler locks (RQ's own locks, so this thread and any RQ scheduler never schedule one queue twice), takes them
when free (``RETAKE_EVERY``: a dead holder's expire ~61 s after its last beat), and moves the due jobs.
"""
from __future__ import annotations

import logging

from redis import Redis
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer

from workers.periodic import Periodic

log = logging.getLogger(__name__)

#: Seconds between two passes (RQ's scheduler interval).
EVERY = 1.0
#: Seconds between two attempts to take locks another worker holds.
RETAKE_EVERY = 10.0


class SchedulerThread(Periodic):
    """A daemon thread doing RQ's scheduling for ``queues`` every ``every`` seconds until ``stop``."""

    name = "herald-scheduler"

    def __init__(self, redis: Redis, queues: list[str], every: float = EVERY) -> None:
        self.scheduler = RQScheduler(list(queues), connection=redis, serializer=JSONSerializer)
        self.queues = set(queues)
        self._next_take = 0.0
        super().__init__(every)

    def stop(self) -> None:
        """Stop after the pass in hand and release the locks held (another worker's thread takes them at once)."""
        super().stop()
        try:
            self.scheduler.release_locks()  # type: ignore[no-untyped-call]
        except Exception as exc:  # noqa: BLE001 - they expire on their own within a minute
            log.warning("releasing the scheduler locks failed: %s: %s", type(exc).__name__, exc)

    def turn(self, now: float) -> None:
        """One pass at ``now`` (monotonic): keep or take the locks, then move the due jobs of the queues held."""
        scheduler = self.scheduler
        if scheduler.acquired_locks != self.queues and now >= self._next_take:
            scheduler.acquire_locks()  # type: ignore[no-untyped-call]
            self._next_take = now + RETAKE_EVERY
        if scheduler.acquired_locks:
            scheduler.heartbeat()  # type: ignore[no-untyped-call]
            scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]
