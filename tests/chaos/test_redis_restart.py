"""Chaos: the Redis server stops and starts again under load; daemon, worker and intake ride it out."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.chaos.herald_procs import mail_kinds, one_inbox_config, write_config
from tests.chaos.support import SIZES, RedisServer, cpu_seconds, free_port, full_only, record
from tests.fixtures.herald import event
from tests.fixtures.processes import hotfix_process, wait_until  # noqa: F401
from tests.fixtures.smtp_server import smtp_server  # noqa: F401

pytestmark = pytest.mark.e2e

TOKEN = "restart-test-token"


@pytest.fixture
def own_redis(tmp_path: Path):
    """A redis-server of this test's own, on a free loopback port, nothing kept on disk."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def post(base: str, body: dict[str, Any], timeout: float = 10.0) -> tuple[int, float]:
    """POST /events; the status and how long the answer took."""
    started = time.monotonic()
    try:
        answer = httpx.post(f"{base}/events", json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=timeout)
    except httpx.HTTPError:
        return -1, time.monotonic() - started
    return answer.status_code, time.monotonic() - started


def health(base: str) -> int:
    try:
        return httpx.get(f"{base}/healthz", timeout=5).status_code
    except httpx.HTTPError:
        return -1


def start_herald(tmp_path: Path, own_redis: RedisServer, smtp: Any, hotfix_process: Any) -> tuple[str, dict[str, Any]]:
    """Daemon, worker and intake on the test's own Redis; the intake's base URL and the processes."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data = one_inbox_config(own_redis.url, tmp_path, smtp, http={"listen": f"127.0.0.1:{port}", "token": TOKEN},
                            redis={"url": own_redis.url, "socket_timeout": "5s"})
    config = write_config(tmp_path, data)
    procs = {"daemon": hotfix_process("daemon", "--config", str(config), "--claim-idle", "1"),
             "worker": hotfix_process("worker", "--config", str(config)),
             "serve": hotfix_process("serve", "--config", str(config))}
    wait_until(lambda: health(base) == 200, timeout=30, message="the intake up")
    assert post(base, event("declared", ticket="RR-BEFORE", id="rr-before"))[0] == 202
    wait_until(lambda: len(smtp.messages) >= 1, timeout=30, message="the first announcement")
    return base, procs


def outage(own_redis: RedisServer, base: str, procs: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Stop Redis for ``seconds``, probing the intake and measuring the processes' CPU; start it again."""
    own_redis.stop()
    cpu_before = {name: cpu_seconds(p.proc.pid) for name, p in procs.items()}
    down_at = time.monotonic()
    status, took = post(base, event("declared", ticket="RR-DURING", id="rr-during"))
    health_down = health(base)
    # The outage itself: a stretch of wall time during which we watch the processes idle.
    time.sleep(max(0.0, seconds - (time.monotonic() - down_at)))
    length = time.monotonic() - down_at
    cpu = {name: round(cpu_seconds(p.proc.pid) - cpu_before[name], 3) for name, p in procs.items()}
    alive = {name: p.alive() for name, p in procs.items()}
    own_redis.start()
    return {"outage_seconds": round(length, 1), "intake_status_while_down": status,
            "intake_answer_seconds": round(took, 2), "healthz_while_down": health_down,
            "cpu_seconds_while_down": cpu, "alive_during": alive}


def delivered_after(base: str, smtp: Any, procs: dict[str, Any], ticket: str) -> bool:
    """Push a declaration and an update once the intake accepts again; whether both emails arrive."""
    wait_until(lambda: post(base, event("declared", ticket=ticket, id=f"{ticket}-d"))[0] == 202, timeout=30,
               interval=0.5, message="the intake accepting again")
    assert post(base, event("updated", ticket=ticket, id=f"{ticket}-u", minutes=1, message=f"note-{ticket}-u"))[0] \
        == 202
    wanted = {(ticket, "announcement"), (ticket, f"note-{ticket}-u")}
    wait_until(lambda: wanted <= set(mail_kinds(smtp.messages)) or not all(p.alive() for p in procs.values()),
               timeout=60, interval=0.2, message="events pushed after the restart delivered (or a process died)")
    return wanted <= set(mail_kinds(smtp.messages))


def test_redis_outage_answers_503_and_nothing_spins(tmp_path: Path, own_redis: RedisServer, smtp_server,
                                                   hotfix_process) -> None:
    """While Redis is down: every process stays up and idle (little CPU) and the intake answers 503 at once."""
    smtp = smtp_server()
    base, procs = start_herald(tmp_path, own_redis, smtp, hotfix_process)
    figures = outage(own_redis, base, procs, SIZES.redis_outage_s)
    wait_until(lambda: health(base) == 200, timeout=30, message="the intake healthy again")
    record("redis_outage", **figures, intake_and_worker_alive_after=int(procs["serve"].alive() and
                                                                         procs["worker"].alive()))
    assert all(figures["alive_during"].values())
    assert (figures["intake_status_while_down"], figures["healthz_while_down"]) == (503, 503)
    assert figures["intake_answer_seconds"] < 5.0
    cpu, length = figures["cpu_seconds_while_down"], figures["outage_seconds"]
    assert cpu["daemon"] < 0.1 * length and cpu["worker"] < 0.1 * length, cpu  # backing off, not spinning
    assert procs["serve"].alive() and procs["worker"].alive()


