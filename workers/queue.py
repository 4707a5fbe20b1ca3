"""Herald's RQ queue: every dequeue moves the job's id to the queue's intermediate list, never just pops it.

RQ pops a worker's job ids with ``BLPOP`` when the worker serves several queues (``BLMOVE`` to an
intermediate list only for one queue). A worker killed while it waits in ``BLPOP`` can have Redis hand
it, in the instant before Redis sees the dead connection, a job that then exists nowhere: no queue,
no registry, never run. Here every take is an ``LMOVE`` / ``BLMOVE`` into ``rq:queue:<name>:intermediate``
(RQ's own list), so the id always stays somewhere: the worker removes it once the job is registered as
running (``workers.worker``), and the sweeper (``workers.sweeper``) puts back an id that stayed there
longer than ``sweeper.TAKEN_GRACE`` without running.

With several queues the wait blocks on the first (most urgent) only, ``MULTI_WAIT`` seconds at a time,
looking at the others between waits: a P0 job is taken at once, a P1/P2 job by an idle worker within
``MULTI_WAIT`` seconds. A worker whose process runs P0 companions (``covered_by``) blocks on the next
queue instead while one of them is waiting on ``hotfix-p0``: the two jobs of one P0 (its card and its
email) then go to two processes' companions and never share one interpreter lock, and a P1 job is taken
at once. When every companion is busy it blocks on ``hotfix-p0`` again, and it always takes P0 jobs first
whenever it looks (``_TAKE_FIRST``).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from redis import Redis
from rq import Queue
from rq.exceptions import DequeueTimeout
from rq.intermediate_queue import IntermediateQueue

from hotfix import keys

#: Seconds one blocking wait lasts on the first queue before the others are looked at again.
MULTI_WAIT = 1

# KEYS: the queues, most urgent first, each followed by its intermediate list. Moves the first id found; returns
# {queue key, id}, or nil when every queue is empty: one round trip for any number of queues.
_TAKE_FIRST = """
for i = 1, #KEYS, 2 do
  local id = redis.call('LMOVE', KEYS[i], KEYS[i + 1], 'LEFT', 'RIGHT')
  if id then return {KEYS[i], id} end
end
return nil
"""


class HeraldQueue(Queue):
    """RQ's queue, taking every job through the queue's intermediate list."""

    @staticmethod
    def p0_covered() -> bool:
        """Whether a P0 companion of this process waits on ``hotfix-p0`` now (``covered_by``)."""
        return False

    @classmethod
    def lpop(cls, queue_keys: Sequence[str], timeout: int | None, connection: Redis | None = None) -> Any:
        """The first job id of ``queue_keys`` (most urgent first), moved to its intermediate list; (key, id)."""
        assert connection is not None
        if len(queue_keys) == 1:
            return cls.lmove(connection, queue_keys[0], timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        take_first = connection.register_script(_TAKE_FIRST)
        lists = [k for key in queue_keys for k in (key, IntermediateQueue.get_intermediate_queue_key(key))]
        while True:
            found = take_first(keys=lists)
            if found:
                return found[0], found[1]
            if deadline is None:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise DequeueTimeout(timeout, queue_keys)
            first = cls.waits_on(queue_keys)
            found = connection.blmove(first, IntermediateQueue.get_intermediate_queue_key(first),
                                      max(1, min(MULTI_WAIT, int(left + 0.999))))
            if found is not None:
                return first, found

    @classmethod
    def waits_on(cls, queue_keys: Sequence[str]) -> str:
        """The queue a blocking wait blocks on: the most urgent, or the next while a companion waits on ``hotfix-p0``."""
        if len(queue_keys) > 1 and queue_keys[0] == P0_QUEUE_KEY and cls.p0_covered():
            return queue_keys[1]
        return queue_keys[0]


#: RQ's key of the P0 queue.
P0_QUEUE_KEY = Queue.redis_queue_namespace_prefix + keys.QUEUE_NAMES[0]


def covered_by(waiting: Callable[[], bool]) -> type[HeraldQueue]:
    """The queue class of a worker whose process runs P0 companions; ``waiting``: whether one of them waits for a job."""
    return type("CoveredQueue", (HeraldQueue,), {"p0_covered": staticmethod(waiting)})
