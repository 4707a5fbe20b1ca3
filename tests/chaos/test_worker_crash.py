"""Chaos: `kill -9` a worker while a delivery is in flight; another worker recovers and delivers the job.

RQ finds a SIGKILLed worker's job abandoned only once the job's entry in the StartedJobRegistry
has expired (a SimpleWorker scores it ``job timeout + 60 s`` ahead, and does not refresh it) and a
maintenance pass runs (on a worker's start, then every ``maintenance_interval``, 600 s by default).
The short variant stands in for that wait: it runs one maintenance pass of a worker built by
Herald's own ``make_worker`` with RQ's clock moved an hour ahead, drops the dead worker's scheduler
locks (61 s TTL) as an hour would, and starts one more worker to take them. The full variant waits in real
time (``[worker] job_timeout = "5s"``, so ~65 s) and lets a freshly started worker's own
maintenance pass find the job.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest
import rq.registry
from redis import Redis
from rq.registry import FailedJobRegistry, StartedJobRegistry

from hotfix import keys
from tests.chaos.herald_procs import write_config
from tests.chaos.support import FULL, SIZES, duplicates, full_only, record
from tests.fixtures.herald import BASE_CONFIG, event, merge, xadd
from tests.fixtures.processes import hotfix_process, wait_until  # noqa: F401
from tests.fixtures.teams_server import Reply, teams_server  # noqa: F401
from workers.worker import make_worker

pytestmark = pytest.mark.e2e



def teams_only_config(redis_url: str, tmp_path: Path, url: str, **worker: Any) -> dict[str, Any]:
    """Announcements of every severity go to one Teams channel only."""
    policy = {"announce": ["oncall"], "updates": ["oncall"], "resolution": ["oncall"]}
    return merge(BASE_CONFIG, {
        "redis": {"url": redis_url}, "outbox": {"dir": str(tmp_path / "outbox")},
        "teams": {"engineering": {"url": url, "timeout": "20s"}},
        "audiences": {"oncall": {"teams": ["engineering"], "emails": []}},
        "severity": {"P0": policy, "P1": policy, "P2": policy},
        "worker": worker,
    })


def cards_per_ticket(teams: Any, tickets: list[str]) -> Counter[str]:
    """How many cards each ticket's announcement reached the stand-in with."""
    seen: Counter[str] = Counter()
    for request in teams.requests("/engineering"):
        text = request.raw.decode("utf-8", "replace")
        for ticket in tickets:
            if ticket in text:
                seen[ticket] += 1
    return seen


def sent_receipt(redis: Redis, ticket: str) -> bool:
    """Whether a receipt records the ticket's Teams announcement as sent."""
    rows = [json.loads(v) for v in redis.hvals(keys.receipts(ticket))]
    return any(r["message"] == "announcement" and r["status"] == "sent" for r in rows)


