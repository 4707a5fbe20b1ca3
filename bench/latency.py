"""P0 time-to-announce, alone and during a P2 storm with a hanging webhook (scenarios 1 and 2).

A latency is the time from just before a P0 ``declared`` event (``at`` = now) is submitted to the
sink's receipt: the Teams request's arrival, or the SMTP server accepting DATA of the email carrying
``X-Hotfix-Ticket``. Scenario 1 submits with an ``XADD`` to ``hotfix:events``; scenario 2 the way
monitoring and people do, through ``hotfix serve`` (``POST /events``, which puts a P0 on Herald's P0
lane), while the storm was ``XADD``ed straight to ``hotfix:events``. Both clocks are this process's
``time.monotonic()``, since the sinks run in it.
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
from redis import Redis

from bench import stages
from bench.stack import Sinks, current_tree, flush, group_info, herald, wait_group, xadd_event, xadd_many
from bench.stats import Summary, summarize
from tests.fixtures.processes import wait_until
from tests.fixtures.teams_server import Reply

TICKET_RE = re.compile(rb"(LAT-\d{5})")
WARMUP = 5


@dataclass
class LatencyResult:
    """One scenario's per-channel summaries and notes."""

    name: str
    channels: dict[str, Summary] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def declared(ticket: str, severity: str = "P0") -> dict[str, Any]:
    return {"type": "declared", "ticket": ticket, "id": f"{ticket}-d", "severity": severity,
            "title": "Checkout returns 500", "impact": "No order can be paid", "users_affected": "all EU customers",
            "team": {"coordinator": "Alice", "developer": "Bob"},
            "at": datetime.now(timezone.utc).isoformat()}


def paced(redis: Redis, tickets: list[str], rate: float, sent: dict[str, float],
          stop: threading.Event | None = None) -> None:
    """XADD one P0 declaration per ticket at a steady ``rate``/s, recording each XADD's start."""
    start = time.monotonic()
    for i, ticket in enumerate(tickets):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if stop is not None and stop.is_set():
            return
        data = declared(ticket)
        sent[ticket] = time.monotonic()
        xadd_event(redis, data)


def settle(arrivals: Callable[[], dict[str, float]], tickets: list[str], timeout: float) -> dict[str, float]:
    """Wait (bounded) until every ticket arrived; return what arrived."""
    deadline = time.monotonic() + timeout
    while True:
        got = arrivals()
        if all(t in got for t in tickets) or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def latencies(sent: dict[str, float], got: dict[str, float], tickets: list[str]) -> list[float]:
    return [got[t] - sent[t] for t in tickets if t in got and t in sent]


def warm_up(redis: Redis, s: Sinks, arrivals: Callable[[], dict[str, float]], first: int = 90000) -> None:
    """A few P0s through the whole path first: connections, templates, imports are warm."""
    tickets = [f"LAT-{first + i:05d}" for i in range(WARMUP)]
    paced(redis, tickets, 5.0, {})
    settle(arrivals, tickets, 30)


def _p0_config(audience: dict[str, Any], teams: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"audiences": {"p0": audience},
                           "severity": {"P0": {"announce": ["p0"], "updates": ["p0"], "resolution": ["p0"]}}}
    if teams:
        out["teams"] = teams
    return out


def time_to_announce(redis: Redis, s: Sinks, workdir: Path, n_email: int, n_teams: int,
                     workers: int = 2) -> LatencyResult:
    """Scenario 1: email alone at a steady 20/s; then Teams and email together at 3/s (one webhook); warm workers."""
    result = LatencyResult("P0 time-to-announce")
    # email: an audience with one address
    flush(redis)
    with herald(s, workdir / "p0-email", _p0_config({"emails": ["oncall@bench.test"]})) as h:
        h.daemon()
        for _ in range(workers):
            h.worker()
        wait_group(redis)
        h.wait_workers(redis)
        warm_up(redis, s, s.email_arrivals)
        tickets = [f"LAT-{i:05d}" for i in range(n_email)]
        sent: dict[str, float] = {}
        paced(redis, tickets, 20.0, sent)
        got = settle(s.email_arrivals, tickets, 60)
        h.check_alive()
        result.channels["email @ 20/s"] = summarize(latencies(sent, got, tickets), n_email)
        result.notes["email @ 20/s stages"] = stages.split(redis, "email", sent, got)
    # Teams and email beside it: one webhook (at 3/s, under its 4/s limit) and one address per P0
    flush(redis)
    teams = {"p0hook": {"url": s.teams.url("/p0hook"), "rate": 4.0}}
    arrivals = lambda: s.teams_arrivals("/p0hook", TICKET_RE)  # noqa: E731
    both = {"teams": ["p0hook"], "emails": ["oncall@bench.test"]}
    with herald(s, workdir / "p0-teams", _p0_config(both, teams)) as h:
        h.daemon()
        for _ in range(workers):
            h.worker()
        wait_group(redis)
        h.wait_workers(redis)
        warm_up(redis, s, arrivals, first=91000)
        tickets = [f"LAT-{10000 + i:05d}" for i in range(n_teams)]  # not the email run's: the sink keeps its mail
        sent = {}
        paced(redis, tickets, 3.0, sent)
        got = settle(arrivals, tickets, 60)
        got_mail = settle(s.email_arrivals, tickets, 30)
        h.check_alive()
        result.channels["teams @ 3/s"] = summarize(latencies(sent, got, tickets), n_teams)
        result.channels["email @ 3/s, beside Teams"] = summarize(latencies(sent, got_mail, tickets), n_teams)
        result.notes["teams @ 3/s stages"] = stages.split(redis, "teams", sent, got)
        result.notes["email beside Teams stages"] = stages.split(redis, "email", sent, got_mail)
    result.notes["workers"] = f"1 daemon, {workers} `hotfix worker` (all queues{_companions()})"
    return result


