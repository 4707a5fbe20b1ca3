"""The RQ worker Herald runs: its queues, most urgent first, the JSON serializer and fast housekeeping."""
from __future__ import annotations

from redis import Redis
from rq import SimpleWorker, Worker
from rq.serializers import JSONSerializer
from rq.worker import BaseWorker

#: How often a worker looks for jobs abandoned by a dead worker (RQ's default: 10 min).
MAINTENANCE_INTERVAL = 30
#: A worker's registration TTL; its blocking wait for jobs is this minus 15 s, so maintenance runs that often.
WORKER_TTL = 35


def make_worker(redis: Redis, queues: list[str], *, fork: bool = False, name: str | None = None) -> BaseWorker:
    """An RQ worker on Herald's queues, most urgent first, with the JSON serializer.

    A job whose worker was SIGKILLed is found abandoned about 65 s later (RQ's heartbeat TTL) by the
    next maintenance pass of any worker, and retried (``hotfix.jobs.CRASH_RETRY``).
    """
    cls: type[BaseWorker] = Worker if fork else SimpleWorker
    return cls(queues, connection=redis, serializer=JSONSerializer, name=name, job_monitoring_interval=5,
               maintenance_interval=MAINTENANCE_INTERVAL, worker_ttl=WORKER_TTL)
