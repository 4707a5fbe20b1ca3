"""Scenario 6: the same burst of alerts through Alertmanager and through Herald, to the same kind of sinks.

Each alert is its own group (distinct ``alertname``, ``group_by: [alertname]``,
``group_wait: 0s``) and yields one webhook POST and one email. Alertmanager gets
the whole burst in one ``POST /api/v2/alerts``; Herald gets one Alertmanager
webhook (v4) body per group on ``hotfix serve``'s ``/hooks/alertmanager``, as fast
as 8 client threads can send them. Latency is from the submission of the alert
(for Alertmanager, the start of the one POST) to the sink's receipt.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
from redis import Redis

from bench.stack import Sinks, flush, free_port, herald, sinks, wait_group
from bench.stats import Summary, summarize
from tests.fixtures.processes import wait_until

ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
NAME_RE = re.compile(rb"(BNCH\d{5})")


@dataclass
class Side:
    """One system's figures over the burst."""

    name: str
    delivered: int = 0
    expected: int = 0
    seconds: float = float("nan")
    latency: Summary | None = None
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds and self.seconds > 0 else float("nan")


def names(count: int) -> list[str]:
    return [f"BNCH{i:05d}" for i in range(count)]


def alert(name: str, starts: str) -> dict[str, Any]:
    return {"labels": {"alertname": name, "severity": "critical", "ticket": name, "instance": "web-1"},
            "annotations": {"summary": f"{name} is failing", "description": "No order can be paid"},
            "startsAt": starts, "generatorURL": "http://127.0.0.1/graph"}


def webhook_body(name: str, starts: str) -> dict[str, Any]:
    """What Alertmanager itself would POST for this one-alert group."""
    labels = alert(name, starts)["labels"]
    return {"version": "4", "groupKey": f'{{}}:{{alertname="{name}"}}', "truncatedAlerts": 0, "status": "firing",
            "receiver": "herald", "groupLabels": {"alertname": name}, "commonLabels": labels,
            "commonAnnotations": alert(name, starts)["annotations"], "externalURL": "http://127.0.0.1:9093",
            "alerts": [{"status": "firing", "labels": labels, "annotations": alert(name, starts)["annotations"],
                        "startsAt": starts, "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "",
                        "fingerprint": f"{abs(hash(name)):016x}"[:16]}]}


def _arrivals(s: Sinks, path: str) -> tuple[dict[str, float], dict[str, float]]:
    return s.email_arrivals(NAME_RE), s.teams_arrivals(path, NAME_RE)


def _collect(side: Side, s: Sinks, path: str, submitted: dict[str, float], t0: float, timeout: float) -> None:
    expected = len(submitted)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mails, posts = _arrivals(s, path)
        if len(mails) >= expected and len(posts) >= expected:
            break
        time.sleep(0.1)
    mails, posts = _arrivals(s, path)
    times = list(mails.items()) + list(posts.items())
    side.delivered, side.expected = len(times), 2 * expected
    if times:
        side.seconds = max(at for _, at in times) - t0
    side.latency = summarize([at - submitted[n] for n, at in times if n in submitted], 2 * expected)
    side.notes["emails / webhook posts"] = f"{len(mails)} / {len(posts)}"


def run_alertmanager(s: Sinks, workdir: Path, count: int) -> Side:
    side = Side("Alertmanager")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (workdir / "alertmanager.yml").write_text(f"""
global:
  smtp_smarthost: 127.0.0.1:{s.smtp_port}
  smtp_from: am@bench.test
  smtp_require_tls: false
  smtp_hello: localhost
route:
  receiver: both
  group_by: [alertname]
  group_wait: 0s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: both
    webhook_configs:
      - url: {s.teams.url('/am')}
        send_resolved: false
    email_configs:
      - to: oncall@bench.test
        send_resolved: false
""", encoding="utf-8")
    log = (workdir / "alertmanager.log").open("wb")
    proc = subprocess.Popen([ALERTMANAGER, f"--config.file={workdir / 'alertmanager.yml'}",
                             f"--storage.path={workdir / 'am-data'}", f"--web.listen-address=127.0.0.1:{port}",
                             "--cluster.listen-address=", "--log.level=warn"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(f"{url}/-/ready"), timeout=30, message="Alertmanager ready")
        starts = datetime.now(timezone.utc).isoformat()
        body = [alert(n, starts) for n in names(count)]
        t0 = time.monotonic()
        httpx.post(f"{url}/api/v2/alerts", json=body, timeout=60).raise_for_status()
        _collect(side, s, "/am", {n: t0 for n in names(count)}, t0, timeout=180)
        side.notes["processes"] = "1 prometheus-alertmanager"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    return side


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def run_herald(redis: Redis, s: Sinks, workdir: Path, count: int, workers: int = 2) -> Side:
    side = Side("Herald")
    flush(redis)
    config = {
        "teams": {"amhook": {"url": s.teams.url("/herald"), "rate": 100000.0}},
        "audiences": {"am": {"teams": ["amhook"], "emails": ["oncall@bench.test"]}},
        "severity": {"P0": {"announce": ["am"], "updates": ["am"], "resolution": ["am"]}},
    }
    with herald(s, workdir, config) as h:
        h.serve()
        h.daemon()
        for _ in range(workers):
            h.worker()
        listen = h.config["http"]["listen"]
        wait_until(lambda: _ready(f"http://{listen}/healthz"), timeout=30, message="hotfix serve ready")
        wait_group(redis)
        h.wait_workers(redis)
        starts = datetime.now(timezone.utc).isoformat()
        bodies = {n: webhook_body(n, starts) for n in names(count)}
        submitted: dict[str, float] = {}
        client = httpx.Client(headers={"Authorization": "Bearer bench-token"}, timeout=30)

        def post(name: str) -> int:
            submitted[name] = time.monotonic()
            return client.post(f"http://{listen}/hooks/alertmanager", json=bodies[name]).status_code

        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(post, bodies))
        client.close()
        side.notes["intake answers"] = ", ".join(f"{c}×{statuses.count(c)}" for c in sorted(set(statuses)))
        _collect(side, s, "/herald", submitted, t0, timeout=180)
        h.check_alive()
        side.notes["processes"] = f"1 `hotfix serve`, 1 daemon, {workers} SimpleWorkers; Teams rate raised to 100000/s"
    return side


def compare(redis: Redis, workdir: Path, count: int) -> tuple[Side, Side]:
    """Both sides, each with fresh sinks; Alertmanager first."""
    with sinks() as s:
        am = run_alertmanager(s, workdir / "alertmanager", count)
    with sinks() as s:
        hf = run_herald(redis, s, workdir / "herald", count)
    return am, hf