def maintenance_an_hour_later(redis: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    """One maintenance pass of a Herald worker, as it would run once every heartbeat TTL has passed."""
    ahead = time.time() + 3600
    with monkeypatch.context() as patch:
        patch.setattr(rq.registry, "current_timestamp", lambda: int(ahead))
        make_worker(redis, list(keys.QUEUE_NAMES)).clean_registries()
    for lock in redis.keys("rq:scheduler-lock:*"):  # the dead worker's scheduler locks (61 s TTL) are long gone
        redis.delete(lock)


def kill_in_flight(redis: Redis, teams: Any, start: Callable[..., Any], config: Path, ticket: str,
                   worker: Any) -> None:
    """Push a P0 declaration whose card hangs at the stand-in, and SIGKILL the worker during the request."""
    before = len(teams.requests("/engineering"))
    teams.script("/engineering", [Reply.hanging(60)])
    xadd(redis, event("declared", ticket=ticket, id=f"{ticket}-d"))
    wait_until(lambda: len(teams.requests("/engineering")) > before, timeout=20, message=f"{ticket}'s card in flight")
    worker.kill()


def test_worker_killed_mid_delivery_job_is_recovered(tmp_path: Path, redis: Redis, redis_url: str, teams_server,
                                                     hotfix_process, monkeypatch: pytest.MonkeyPatch) -> None:
    """A delivery interrupted by `kill -9` of its worker is delivered by another worker after RQ's maintenance pass."""
    config = write_config(tmp_path, teams_only_config(redis_url, tmp_path, teams_server.url("/engineering")))
    hotfix_process("daemon", "--config", str(config), "--claim-idle", "1")
    victim = hotfix_process("worker", "--config", str(config))
    kill_in_flight(redis, teams_server, hotfix_process, config, "WKR-001", victim)
    others = ["WKR-002", "WKR-003"]
    xadd(redis, *(event("declared", ticket=t, id=f"{t}-d") for t in others))
    hotfix_process("worker", "--config", str(config))
    wait_until(lambda: all(sent_receipt(redis, t) for t in others), timeout=30, message="the other tickets delivered")
    assert not sent_receipt(redis, "WKR-001")  # the interrupted job is still unrecorded: the scenario happened
    maintenance_an_hour_later(redis, monkeypatch)
    hotfix_process("worker", "--config", str(config))  # takes the free scheduler locks, so the retry gets enqueued
    failed = sum(FailedJobRegistry(q, connection=redis).count for q in keys.QUEUE_NAMES)
    recovered = True
    try:
        wait_until(lambda: sent_receipt(redis, "WKR-001"), timeout=30, message="the interrupted job delivered")
    except AssertionError:
        recovered = False
    tickets = ["WKR-001", *others]
    cards = cards_per_ticket(teams_server, tickets)
    record("worker_kill", kills=1, jobs=len(tickets), recovered=int(recovered), abandoned_to_failed=failed,
           duplicates=duplicates(cards))
    assert recovered, f"interrupted job not delivered; {failed} job(s) in the FailedJobRegistry"
    assert cards == {t: 1 for t in others} | {"WKR-001": cards["WKR-001"]}
    assert duplicates(cards) <= 1  # the request in flight at the kill may have reached Teams: at most one duplicate


@pytest.mark.slow
@full_only
@pytest.mark.timeout(900)
def test_worker_kills_recovered_in_real_time(tmp_path: Path, redis: Redis, redis_url: str, teams_server,
                                             hotfix_process) -> None:
    """Full run: after each `kill -9` mid-delivery, a freshly started worker's own maintenance recovers the job."""
    config = write_config(tmp_path, teams_only_config(redis_url, tmp_path, teams_server.url("/engineering"),
                                                      job_timeout="5s"))
    hotfix_process("daemon", "--config", str(config), "--claim-idle", "1")
    worker = hotfix_process("worker", "--config", str(config))
    tickets: list[str] = []
    recovered_in: list[float] = []
    for n in range(SIZES.worker_kills if FULL else 1):
        ticket = f"WKF-{n:03d}"
        tickets.append(ticket)
        killed_at = time.monotonic()
        kill_in_flight(redis, teams_server, hotfix_process, config, ticket, worker)
        wip = [StartedJobRegistry(q, connection=redis) for q in keys.QUEUE_NAMES]
        wait_until(lambda wip=wip: not any(r.get_job_ids(cleanup=False) and
                                           redis.zrangebyscore(r.key, time.time(), "+inf") for r in wip),
                   timeout=120, interval=1, message="the dead worker's heartbeat to expire")
        worker = hotfix_process("worker", "--config", str(config))
        wait_until(lambda ticket=ticket: sent_receipt(redis, ticket), timeout=60, message=f"{ticket} recovered")
        recovered_in.append(round(time.monotonic() - killed_at, 1))
    cards = cards_per_ticket(teams_server, tickets)
    record("worker_kill_real_time", kills=len(tickets), recovered=len(recovered_in), duplicates=duplicates(cards),
           recovery_seconds=recovered_in)
    assert duplicates(cards) <= len(tickets)
