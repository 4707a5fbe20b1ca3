"""A real Alertmanager (Debian's prometheus-alertmanager) notifying a real ``hotfix serve`` subprocess."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from hotfix import keys
from tests.fixtures.herald import pushed
from tests.fixtures.system import require_binary

pytestmark = pytest.mark.e2e

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
TOKEN = "e2e-intake-token"
DEADLINE_S = 30.0
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def await_true(check: Callable[[], T | None], what: str, procs: list[subprocess.Popen[bytes]]) -> T:
    """Poll ``check`` until it returns a truthy value or the deadline passes (failing with ``what``)."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        for proc in procs:
            assert proc.poll() is None, f"{proc.args!r} exited with {proc.returncode} while waiting for {what}"
        try:
            value = check()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {DEADLINE_S:.0f} s waiting for {what}")


def stream(redis: Redis) -> list[dict[str, Any]]:
    return pushed(redis)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
def intake(redis: Redis, redis_url: str, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``serve()`` in a subprocess on a free loopback port; yields its base URL."""
    port = free_port()
    env = os.environ | {"HOTFIX_REDIS__URL": redis_url, "HOTFIX_HTTP__LISTEN": f"127.0.0.1:{port}",
                        "HOTFIX_HTTP__TOKEN": TOKEN}
    env.pop("HOTFIX_CONFIG", None)
    code = "from hotfix.config import load_settings; from daemon.intake import serve; serve(load_settings())"
    log = (tmp_path / "intake.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        await_true(lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200, "the intake to be ready", [proc])
        yield url, proc
    finally:
        stop(proc)
        log.close()


@pytest.fixture
def alertmanager(intake: tuple[str, subprocess.Popen[bytes]], tmp_path: Path
                 ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real Alertmanager whose only receiver is the intake's webhook, with second-scale intervals."""
    if ALERTMANAGER is None:
        require_binary("prometheus-alertmanager", "alertmanager")
    intake_url, _ = intake
    port = free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(f"""
route:
  receiver: herald
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: herald
    webhook_configs:
      - url: {intake_url}/hooks/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {TOKEN}
""")
    log = (tmp_path / "alertmanager.log").open("wb")
    proc = subprocess.Popen(
        [ALERTMANAGER, f"--config.file={config}", f"--storage.path={tmp_path / 'am-data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=info"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        await_true(lambda: httpx.get(f"{url}/-/ready", timeout=1).status_code == 200, "Alertmanager to be ready",
                   [proc])
        yield url, proc
    finally:
        stop(proc)
        log.close()


def counter(intake_url: str, name: str, **labels: str) -> float:
    text = httpx.get(f"{intake_url}/metrics", timeout=2).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and s.labels == labels)


def test_alertmanager_group_declares_once_and_recovers(
        redis: Redis, intake: tuple[str, subprocess.Popen[bytes]],
        alertmanager: tuple[str, subprocess.Popen[bytes]], tmp_path: Path) -> None:
    """A real alert declares exactly once through Alertmanager's re-sends, and its resolution is one recovery update."""
    intake_url, intake_proc = intake
    am_url, am_proc = alertmanager
    procs = [intake_proc, am_proc]
    started = datetime.now(timezone.utc) - timedelta(minutes=1)
    alert = {"labels": {"alertname": "CheckoutErrors", "severity": "critical", "instance": "web-1"},
             "annotations": {"summary": "Checkout returns 500", "description": "No order can be paid"},
             "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up", "startsAt": started.isoformat()}
    assert httpx.post(f"{am_url}/api/v2/alerts", json=[alert], timeout=5).status_code == 200

    [declared] = await_true(lambda: stream(redis) or None, "the declared event", procs)
    assert (declared["type"], declared["severity"], declared["title"]) == ("declared", "P0", "Checkout returns 500")

    # Re-send the alert; Alertmanager also re-notifies every repeat_interval: the intake must push nothing new.
    assert httpx.post(f"{am_url}/api/v2/alerts", json=[alert], timeout=5).status_code == 200
    await_true(lambda: counter(intake_url, "hotfix_intake_duplicates_total", source="alertmanager") >= 2,
               "two re-notifications of the firing group", procs)
    assert [e["type"] for e in stream(redis)] == ["declared"]

    ended = alert | {"endsAt": (datetime.now(timezone.utc) - timedelta(seconds=5)).isoformat()}
    assert httpx.post(f"{am_url}/api/v2/alerts", json=[ended], timeout=5).status_code == 200
    events = await_true(lambda: (lambda ev: ev if len(ev) >= 2 else None)(stream(redis)), "the recovery", procs)
    assert [(e["type"], e.get("message")) for e in events] == [
        ("declared", declared.get("message")), ("updated", "le monitoring signale le retour à la normale")]
    assert events[1]["ticket"] == declared["ticket"]
    assert TOKEN not in (tmp_path / "intake.log").read_text(errors="replace")
