"""Chaos: the Redis server stops and starts again under load; daemon, worker and intake ride it out."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.chaos.herald_procs import one_inbox_config, write_config
from tests.chaos.herald_procs import mail_kinds
from tests.chaos.support import SIZES, RedisServer, cpu_seconds, free_port, record
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


def test_redis_restart_is_ridden_out(tmp_path: Path, own_redis: RedisServer, smtp_server, hotfix_process) -> None:
    """Redis down then up: no process dies or spins, the intake answers 503 meanwhile, new events are delivered after."""
    smtp = smtp_server()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data = one_inbox_config(own_redis.url, tmp_path, smtp, http={"listen": f"127.0.0.1:{port}", "token": TOKEN},
                            redis={"url": own_redis.url, "socket_timeout": "5s"})
    config = write_config(tmp_path, data)
    daemon = hotfix_process("daemon", "--config", str(config), "--claim-idle", "1")
    worker = hotfix_process("worker", "--config", str(config))
    serve = hotfix_process("serve", "--config", str(config))
    procs = {"daemon": daemon, "worker": worker, "serve": serve}
    wait_until(lambda: health(base) == 200, timeout=30, message="the intake up")
    assert post(base, event("declared", ticket="RR-BEFORE", id="rr-before"))[0] == 202
    wait_until(lambda: len(smtp.messages) >= 1, timeout=30, message="the first announcement")

    own_redis.stop()
    cpu_before = {name: cpu_seconds(p.proc.pid) for name, p in procs.items()}
    down_at = time.monotonic()
    status, took = post(base, event("declared", ticket="RR-DURING", id="rr-during"))
    health_down = health(base)
    # The outage itself: a stretch of wall time during which we watch the processes idle.
    time.sleep(max(0.0, SIZES.redis_outage_s - (time.monotonic() - down_at)))
    outage = time.monotonic() - down_at
    cpu = {name: round(cpu_seconds(p.proc.pid) - cpu_before[name], 3) for name, p in procs.items()}
    alive_during = {name: p.alive() for name, p in procs.items()}

    own_redis.start()
    wait_until(lambda: post(base, event("declared", ticket="RR-AFTER", id="rr-after"))[0] == 202, timeout=30,
               interval=0.5, message="the intake accepting again")
    post(base, event("updated", ticket="RR-AFTER", id="rr-after-u", minutes=1, message="note-rr-after-u"))
    delivered = True
    try:
        wait_until(lambda: {("RR-AFTER", "announcement"), ("RR-AFTER", "note-rr-after-u")} <= set(
            mail_kinds(smtp.messages)), timeout=60, interval=0.2, message="events pushed after the restart delivered")
    except AssertionError:
        delivered = False
    alive_after = {name: p.alive() for name, p in procs.items()}
    record("redis_restart", outage_seconds=round(outage, 1), intake_status_while_down=status,
           intake_answer_seconds=round(took, 2), healthz_while_down=health_down, cpu_seconds_while_down=cpu,
           alive_during=alive_during, alive_after=alive_after, delivered_after_restart=int(delivered))
    assert all(alive_during.values()) and all(alive_after.values()), \
        {n: p.output()[-3000:] for n, p in procs.items() if not p.alive()}
    assert (status, health_down) == (503, 503)
    assert took < 5.0
    assert cpu["daemon"] < 0.1 * outage, cpu  # backing off, not spinning
    assert cpu["worker"] < 0.1 * outage, cpu
    assert delivered