def _companions() -> str:
    """How the workers of the tree under test are made up."""
    return ", each with its P0-only companion thread" if current_tree().companions else ", SimpleWorker"


def posted(client: httpx.Client, url: str, tickets: list[str], rate: float, sent: dict[str, float]) -> list[int]:
    """POST one P0 declaration per ticket to the intake at a steady ``rate``/s, recording each POST's start."""
    start = time.monotonic()
    statuses = []
    for i, ticket in enumerate(tickets):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        data = declared(ticket)
        sent[ticket] = time.monotonic()
        statuses.append(client.post(url, json=data).status_code)
    return statuses


def _storm(tickets: int, per_ticket: int) -> list[dict[str, Any]]:
    """P2 declarations each followed by updates: ``tickets * per_ticket`` events."""
    now = datetime.now(timezone.utc).isoformat()
    out: list[dict[str, Any]] = []
    for i in range(tickets):
        ticket = f"STORM-{i:05d}"
        out.append({"type": "declared", "ticket": ticket, "id": f"{ticket}-d", "severity": "P2",
                    "title": "Export is slow", "at": now})
        out += [{"type": "updated", "ticket": ticket, "id": f"{ticket}-u{j}", "message": f"step {j}",
                 "at": now} for j in range(1, per_ticket)]
    return out


def isolation(redis: Redis, s: Sinks, workdir: Path, storm_tickets: int, n_p0: int, rate: float = 1.0) -> LatencyResult:
    """Scenario 2: P0s at ``rate``/s (Teams + email) through the intake while a P2 storm drains and the P2 webhook hangs."""
    result = LatencyResult("P0 isolation")
    flush(redis)
    storm = _storm(storm_tickets, 10)
    s.teams.script("/p2hook", [Reply.hanging(120.0)] * (len(storm) * 2))
    config = {
        "teams": {"p0hook": {"url": s.teams.url("/p0hook"), "rate": 4.0},
                  "p2hook": {"url": s.teams.url("/p2hook"), "rate": 4.0, "timeout": "10s"}},
        "audiences": {"p0": {"teams": ["p0hook"], "emails": ["oncall@bench.test"]},
                      "p2": {"teams": ["p2hook"], "emails": ["team@bench.test"]}},
        "severity": {"P0": {"announce": ["p0"], "updates": ["p0"], "resolution": ["p0"]},
                     "P2": {"announce": ["p2"], "updates": ["p2"], "resolution": ["p2"]}},
    }
    teams_arrivals = lambda: s.teams_arrivals("/p0hook", TICKET_RE)  # noqa: E731
    with herald(s, workdir / "isolation", config) as h:
        h.serve()
        h.daemon()
        h.worker(queues="hotfix-p0")
        h.worker()
        h.worker()
        listen = h.config["http"]["listen"]
        wait_until(lambda: _ready(f"http://{listen}/healthz"), timeout=30, message="hotfix serve ready")
        wait_group(redis)
        h.wait_workers(redis)
        warm_up(redis, s, teams_arrivals)
        tickets = [f"LAT-{i:05d}" for i in range(n_p0)]
        caught_up: list[float] = []
        watching = threading.Event()

        def watch() -> None:
            while not watching.is_set():
                info = group_info(redis)
                if info and int(info.get("lag") or 0) <= 1 and int(info.get("entries-read") or 0) >= len(storm):
                    caught_up.append(time.monotonic())
                    return
                time.sleep(0.02)

        started = time.monotonic()
        xadd_many(redis, storm)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        sent: dict[str, float] = {}
        with httpx.Client(headers={"Authorization": "Bearer bench-token"}, timeout=30) as client:
            statuses = posted(client, f"http://{listen}/events", tickets, rate, sent)
        got_mail = settle(s.email_arrivals, tickets, 90)
        got_teams = settle(teams_arrivals, tickets, 30)
        watching.set()
        h.check_alive()
        result.channels["email"] = summarize(latencies(sent, got_mail, tickets), n_p0)
        result.channels["teams"] = summarize(latencies(sent, got_teams, tickets), n_p0)
        result.notes["email stages"] = stages.split(redis, "email", sent, got_mail)
        result.notes["teams stages"] = stages.split(redis, "teams", sent, got_teams)
        if caught_up:
            cut = caught_up[0]
            during = [t for t in tickets if sent[t] < cut]
            after = [t for t in tickets if sent[t] >= cut]
            for label, group in (("during daemon ingest of the storm", during), ("after the stream was drained", after)):
                if group:
                    merged = latencies(sent, got_mail, group) + latencies(sent, got_teams, group)
                    result.channels[f"both, {label}"] = summarize(merged, 2 * len(group))
            result.notes["storm ingested by the daemon in"] = f"{cut - started:.1f} s ({len(storm)} events)"
        else:
            result.notes["storm ingested by the daemon in"] = "not within the run"
        result.notes["intake answers"] = ", ".join(f"{c}×{statuses.count(c)}" for c in sorted(set(statuses)))
        result.notes["P2 webhook requests (hanging) during the run"] = str(len(s.teams.requests("/p2hook")))
        result.notes["P2 queue left"] = str(redis.llen("rq:queue:hotfix-p2"))
        result.notes["workers"] = (f"1 `hotfix serve`, 1 daemon; 1 `hotfix worker --queues hotfix-p0` + 2 `hotfix worker` "
                                   f"(all queues{_companions()})")
        result.notes["storm"] = (f"{len(storm)} P2 events ({storm_tickets} tickets × declared + 9 updates), XADDed at once "
                                 f"to hotfix:events; then {n_p0} P0 declarations at {rate:g}/s, POST /events")
    return result


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
