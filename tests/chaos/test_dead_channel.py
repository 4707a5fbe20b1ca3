"""Chaos: one Teams webhook fails (500) or hangs for a while; its backlog is delivered after, other channels are not held up."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from rq import Worker

from hotfix import keys
from tests.chaos.herald_procs import write_config
from tests.chaos.support import FULL, LONG, SHORT, full_only, record
from tests.fixtures.herald import BASE_CONFIG, event, merge, xadd
from tests.fixtures.processes import hotfix_process, wait_until  # noqa: F401
from tests.fixtures.smtp_server import smtp_server  # noqa: F401
from tests.fixtures.teams_server import FakeTeams, Reply

pytestmark = pytest.mark.e2e

DEAD, ALIVE = "/engineering", "/ops"


class OutageTeams(FakeTeams):
    """The Teams stand-in, with a time window during which one path answers ``outage_reply``."""

    def __init__(self) -> None:
        self.down_until: dict[str, float] = {}
        self.outage_reply: dict[str, Reply] = {}
        super().__init__()

    def outage(self, path: str, seconds: float, reply: Reply) -> float:
        """Make ``path`` answer ``reply`` for ``seconds`` from now; returns when it ends (monotonic)."""
        self.outage_reply[path] = reply
        self.down_until[path] = time.monotonic() + seconds
        return self.down_until[path]

    def _next(self, path: str) -> Reply:
        if time.monotonic() < self.down_until.get(path, 0.0):
            return self.outage_reply[path]
        return super()._next(path)


@pytest.fixture
def outage_teams() -> Iterator[OutageTeams]:
    """A Teams stand-in able to go down for a while."""
    server = OutageTeams()
    try:
        yield server
    finally:
        server.close()


def tickets_in(requests: list[Any], tickets: list[str]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {t: [] for t in tickets}
    for request in requests:
        text = request.raw.decode("utf-8", "replace")
        for ticket in tickets:
            if ticket in text:
                out[ticket].append(request)
    return out


def ready(redis: Redis, daemon: Any) -> bool:
    """The daemon says it is consuming and a worker is registered."""
    return "consuming" in daemon.output() and bool(Worker.all(connection=redis))


def run_dead_channel(tmp_path: Path, redis: Redis, redis_url: str, smtp_server: Any, teams: OutageTeams,
                     hotfix_process: Any, *, seconds: float, mode: str, count: int) -> None:
    smtp = smtp_server()
    timeout_s = 2.0
    policy = {"announce": ["oncall"], "updates": ["oncall"], "resolution": ["oncall"]}
    config = write_config(tmp_path, merge(BASE_CONFIG, {
        "redis": {"url": redis_url}, "outbox": {"dir": str(tmp_path / "outbox")},
        "smtp": {"host": smtp.host, "port": smtp.port, "security": "none", "sender": "Herald <herald@test.local>"},
        "teams": {"engineering": {"url": teams.url(DEAD), "timeout": f"{timeout_s:g}s"},
                  "ops": {"url": teams.url(ALIVE), "timeout": f"{timeout_s:g}s"}},
        "audiences": {"oncall": {"teams": ["engineering", "ops"], "emails": ["oncall@example.com"]}},
        "severity": {"P0": policy, "P1": policy, "P2": policy},
        "worker": {"max_retries": 12},
    }))
    daemon = hotfix_process("daemon", "--config", str(config))
    hotfix_process("worker", "--config", str(config))
    wait_until(lambda: ready(redis, daemon), timeout=30, message="daemon and worker up")
    reply = Reply.error(500) if mode == "error" else Reply.hanging(timeout_s * 5)
    back_at = teams.outage(DEAD, seconds, reply)
    tickets = [f"DC-{n:03d}" for n in range(count)]
    pushed_at = time.monotonic()
    xadd(redis, *(event("declared", ticket=t, id=f"{t}-d") for t in tickets))

    wait_until(lambda: len(smtp.messages) >= count and len(teams.requests(ALIVE)) >= count, timeout=30,
               message="email and the healthy webhook served")
    email_lag = max(m.at for m in smtp.messages) - pushed_at
    alive_lag = max(r.at for r in teams.requests(ALIVE)) - pushed_at
    assert time.monotonic() < back_at, "the outage ended before the other channels were served: make it longer"
    wait_until(lambda: all(any(r.at >= back_at for r in rs) for rs in tickets_in(teams.requests(DEAD), tickets).values()),
               timeout=seconds + 60, interval=0.2, message="the dead webhook's backlog delivered")
    wait_until(lambda: all(
        any(json.loads(v)["status"] == "sent" and json.loads(v)["recipient"] == "engineering"
            for v in redis.hvals(keys.receipts(t))) for t in tickets), timeout=30, message="receipts recorded")
    per_ticket = tickets_in(teams.requests(DEAD), tickets)
    after = {t: sum(1 for r in rs if r.at >= back_at) for t, rs in per_ticket.items()}
    backlog_done = max(r.at for r in teams.requests(DEAD)) - back_at
    record(f"dead_channel_{mode}", outage_seconds=seconds, tickets=count, email_lag_s=round(email_lag, 2),
           healthy_webhook_lag_s=round(alive_lag, 2), backlog_delivered_s_after_recovery=round(backlog_done, 1),
           attempts_during_outage=sum(len(rs) for rs in per_ticket.values()) - sum(after.values()),
           duplicates_after_recovery=sum(n - 1 for n in after.values() if n > 1))
    bound = 5.0 if mode == "error" else 5.0 + count * timeout_s  # one worker waits out each hanging request
    assert email_lag < bound and alive_lag < bound
    assert after == {t: 1 for t in tickets}  # each card delivered once after the recovery
    assert [len(ms.rcpt_tos) for ms in smtp.messages] == [1] * count and len(teams.requests(ALIVE)) == count


def test_failing_webhook_backlog_delivered_others_on_time(tmp_path: Path, redis: Redis, redis_url: str, smtp_server,
                                                         outage_teams: OutageTeams, hotfix_process) -> None:
    """A webhook answering 500 for ~10 s gets its cards after, once each; email and another webhook are served at once."""
    run_dead_channel(tmp_path, redis, redis_url, smtp_server, outage_teams, hotfix_process,
                     seconds=SHORT.outage_s, mode="error", count=4)


@pytest.mark.slow
@full_only
@pytest.mark.timeout(600)
@pytest.mark.parametrize("mode", ["error", "hang"])
def test_dead_webhook_full(tmp_path: Path, redis: Redis, redis_url: str, smtp_server, outage_teams: OutageTeams,
                           hotfix_process, mode: str) -> None:
    """Full run: a webhook failing or hanging for 60 s gets its backlog after; email and another webhook are not held up."""
    run_dead_channel(tmp_path, redis, redis_url, smtp_server, outage_teams, hotfix_process,
                     seconds=LONG.outage_s, mode=mode, count=8)
