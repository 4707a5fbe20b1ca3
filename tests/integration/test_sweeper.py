"""The sweeper of abandoned jobs and the job heartbeat, on the real Redis (``workers.sweeper``, ``workers.worker``)."""
from __future__ import annotations

import threading
import time

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from workers import sweeper, worker
from workers.sweeper import MAX_ABANDONED, sweep

RUNS = "test:runs"


def started(redis: Redis, queue: Queue, *, beat_until: float) -> Job:
    """A job a worker took (out of the queue, status started) whose heartbeat runs out at ``beat_until``."""
    job = queue.enqueue_call("tests.fixtures.rq_jobs.count_run", args=(RUNS,))
    redis.lrem(queue.key, 0, job.id)
    job.set_status(JobStatus.STARTED)
    redis.zadd(StartedJobRegistry(queue.name, connection=redis).key, {f"{job.id}:exec-1": beat_until})
    return job


@pytest.fixture
def queue(redis: Redis) -> Queue:
    """The P0 queue on the tests' Redis, JSON jobs."""
    return Queue("hotfix-p0", connection=redis, serializer=JSONSerializer)


def test_abandoned_job_goes_back_first_once(redis: Redis, queue: Queue) -> None:
    """A job whose heartbeat ran out is queued again ahead of the waiting ones, once however many sweeps look."""
    waiting = queue.enqueue_call("tests.fixtures.rq_jobs.count_run", args=(RUNS,))
    dead = started(redis, queue, beat_until=time.time() - 1)
    assert sweep(redis, queue.name) == [dead.id]
    assert sweep(redis, queue.name) == []
    assert queue.job_ids == [dead.id, waiting.id]
    assert queue.fetch_job(dead.id).get_status() == JobStatus.QUEUED  # type: ignore[union-attr]
    assert queue.fetch_job(dead.id).meta["abandoned"] == 1  # type: ignore[union-attr]
    assert StartedJobRegistry(queue.name, connection=redis).get_job_ids(cleanup=False) == []


def test_a_beating_job_and_an_ended_one_are_left_alone(redis: Redis, queue: Queue) -> None:
    """A job whose heartbeat is current stays running; one that already finished is not run again."""
    alive = started(redis, queue, beat_until=time.time() + 60)
    done = started(redis, queue, beat_until=time.time() - 1)
    done.set_status(JobStatus.FINISHED)
    assert sweep(redis, queue.name) == []
    assert queue.job_ids == []
    assert StartedJobRegistry(queue.name, connection=redis).get_job_ids(cleanup=False) == [alive.id]


def test_a_job_that_kills_every_worker_is_failed_not_looped(redis: Redis, queue: Queue) -> None:
    """Past ``MAX_ABANDONED`` abandonments the job goes to the FailedJobRegistry instead of the queue."""
    job = started(redis, queue, beat_until=time.time() - 1)
    job.meta["abandoned"] = MAX_ABANDONED
    job.save_meta()  # type: ignore[no-untyped-call]
    assert sweep(redis, queue.name) == []
    assert queue.job_ids == [] and queue.failed_job_registry.get_job_ids() == [job.id]
    assert queue.fetch_job(job.id).get_status() == JobStatus.FAILED  # type: ignore[union-attr]


