"""The sweeper: a job whose worker died (its heartbeat stopped) goes back to the front of its queue.

RQ keeps each running job in its queue's StartedJobRegistry (``rq:wip:<queue>``), scored with the time
its heartbeat runs out (``workers.worker``: a few seconds ahead, pushed on while the job runs). Every
Herald worker runs a sweeper thread that, every ``SWEEP_EVERY`` seconds, takes the entries whose
time has passed and, for each, in this order:

1. removes the entry (``ZREM``): only the sweeper whose ``ZREM`` removed it goes on, so two sweepers
   never requeue one job twice;
2. skips a job that is gone or already ended (finished, failed, scheduled, queued again);
3. splits a bundle (``hotfix.jobs.BUNDLE_FUNCTION``) into its messages, each queued again alone at the front:
   a message that kills its worker every time then fails alone, never its 31 neighbours;
4. counts the abandonment in the job's meta (``abandoned``); past ``MAX_ABANDONED`` (a job that kills
   its worker every time) the job is failed into the FailedJobRegistry, like RQ does, instead of looping;
5. otherwise enqueues it again at the front of its queue, at once (not through RQ's scheduler, whose
   locks the dead worker may hold for a minute).

It also looks at each queue's intermediate list (``workers.queue``: a job taken by a worker sits there
until the worker registers it as running): an id that is there, not running, and was first seen more
than ``TAKEN_GRACE`` seconds ago belonged to a worker that died between taking it and starting it; the
sweeper whose ``LREM`` removes it puts the job back at the front of its queue.

Nothing is told twice by this: a job run again sends only to recipients without a ``sent`` receipt
(``workers.jobs``). Only a message in flight at the very moment of the kill (accepted by the server,
its receipt not yet written) can go again, as with any crash.
"""
from __future__ import annotations

import logging
import time

from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from hotfix.connection import as_text
from hotfix.jobs import BUNDLE_FUNCTION, requeue_alone
from workers.periodic import Periodic

log = logging.getLogger(__name__)

#: Seconds between two sweeps.
SWEEP_EVERY = 1.0
#: A job abandoned this many times (it kills its worker) is failed instead of run again.
MAX_ABANDONED = 5
#: Seconds a job id may sit in an intermediate list, not running, before it is taken for a dead worker's.
TAKEN_GRACE = 5.0
#: How long the sweeper remembers when it first saw an id there (short: an id seen again later starts afresh).
FIRST_SEEN_TTL = 60
#: States in which a job is no longer running: nothing to recover.
_ENDED = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.SCHEDULED, JobStatus.QUEUED, JobStatus.STOPPED,
          JobStatus.CANCELED, JobStatus.DEFERRED}


def sweep(redis: Redis, queue_name: str, now: float | None = None) -> list[str]:
    """Requeue (or fail) the jobs of ``queue_name`` whose heartbeat ran out; the ids requeued."""
    queue = Queue(queue_name, connection=redis, serializer=JSONSerializer)
    registry = StartedJobRegistry(queue_name, connection=redis, serializer=JSONSerializer)
    moment = time.time() if now is None else now
    requeued: list[str] = []
    for raw in redis.zrangebyscore(registry.key, "-inf", f"({moment}"):
        member = as_text(raw)
        if not redis.zrem(registry.key, member):
            continue  # another sweeper took it
        job_id = member.split(":", 1)[0]
        try:
            job = Job.fetch(job_id, connection=redis, serializer=JSONSerializer)
        except NoSuchJobError:
            continue
        _forget_execution(redis, job, member)
        status = job.get_status(refresh=False)
        if status in _ENDED:
            continue
        if job.func_name == BUNDLE_FUNCTION:
            payloads = list(job.kwargs.get("payloads") or [])
            requeued += requeue_alone(redis, queue_name, payloads, max(1, int(job.timeout or 120) // 2))
            job.delete()
            log.warning("bundle %s (%s): its worker stopped beating; its %d messages queued again alone at the front "
                        "of %s", job.id, job.description, len(payloads), queue_name)
            continue
        job.meta["abandoned"] = int(job.meta.get("abandoned", 0)) + 1
        job.save_meta()  # type: ignore[no-untyped-call]
        if job.meta["abandoned"] > MAX_ABANDONED:
            log.error("job %s (%s) was abandoned %d times by dying workers: failed", job.id, job.description,
                      job.meta["abandoned"])
            with redis.pipeline() as pipe:
                job.set_status(JobStatus.FAILED, pipeline=pipe)
                queue.failed_job_registry.add(job, exc_string=f"abandoned {job.meta['abandoned']} times by a dying worker",
                                              pipeline=pipe)
                pipe.execute()
            continue
        queue.enqueue_job(job, at_front=True)
        requeued.append(job.id)
        log.warning("job %s (%s): its worker stopped beating; queued again at the front of %s", job.id,
                    job.description, queue_name)
    return requeued


def sweep_taken(redis: Redis, queue_name: str, grace: float = TAKEN_GRACE) -> list[str]:
    """Requeue the jobs of ``queue_name`` a worker took (intermediate list) but never started; the ids requeued."""
    queue = Queue(queue_name, connection=redis, serializer=JSONSerializer)
    taken = queue.intermediate_queue
    waiting = taken.get_job_ids()
    if not waiting:
        return []
    running = {as_text(m).split(":", 1)[0] for m in redis.zrange(queue.started_job_registry.key, 0, -1)}
    requeued: list[str] = []
    for job_id in waiting:
        if job_id in running:
            continue  # registered as running: its worker takes it out of the list in a moment
        seen_key = taken.get_first_seen_key(job_id)
        if redis.set(seen_key, time.time(), nx=True, ex=FIRST_SEEN_TTL):
            continue  # first seen now: a live worker may be about to start it
        first = redis.get(seen_key)
        if first is None or time.time() - float(first) < grace:
            continue
        if not redis.lrem(taken.key, 1, job_id):
            continue  # another sweeper took it
        redis.delete(seen_key)
        try:
            job = Job.fetch(job_id, connection=redis, serializer=JSONSerializer)
        except NoSuchJobError:
            continue
        if job.get_status(refresh=False) not in (JobStatus.QUEUED, None):
            continue
        queue.enqueue_job(job, at_front=True)
        requeued.append(job.id)
        log.warning("job %s (%s) was taken by a worker that never started it; queued again at the front of %s",
                    job.id, job.description, queue_name)
    return requeued


def _forget_execution(redis: Redis, job: Job, member: str) -> None:
    """Drop the dead execution's own keys (its entry in the registry is already gone)."""
    try:
        with redis.pipeline() as pipe:
            Execution.from_composite_key(member, connection=redis).delete(job, pipeline=pipe)
            pipe.execute()
    except Exception as exc:  # noqa: BLE001 - leftovers expire on their own
        log.debug("job %s: execution keys not dropped (%s)", job.id, exc)


class Sweeper(Periodic):
    """A daemon thread sweeping Herald's queues every ``SWEEP_EVERY`` seconds until ``stop``."""

    name = "herald-sweeper"

    def __init__(self, redis: Redis, queues: list[str], every: float = SWEEP_EVERY) -> None:
        self.redis = redis
        self.queues = list(queues)
        super().__init__(every)

    def turn(self, now: float) -> None:
        """One sweep of every queue (one queue failing does not stop the others)."""
        for name in self.queues:
            try:
                sweep(self.redis, name)
                sweep_taken(self.redis, name)
            except Exception as exc:  # noqa: BLE001 - Redis away for a moment: the next sweep tries again
                log.warning("sweeping %s failed: %s: %s", name, type(exc).__name__, exc)
