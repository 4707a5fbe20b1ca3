"""Chaos: `kill -9` a worker while a delivery is in flight; the survivors' sweepers run it again within 15 s.

While a job runs, its worker beats every 2 s (``workers.worker``); a job whose beat stopped is put back
at the front of its queue by the first sweeper to see it (every live worker runs one, every second). The
card in flight at the kill hangs at the stand-in and never gets an answer: it is the only request the
rerun repeats, and nobody else's card is sent twice, though two surviving workers sweep at once.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from hotfix import keys
from tests.chaos.herald_procs import write_config
from tests.chaos.support import FULL, SIZES, duplicates, full_only, record
from tests.fixtures.herald import BASE_CONFIG, event, merge, xadd
from tests.fixtures.processes import HotfixProcess, hotfix_process, wait_until  # noqa: F401
from tests.fixtures.teams_server import Reply, teams_server  # noqa: F401

pytestmark = pytest.mark.e2e

#: The issue's deadline: a killed worker's job is delivered again within this many seconds.
RECOVERY_DEADLINE = 15.0
#: RQ workers one ``hotfix worker`` registers: the main one and its P0 companion.
PER_PROCESS = 2


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


def workers_ready(redis: Redis, count: int) -> None:
    """Until ``count`` RQ workers are registered (their processes are up and listening)."""
    wait_until(lambda: redis.scard("rq:workers") >= count, timeout=60, message=f"{count} registered RQ workers")


def kill_in_flight(redis: Redis, teams: Any, ticket: str, victim: HotfixProcess, start_survivors: Any) -> float:
    """Push a P0 declaration whose card hangs at the stand-in, start the survivors, SIGKILL the victim mid-request.

    Returns the moment of the kill (``time.monotonic()``).
    """
    before = len(teams.requests("/engineering"))
    teams.script("/engineering", [Reply.hanging(60)])
    xadd(redis, event("declared", ticket=ticket, id=f"{ticket}-d"))
    wait_until(lambda: len(teams.requests("/engineering")) > before, timeout=30, message=f"{ticket}'s card in flight")
    start_survivors()
    victim.kill()
    return time.monotonic()


def test_worker_killed_mid_delivery_job_is_recovered(tmp_path: Path, redis: Redis, redis_url: str, teams_server,
                                                     hotfix_process) -> None:
    """A delivery cut by `kill -9` of its worker is delivered by a surviving worker within 15 s, once."""
    config = write_config(tmp_path, teams_only_config(redis_url, tmp_path, teams_server.url("/engineering")))
    hotfix_process("daemon", "--config", str(config), "--claim-idle", "1")
    victim = hotfix_process("worker", "--config", str(config))
    workers_ready(redis, PER_PROCESS)

    def two_survivors() -> None:
        for _ in range(2):
            hotfix_process("worker", "--config", str(config))
        workers_ready(redis, 3 * PER_PROCESS)

    killed_at = kill_in_flight(redis, teams_server, "WKR-001", victim, two_survivors)
    others = ["WKR-002", "WKR-003"]
    xadd(redis, *(event("declared", ticket=t, id=f"{t}-d") for t in others))
    recovered = True
    try:
        wait_until(lambda: sent_receipt(redis, "WKR-001"), timeout=RECOVERY_DEADLINE - (time.monotonic() - killed_at),
                   message="the interrupted job delivered again")
    except AssertionError:
        recovered = False
    recovered_in = time.monotonic() - killed_at
    wait_until(lambda: all(sent_receipt(redis, t) for t in others), timeout=30, message="the other tickets delivered")
    tickets = ["WKR-001", *others]
    cards = cards_per_ticket(teams_server, tickets)
    record("worker_kill", kills=1, jobs=len(tickets), recovered=int(recovered), recovery_seconds=round(recovered_in, 1),
           duplicates=duplicates(cards))
    assert recovered, f"the interrupted job was not delivered again within {RECOVERY_DEADLINE:.0f} s of the kill"
    # the card in flight at the kill (never answered) and its rerun; every other ticket's card once
    assert cards == {"WKR-001": 2, "WKR-002": 1, "WKR-003": 1}
    receipts = [json.loads(v) for v in redis.hvals(keys.receipts("WKR-001"))]
    assert [(r["status"], r["attempt"]) for r in receipts] == [("sent", 1)]  # the crashed run was no attempt


@pytest.mark.slow
@full_only
@pytest.mark.timeout(900)
def test_worker_kills_recovered_in_real_time(tmp_path: Path, redis: Redis, redis_url: str, teams_server,
                                             hotfix_process) -> None:
    """Full run: after each `kill -9` mid-delivery, a surviving worker delivers the job within 15 s."""
    config = write_config(tmp_path, teams_only_config(redis_url, tmp_path, teams_server.url("/engineering")))
    hotfix_process("daemon", "--config", str(config), "--claim-idle", "1")
    worker = hotfix_process("worker", "--config", str(config))
    workers_ready(redis, PER_PROCESS)
    tickets: list[str] = []
    recovered_in: list[float] = []
    survivors: list[HotfixProcess] = []

    def one_survivor() -> None:
        known = redis.scard("rq:workers")  # a dead worker stays registered for a minute: count the new ones
        survivors.append(hotfix_process("worker", "--config", str(config)))
        workers_ready(redis, known + PER_PROCESS)

    for n in range(SIZES.worker_kills if FULL else 1):
        ticket = f"WKF-{n:03d}"
        tickets.append(ticket)
        killed_at = kill_in_flight(redis, teams_server, ticket, worker, one_survivor)
        wait_until(lambda ticket=ticket: sent_receipt(redis, ticket), timeout=RECOVERY_DEADLINE, interval=0.2,
                   message=f"{ticket} delivered again")
        recovered_in.append(round(time.monotonic() - killed_at, 1))
        worker = survivors[-1]  # the next victim
    cards = cards_per_ticket(teams_server, tickets)
    record("worker_kill_real_time", kills=len(tickets), recovered=len(recovered_in), duplicates=duplicates(cards),
           recovery_seconds=recovered_in)
    assert cards == {t: 2 for t in tickets}  # each: the request in flight at its kill, then the rerun


def test_a_worker_killed_inside_a_bundle_leaves_no_message_behind(tmp_path: Path, redis: Redis, redis_url: str,
                                                                  teams_server, hotfix_process) -> None:
    """`kill -9` of a worker in the middle of a bundle (a storm's jobs): the sweeper splits it, and its messages are
    delivered alone by the survivors within 15 s, each once, the card in flight at the kill the only one repeated."""
    from hotfix.jobs import BUNDLE_FROM_SEVERAL

    config = write_config(tmp_path, teams_only_config(redis_url, tmp_path, teams_server.url("/engineering")))
    victim = hotfix_process("worker", "--config", str(config))
    workers_ready(redis, PER_PROCESS)
    tickets = [f"BND-{n:03d}" for n in range(BUNDLE_FROM_SEVERAL + 2)]
    teams_server.script("/engineering", [Reply.hanging(60)])
    xadd(redis, *(event("declared", ticket=t, id=f"{t}-d") for t in tickets))  # before the daemon: one read, one bundle
    hotfix_process("daemon", "--config", str(config), "--claim-idle", "1")
    wait_until(lambda: len(teams_server.requests("/engineering")) == 1, timeout=30, message="the bundle's first card")
    assert len(redis.keys("rq:job:hfb-*")) == 1  # the storm's jobs went as one bundle
    for _ in range(2):
        hotfix_process("worker", "--config", str(config))
    workers_ready(redis, 3 * PER_PROCESS)
    victim.kill()
    killed_at = time.monotonic()
    wait_until(lambda: all(sent_receipt(redis, t) for t in tickets), timeout=RECOVERY_DEADLINE,
               message="every message of the bundle delivered")
    record("worker_kill_bundle", kills=1, jobs=len(tickets), recovery_seconds=round(time.monotonic() - killed_at, 1))
    cards = cards_per_ticket(teams_server, tickets)
    in_flight = [t for t in tickets if cards[t] == 2]
    assert len(in_flight) == 1 and all(cards[t] == 1 for t in tickets if t not in in_flight), cards
    assert redis.keys("rq:job:hfb-*") == []  # split by the sweeper: its messages ran alone
