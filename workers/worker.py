"""The RQ worker Herald runs: its queues, most urgent first, the JSON serializer, a short job heartbeat,
the sweeper of abandoned jobs, and a P0-only companion beside a worker of every queue.

Invariants kept here:

- **A dead worker's job runs again within seconds.** While a job runs, a heartbeat thread pushes its
  entry in RQ's StartedJobRegistry ``JOB_HEARTBEAT_TTL`` seconds ahead every ``JOB_HEARTBEAT``
  seconds; every worker's sweeper (``workers.sweeper``, every ``SWEEP_EVERY`` seconds) puts a job
  whose entry expired back at the front of its queue. RQ's own handling of that registry (abandoned
  jobs failed, or retried through the scheduler, whose locks a dead worker holds for a minute) is
  not used. The job itself sends only to recipients without a ``sent`` receipt.
- **A job taken is never lost.** Every take moves the job's id to its queue's intermediate list
  (``workers.queue``); the worker removes it once the job is registered as running, and the sweeper puts
  back one left there by a worker that died in between.
- **P0 never waits behind P2 inside a process.** ``hotfix worker`` on several queues also runs
  ``p0_workers`` workers that take ``hotfix-p0`` only, in threads of the same process (one metrics
  registry, one template cache; each its own SMTP connection), so a P0 job never waits for the
  P1/P2 job in hand; they stop with the main worker, after their job in hand. While a companion waits for
  a job, the main worker blocks on the next queue, not on ``hotfix-p0`` (``workers.queue.covered_by``): the
  card and the email of one P0 go to two processes' companions instead of two threads sharing one
  interpreter lock (Teams p50 at 3/s 14.6 → 11.0 ms, p99 76 → 19 ms in ``bench/``).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from redis import Redis
from rq import SimpleWorker, Worker, worker_registration
from rq.job import Job
from rq.queue import Queue
from rq.registry import DeferredJobRegistry, FailedJobRegistry, FinishedJobRegistry
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty
from rq.worker import BaseWorker, WorkerStatus

from hotfix import keys
from workers.queue import HeraldQueue, covered_by
from workers.scheduling import SchedulerThread
from workers.sweeper import Sweeper

log = logging.getLogger(__name__)

#: How often a worker looks after RQ's other registries (finished, failed, deferred; RQ's default: 10 min).
MAINTENANCE_INTERVAL = 30
#: A worker's registration TTL; its blocking wait for jobs is this minus 15 s.
WORKER_TTL = 35
#: Seconds between two heartbeats of the job in hand.
JOB_HEARTBEAT = 2
#: A job whose heartbeat is this many seconds old is abandoned (its worker died): three beats missed.
JOB_HEARTBEAT_TTL = 6
#: Seconds a P0 companion waits for a job before checking whether it must stop.
COMPANION_IDLE = 1


class _Heartbeats(BaseWorker):
    """A short job heartbeat (``JOB_HEARTBEAT_TTL``), registries kept by Herald's sweeper, one round trip a beat."""

    #: Until when (monotonic) the worker's registration is known to live, from the last heartbeat sent.
    _registered_until = 0.0

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's worker heartbeat (HSET and EXPIRE), in one round trip instead of two, and none at all when the last
        one keeps the registration alive for more than ``worker_ttl`` still (RQ beats right before and right after
        each take: on a P0's path that is a round trip for nothing)."""
        ttl = timeout or self.worker_ttl + 60  # RQ's default
        if pipeline is None and timeout is None and self._registered_until - time.monotonic() > self.worker_ttl:
            return
        if pipeline is not None:
            super().heartbeat(timeout, pipeline)
            self._registered_until = time.monotonic() + ttl  # the caller's pipeline carries it
            return
        with self.connection.pipeline(transaction=False) as pipe:
            super().heartbeat(timeout, pipe)
            pipe.execute()
        self._registered_until = time.monotonic() + ttl

    def get_heartbeat_ttl(self, job: Job) -> int:
        """The job's StartedJobRegistry entry (and the worker's registration) lives this long without a beat."""
        return JOB_HEARTBEAT_TTL

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        """RQ's, always taking the job out of its intermediate list (``workers.queue`` put it there)."""
        super().prepare_job_execution(job, remove_from_intermediate_queue=True)

    def clean_registries(self) -> None:
        """RQ's maintenance, less the StartedJobRegistry and the intermediate lists: the sweeper's (``workers.sweeper``)."""
        for queue in self.queues:
            if queue.acquire_maintenance_lock():
                try:
                    for registry in (FinishedJobRegistry, FailedJobRegistry, DeferredJobRegistry):
                        registry(name=queue.name, connection=queue.connection, job_class=queue.job_class,
                                 serializer=queue.serializer).cleanup()
                    worker_registration.clean_worker_registry(queue)
                finally:
                    queue.release_maintenance_lock()  # type: ignore[no-untyped-call]
        self.last_cleaned_at = _now()


def _now() -> Any:
    from rq.utils import now

    return now()


@contextmanager
def beating(worker: BaseWorker, job: Job) -> Iterator[None]:
    """Keep the job's heartbeat while the block runs (in a thread: the job may block in I/O or C code)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(JOB_HEARTBEAT):
            try:
                worker.maintain_heartbeats(job)
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried; three in a row let it be swept
                log.warning("job %s: heartbeat failed (%s)", job.id, type(exc).__name__)

    thread = threading.Thread(target=beat, name=f"heartbeat-{job.id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=JOB_HEARTBEAT + 5)


class HeraldWorker(_Heartbeats, SimpleWorker):
    """In-process jobs (no fork: ~1 ms a job instead of ~6), with a heartbeat thread while each runs."""

    def execute_job(self, job: Job, queue: Queue) -> None:
        self.prepare_execution(job)
        with beating(self, job):
            self.perform_job(job, queue)
        self.set_state(WorkerStatus.IDLE)


class HeraldForkWorker(_Heartbeats, Worker):
    """A process per job (``hotfix worker --fork``); RQ's monitor beats every ``JOB_HEARTBEAT`` seconds."""


class P0Companion(HeraldWorker):
    """A ``hotfix-p0``-only worker in a thread of ``hotfix worker``: no signal handlers (the main worker
    has them), a timer for job timeouts (SIGALRM is the main thread's), and a short wait for jobs so
    that ``stop`` ends it within ``COMPANION_IDLE`` seconds once its job in hand is done."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        return None

    def stop(self) -> None:
        """Finish the job in hand, then stop."""
        self._stop_requested = True

    def waiting(self) -> bool:
        """Whether it waits for a job now (RQ's state, kept in this process: no Redis call)."""
        return self.get_state() == WorkerStatus.IDLE and not self._stop_requested

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> Any:
        while not self._stop_requested:
            found = super().dequeue_job_and_maintain_ttl(COMPANION_IDLE, max_idle_time=COMPANION_IDLE)
            if found is not None:
                return found
        return None


def make_worker(redis: Redis, queues: list[str], *, fork: bool = False, name: str | None = None,
                companion_waiting: Callable[[], bool] | None = None) -> BaseWorker:
    """An RQ worker on Herald's queues, most urgent first, with the JSON serializer and the short heartbeat.

    ``companion_waiting``: whether a P0 companion of the same process waits on ``hotfix-p0`` now
    (``workers.queue.covered_by``).
    """
    cls: type[BaseWorker] = HeraldForkWorker if fork else HeraldWorker
    return cls(queues, connection=redis, serializer=JSONSerializer, name=name, job_monitoring_interval=JOB_HEARTBEAT,
               queue_class=covered_by(companion_waiting) if companion_waiting else HeraldQueue,
               maintenance_interval=MAINTENANCE_INTERVAL, worker_ttl=WORKER_TTL)


def companions_for(queues: list[str], wanted: int) -> int:
    """How many P0-only companions a worker on ``queues`` runs: none when it serves P0 only already."""
    return 0 if queues == [keys.QUEUE_NAMES[0]] else max(0, wanted)


def run(redis: Redis, queues: list[str], *, fork: bool = False, name: str | None = None, burst: bool = False,
        p0_workers: int = 1, logging_level: str = "INFO") -> None:
    """Work until stopped: the main worker, its P0 companions (not in burst mode) and the sweeper."""
    count = 0 if burst else companions_for(queues, p0_workers)
    companions: list[P0Companion] = []
    main = make_worker(redis, queues, fork=fork, name=name,
                       companion_waiting=(lambda: any(c.waiting() for c in companions)) if count else None)
    companions += [P0Companion([keys.QUEUE_NAMES[0]], connection=redis, serializer=JSONSerializer, queue_class=HeraldQueue,
                              name=f"{main.name}-p0-{n + 1}", job_monitoring_interval=JOB_HEARTBEAT,
                              maintenance_interval=MAINTENANCE_INTERVAL, worker_ttl=WORKER_TTL)
                  for n in range(count)]
    threads = [threading.Thread(target=c.work, kwargs={"logging_level": logging_level}, name=c.name, daemon=True)
               for c in companions]
    sweeper = Sweeper(redis, list(keys.QUEUE_NAMES))
    sweeper.start()
    # RQ's scheduler forks from this threaded process (it could hang for good, holding every retry): a thread here;
    # a burst worker keeps RQ's one pass at start, which forks nothing
    scheduler = None if burst else SchedulerThread(redis, list(keys.QUEUE_NAMES))
    if scheduler is not None:
        scheduler.start()
    for thread in threads:
        thread.start()
    try:
        main.work(burst=burst, with_scheduler=burst, logging_level=logging_level)
    finally:
        for companion in companions:
            companion.stop()
        for thread in threads:
            thread.join()
        sweeper.stop()
        if scheduler is not None:
            scheduler.stop()