def test_a_long_job_keeps_beating_and_is_never_swept(redis: Redis, queue: Queue,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A job running three heartbeat TTLs long, swept all along, runs once: its beats keep it alive."""
    monkeypatch.setattr(worker, "JOB_HEARTBEAT", 0.2)
    monkeypatch.setattr(worker, "JOB_HEARTBEAT_TTL", 2)
    job = queue.enqueue_call("tests.fixtures.rq_jobs.count_run", args=(RUNS, 6.0))
    stop = threading.Event()
    swept: list[str] = []

    def sweeping() -> None:
        while not stop.wait(0.1):
            swept.extend(sweep(redis, queue.name))

    thread = threading.Thread(target=sweeping)
    thread.start()
    try:
        worker.make_worker(redis, [queue.name]).work(burst=True)
    finally:
        stop.set()
        thread.join()
    assert swept == [] and redis.get(RUNS) == b"1"
    assert queue.fetch_job(job.id).get_status() == JobStatus.FINISHED  # type: ignore[union-attr]


def test_the_sweeper_thread_runs_until_stopped(redis: Redis, queue: Queue) -> None:
    """``Sweeper`` sweeps every queue it was given on its own until ``stop``."""
    dead = started(redis, queue, beat_until=time.time() - 1)
    thread = sweeper.Sweeper(redis, [queue.name], every=0.05)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while queue.job_ids != [dead.id] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        thread.stop()
    assert queue.job_ids == [dead.id]


def test_a_job_taken_by_a_worker_that_died_before_starting_it_is_queued_again(redis: Redis, queue: Queue) -> None:
    """An id left in the intermediate list, not running, past the grace, goes back to the front of its queue once."""
    waiting = queue.enqueue_call("tests.fixtures.rq_jobs.count_run", args=(RUNS,))
    taken = queue.enqueue_call("tests.fixtures.rq_jobs.count_run", args=(RUNS,))
    redis.lrem(queue.key, 0, taken.id)
    redis.rpush(queue.intermediate_queue.key, taken.id)  # what a take does; then its worker died
    assert sweeper.sweep_taken(redis, queue.name, grace=0) == []  # first seen: maybe a live worker's
    assert sweeper.sweep_taken(redis, queue.name, grace=0) == [taken.id]
    assert sweeper.sweep_taken(redis, queue.name, grace=0) == []
    assert queue.job_ids == [taken.id, waiting.id] and queue.intermediate_queue.get_job_ids() == []


def test_a_running_job_in_the_intermediate_list_is_left_alone(redis: Redis, queue: Queue) -> None:
    """An id still in the intermediate list while its job is registered as running is its worker's business."""
    job = started(redis, queue, beat_until=time.time() + 60)
    redis.rpush(queue.intermediate_queue.key, job.id)
    for _ in range(3):
        assert sweeper.sweep_taken(redis, queue.name, grace=0) == []
    assert queue.intermediate_queue.get_job_ids() == [job.id]


def test_every_take_goes_through_the_intermediate_list_and_leaves_it_when_run(redis: Redis) -> None:
    """A worker on several queues takes jobs into their intermediate lists, most urgent first, and empties them."""
    from workers.queue import HeraldQueue

    p0 = HeraldQueue("hotfix-p0", connection=redis, serializer=JSONSerializer)
    p2 = HeraldQueue("hotfix-p2", connection=redis, serializer=JSONSerializer)
    low = p2.enqueue_call("tests.fixtures.rq_jobs.count_run", args=(RUNS,))
    high = p0.enqueue_call("tests.fixtures.rq_jobs.count_run", args=(RUNS,))
    job, taken_from = HeraldQueue.dequeue_any([p0, p2], None, connection=redis, serializer=JSONSerializer)
    assert (job.id, taken_from.name) == (high.id, "hotfix-p0")
    assert p0.intermediate_queue.get_job_ids() == [high.id] and p2.job_ids == [low.id]
    job, taken_from = HeraldQueue.dequeue_any([p0, p2], None, connection=redis, serializer=JSONSerializer)
    assert (job.id, taken_from.name) == (low.id, "hotfix-p2") and p2.intermediate_queue.get_job_ids() == [low.id]
    assert HeraldQueue.dequeue_any([p0, p2], None, connection=redis, serializer=JSONSerializer) is None
    for queue, job_id in ((p0, high.id), (p2, low.id)):  # as if never taken: the worker below runs them
        redis.lrem(queue.intermediate_queue.key, 0, job_id)
        redis.lpush(queue.key, job_id)
    worker.make_worker(redis, ["hotfix-p0", "hotfix-p2"]).work(burst=True)
    assert redis.get(RUNS) == b"2"
    assert p0.intermediate_queue.get_job_ids() == [] and p2.intermediate_queue.get_job_ids() == []


@pytest.mark.parametrize(("companion_waits", "queues", "blocks_on"), [
    (None, ["hotfix-p0", "hotfix-p1", "hotfix-p2"], "hotfix-p0"),   # no companion
    (True, ["hotfix-p0", "hotfix-p1", "hotfix-p2"], "hotfix-p1"),   # the companion waits on P0
    (False, ["hotfix-p0", "hotfix-p1", "hotfix-p2"], "hotfix-p0"),  # every companion busy: P0 is waited on again
    (True, ["hotfix-p0"], "hotfix-p0"),                             # a P0-only worker always waits on P0
    (True, ["hotfix-p1", "hotfix-p2"], "hotfix-p1"),
])
def test_a_worker_with_a_waiting_p0_companion_waits_on_the_next_queue(redis: Redis, companion_waits: bool | None,
                                                                       queues: list[str], blocks_on: str) -> None:
    """The blocking wait of a worker whose companion waits on P0 is on the next queue; it still takes P0 first."""
    from workers.queue import HeraldQueue, covered_by

    cls = HeraldQueue if companion_waits is None else covered_by(lambda: bool(companion_waits))
    made = [cls(name, connection=redis, serializer=JSONSerializer) for name in queues]
    blocked: list[str] = []
    spy = redis.blmove

    def blmove(first: str, *args: object, **kwargs: object) -> object:
        blocked.append(first)
        made[-1].enqueue_call("tests.fixtures.rq_jobs.count_run", args=(RUNS,))  # something to take after the wait
        return spy(first, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(redis, "blmove", blmove)
        taken = cls.dequeue_any(made, 5, connection=redis, serializer=JSONSerializer)
    assert taken is not None and blocked and blocked[0] == f"rq:queue:{blocks_on}"
    if len(queues) > 1:
        urgent = made[0].enqueue_call("tests.fixtures.rq_jobs.count_run", args=(RUNS,))
        made[-1].enqueue_call("tests.fixtures.rq_jobs.count_run", args=(RUNS,))
        job, _queue = cls.dequeue_any(made, 5, connection=redis, serializer=JSONSerializer)
        assert job.id == urgent.id  # the most urgent job first, whatever the wait is on


def test_a_bundle_whose_worker_died_is_split_into_its_messages(redis: Redis, queue: Queue) -> None:
    """An abandoned bundle goes back as its messages, each alone at the front in the bundle's order: one that kills
    its worker then fails alone; the bundle itself is gone."""
    from hotfix.jobs import JOB_FUNCTION, bundle_id, requeue_alone

    payloads = [{"job_key": f"hf-member-{n}", "ticket": "INC-1"} for n in range(3)]
    waiting = queue.enqueue_call("tests.fixtures.rq_jobs.count_run", args=(RUNS,))
    bundle = queue.enqueue_call("workers.jobs.deliver_bundle", kwargs={"payloads": payloads},
                                job_id=bundle_id(p["job_key"] for p in payloads), timeout=120)
    redis.lrem(queue.key, 0, bundle.id)
    bundle.set_status(JobStatus.STARTED)
    redis.zadd(StartedJobRegistry(queue.name, connection=redis).key, {f"{bundle.id}:exec-1": time.time() - 1})
    assert sweep(redis, queue.name) == [p["job_key"] for p in payloads]
    assert queue.job_ids == [*(p["job_key"] for p in payloads), waiting.id]
    alone = [queue.fetch_job(p["job_key"]) for p in payloads]
    assert [(j.func_name, j.kwargs["payload"]) for j in alone] == [(JOB_FUNCTION, p) for p in payloads]  # type: ignore[union-attr]
    assert queue.fetch_job(bundle.id) is None and sweep(redis, queue.name) == []
    assert requeue_alone(redis, queue.name, [{"no": "key"}], 60)  # a payload without a key still runs (and dead-letters)
