"""RQ's scheduling in a thread of the worker (workers.scheduling): due jobs reach their queue, one scheduler a queue."""
from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from redis import Redis
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from hotfix import keys
from tests.fixtures.herald import BASE_CONFIG, merge
from tests.fixtures.processes import hotfix_process, to_toml, wait_until  # noqa: F401
from workers.queue import HeraldQueue
from workers.scheduling import RETAKE_EVERY, SchedulerThread

P0 = keys.QUEUE_NAMES[0]


def scheduled(redis: Redis, seconds: float) -> str:
    """A job scheduled to run ``seconds`` from now (negative: already due); its id."""
    queue = HeraldQueue(P0, connection=redis, serializer=JSONSerializer)
    job = queue.enqueue_at(datetime.now(UTC) + timedelta(seconds=seconds), "builtins.len", ["x"])
    return str(job.id)


def test_a_due_job_reaches_its_queue_and_one_thread_schedules_a_queue(redis: Redis) -> None:
    """One pass moves a due job (not a later one) to its queue; a second worker's thread takes no lock while the
    first holds them, and takes them at its next attempt once the first stopped."""
    due, later = scheduled(redis, -1), scheduled(redis, 3600)
    first, second = SchedulerThread(redis, list(keys.QUEUE_NAMES)), SchedulerThread(redis, list(keys.QUEUE_NAMES))
    now = time.monotonic()
    first.turn(now)
    second.turn(now)
    queue = HeraldQueue(P0, connection=redis, serializer=JSONSerializer)
    assert queue.job_ids == [due]
    assert ScheduledJobRegistry(P0, connection=redis).get_job_ids() == [later]
    assert first.scheduler.acquired_locks == set(keys.QUEUE_NAMES) and second.scheduler.acquired_locks == set()
    first.stop()  # releases its locks
    second.turn(now + 1)
    assert second.scheduler.acquired_locks == set()  # not before RETAKE_EVERY
    second.turn(now + RETAKE_EVERY)
    assert second.scheduler.acquired_locks == set(keys.QUEUE_NAMES)
    second.stop()


def test_hotfix_worker_schedules_without_forking(tmp_path: Path, redis: Redis, redis_url: str,
                                                 hotfix_process) -> None:
    """A running ``hotfix worker`` moves a job due in a second to its queue and runs it, with no child process
    (RQ's scheduler was a fork of this threaded process, which could hang for good holding every retry)."""
    config = tmp_path / "config.toml"
    config.write_text(to_toml(merge(BASE_CONFIG, {"redis": {"url": redis_url}, "outbox": {"dir": str(tmp_path)}})))
    worker = hotfix_process("worker", "--config", str(config))
    wait_until(lambda: redis.scard("rq:workers") >= 2, timeout=60, message="the worker and its P0 companion")
    job_id = scheduled(redis, 1)
    wait_until(lambda: redis.hget(f"rq:job:{job_id}", "status") == b"finished", timeout=30,
               message="the scheduled job run")
    children = subprocess.run(["ps", "--ppid", str(worker.proc.pid), "-o", "pid="], capture_output=True, text=True)
    assert children.stdout.split() == []
    assert sys.platform.startswith("linux")  # ps --ppid is procps'
