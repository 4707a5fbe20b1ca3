"""The adversarial run of issue 17 against the real processes (serve, daemon, worker, SMTP on loopback).

Each repro ends in a clear 4xx, a dead letter or a one-line error; the daemon and the worker stay alive,
and every valid event sent alongside a bad one is delivered once.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis

from hotfix import keys
from tests.chaos.herald_procs import one_inbox_config, write_config
from tests.chaos.support import free_port, parse_mail, record
from tests.fixtures.herald import xadd
from tests.fixtures.processes import HotfixProcess, hotfix_process, wait_until  # noqa: F401
from tests.fixtures.smtp_server import smtp_server  # noqa: F401

pytestmark = pytest.mark.e2e

TOKEN = "hostile-intake-token"
VIEWER = "hostile-viewer-token"


@dataclass
class Stack:
    """One Herald on loopback: the intake's URL, the processes, the mailbox."""

    base: str
    config: Path
    procs: list[HotfixProcess]
    smtp: Any

    def post(self, path: str, body: Any) -> httpx.Response:
        content = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return httpx.post(self.base + path, content=content, timeout=10,
                          headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})

    def announced(self) -> Counter[str]:
        """Announcement emails received, by ticket."""
        return Counter(str(parse_mail(m.data)["X-Hotfix-Ticket"]) for m in self.smtp.messages
                       if "HOTFIX" in str(parse_mail(m.data)["Subject"]))

    def alive(self) -> bool:
        return all(p.alive() for p in self.procs)


@pytest.fixture
def stack(tmp_path: Path, redis_url: str, smtp_server, hotfix_process: Callable[..., HotfixProcess]) -> Stack:
    """serve + daemon + worker on the test Redis, every message to one SMTP inbox."""
    smtp = smtp_server()
    port = free_port()
    config = write_config(tmp_path, one_inbox_config(redis_url, tmp_path, smtp, http={
        "listen": f"127.0.0.1:{port}", "token": TOKEN, "viewer_token": VIEWER}))
    procs = [hotfix_process(cmd, "--config", str(config)) for cmd in ("serve", "daemon", "worker")]
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _status(base + "/healthz") == 200, timeout=30, message="the intake up")
    return Stack(base, config, procs, smtp)


def test_a_poisoned_event_stops_nothing(stack: Stack, redis: Redis) -> None:
    """Repros 1-2: a valid P0 beside one dated 9999, an update with a far ETA — 422 at the door naming the bad one while
    the valid neighbour is announced once, dead letters behind it."""
    ok = {"type": "declared", "ticket": "OK-1", "title": "t", "severity": "P0"}
    bad = {"type": "declared", "ticket": "BAD-1", "title": "t", "severity": "P0", "at": "9999-12-31T23:30:00Z"}
    far_eta = {"type": "updated", "ticket": "OK-1", "eta": "9999-12-31T23:30:00Z"}
    answers = [stack.post("/events", [ok, bad]), stack.post("/events", far_eta)]
    assert [a.status_code for a in answers] == [422, 422], [a.text for a in answers]
    assert [e["field"] for a in answers for e in a.json()["errors"]] == ["[1].at", "eta"]
    assert len(answers[0].json()["ids"]) == 1  # OK-1 went through
    xadd(redis, dict(ok, ticket="OK-2"), bad, far_eta)  # the same straight onto the stream
    wait_until(lambda: redis.xlen(keys.DEAD_LETTERS) >= 2, timeout=20, message="the bad events dead-lettered")
    wait_until(lambda: stack.announced() == {"OK-1": 1, "OK-2": 1}, timeout=30, message="each valid P0 announced once")
    errors = [f[b"error"].decode() for _, f in redis.xrange(keys.DEAD_LETTERS)]
    assert [e.split(" (")[0] for e in errors] == ["at: too far in the future", "eta: too far in the future"]
    for path in ("/", "/api/hotfixes", "/hotfix/OK-1"):
        assert httpx.get(stack.base + path, headers={"Authorization": f"Bearer {VIEWER}"}).status_code == 200
    assert redis.xpending(keys.EVENTS_STREAM, keys.CONSUMER_GROUP)["pending"] == 0
    assert stack.alive()
    record("hostile_dates", statuses=[a.status_code for a in answers], dead_letters=len(errors),
           announced=dict(stack.announced()))


def test_hostile_requests_are_refused_and_leave_no_token_in_the_log(stack: Stack, redis: Redis) -> None:
    """Repros 4-6: deep nesting and huge numbers at every door are 422, ``refresh=²`` is 200, no token reaches the log."""
    bodies = ["[" * 5000 + "]" * 5000, '{"version": "4", "n": ' + "9" * 5000 + "}"]
    statuses = [stack.post(path, body).status_code for path in ("/events", "/hooks/alertmanager", "/hooks/grafana",
                                                                "/hooks/jira") for body in bodies]
    assert statuses == [422] * 8
    viewer = httpx.get(stack.base + "/", params={"token": VIEWER, "refresh": "²"}, follow_redirects=True)
    assert viewer.status_code == 200 and VIEWER not in str(viewer.url) and 'data-refresh="15"' in viewer.text
    assert stack.post("/events", {"type": "declared", "ticket": "OK-3", "title": "t", "severity": "P0"}).status_code == 202
    wait_until(lambda: stack.announced() == {"OK-3": 1}, timeout=30, message="the valid P0 announced once")
    assert stack.alive()
    serve_log = stack.procs[0].output()
    assert "GET /?token=…" in serve_log and VIEWER not in serve_log and TOKEN not in serve_log
    record("hostile_requests", statuses=statuses, viewer=viewer.status_code)


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return -1