def test_daemon_survives_redis_coming_back_empty(tmp_path: Path, own_redis: RedisServer, smtp_server,
                                                 hotfix_process) -> None:
    """Redis restarted without its data under a live daemon: the daemon recreates its group and delivers new events."""
    smtp = smtp_server()
    base, procs = start_herald(tmp_path, own_redis, smtp, hotfix_process)
    own_redis.client().flushall()  # what a restart without persistence looks like to a client that reconnects at once
    delivered = delivered_after(base, smtp, procs, "RR-AFTER")
    alive = {name: p.alive() for name, p in procs.items()}
    record("redis_comes_back_empty", delivered_after_restart=int(delivered), alive_after=alive)
    assert all(alive.values()), {n: p.output()[-1500:] for n, p in procs.items() if not p.alive()}
    assert delivered


@pytest.mark.slow
@full_only
@pytest.mark.timeout(600)
def test_redis_restart_full(tmp_path: Path, own_redis: RedisServer, smtp_server, hotfix_process) -> None:
    """Full run: a long Redis outage (longer than the clients' retry window), then events pushed after are delivered."""
    smtp = smtp_server()
    base, procs = start_herald(tmp_path, own_redis, smtp, hotfix_process)
    figures = outage(own_redis, base, procs, SIZES.redis_outage_s)
    delivered = delivered_after(base, smtp, procs, "RR-AFTER")
    alive = {name: p.alive() for name, p in procs.items()}
    record("redis_restart", **figures, delivered_after_restart=int(delivered), alive_after=alive)
    assert all(figures["alive_during"].values()) and all(alive.values())
    assert (figures["intake_status_while_down"], figures["healthz_while_down"]) == (503, 503)
    cpu, length = figures["cpu_seconds_while_down"], figures["outage_seconds"]
    assert cpu["daemon"] < 0.1 * length and cpu["worker"] < 0.1 * length, cpu
    assert delivered


def test_daemon_and_worker_started_before_redis_wait_for_it(tmp_path: Path, smtp_server, hotfix_process) -> None:
    """Repro 9: a worker (like the daemon) started while Redis is down waits, says so, and delivers once Redis is up."""
    smtp = smtp_server()
    server = RedisServer(tmp_path)  # not started yet
    config = write_config(tmp_path, one_inbox_config(server.url, tmp_path, smtp, redis={"url": server.url}))
    procs = [hotfix_process(cmd, "--config", str(config)) for cmd in ("worker", "daemon")]
    wait_until(lambda: all("Redis unavailable" in p.output() for p in procs), timeout=30, message="both saying Redis is down")
    assert all(p.alive() for p in procs), [p.output()[-500:] for p in procs]
    server.start()
    try:
        client = server.client()
        client.xadd("hotfix:events", {"event": json.dumps(event("declared", ticket="RR-LATE", id="rr-late"))})
        wait_until(lambda: smtp.messages, timeout=40, message="the announcement once Redis is up")
        assert all(p.alive() for p in procs) and "Traceback" not in procs[0].output()
        record("redis_late_start", delivered=len(smtp.messages))
    finally:
        for proc in procs:
            proc.stop()
        server.stop()


def test_a_receipt_waits_out_a_redis_restart(own_redis: RedisServer) -> None:
    """Repro 10: Redis dying right after an SMTP accept no longer loses the receipt (the cause of a duplicate email)."""
    import threading

    from hotfix import keys
    from hotfix.enums import DeliveryStatus
    from hotfix.jobs import JobPayload
    from workers import receipts

    job = JobPayload.model_validate({"ticket": "RR-1", "message": "announcement", "audience": "oncall", "channel": "email",
                                     "job_key": "j1", "recipients": ["oncall@example.com"], "locale": "fr",
                                     "severity": "P0", "hotfix": {"ticket": "RR-1"}})
    from redis import Redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = Redis(host="127.0.0.1", port=own_redis.port, retry=Retry(NoBackoff(), 0))  # no retry of the client's own
    own_redis.stop()  # the message was accepted a moment ago; Redis is gone
    back = threading.Timer(2.0, own_redis.start)
    back.start()
    receipts.record(client, job, [("oncall@example.com", DeliveryStatus.SENT, None)], via="smtp", attempt=1)
    back.join()
    assert receipts.already_sent(client, "RR-1", "j1", ["oncall@example.com"]) == {"oncall@example.com"}
    assert client.hlen(keys.receipts("RR-1")) == 1
