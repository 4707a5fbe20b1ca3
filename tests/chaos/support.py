"""Shared pieces of the chaos, fuzz and security suites: run sizes, figures, a private redis-server, mail parsing."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

#: ``HOTFIX_CHAOS=full`` selects the long variants (and un-skips the ``slow`` tests).
FULL = os.environ.get("HOTFIX_CHAOS", "").lower() == "full"
#: Where ``record`` appends figures (JSON lines); ``bench/chaos.py`` sets it.
FIGURES_ENV = "HOTFIX_CHAOS_FIGURES"

full_only = pytest.mark.skipif(not FULL, reason="long variant: run with HOTFIX_CHAOS=full (python bench/chaos.py --full)")


@dataclass(frozen=True)
class Sizes:
    """How hard a run pushes."""

    daemon_kills: int
    events: int
    tickets: int
    worker_kills: int
    outage_s: float
    redis_outage_s: float
    fuzz_examples: int


SHORT = Sizes(daemon_kills=3, events=200, tickets=20, worker_kills=1, outage_s=10.0, redis_outage_s=4.0,
              fuzz_examples=150)
LONG = Sizes(daemon_kills=10, events=2000, tickets=100, worker_kills=3, outage_s=60.0, redis_outage_s=15.0,
             fuzz_examples=2000)
SIZES = LONG if FULL else SHORT


def record(scenario: str, **figures: Any) -> None:
    """Print a scenario's figures and append them to ``$HOTFIX_CHAOS_FIGURES`` when set."""
    row = {"scenario": scenario, "variant": "full" if FULL else "short", **figures}
    print(f"FIGURES {json.dumps(row, sort_keys=True)}")
    target = os.environ.get(FIGURES_ENV)
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, sort_keys=True) + "\n")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A redis-server of the test's own on a free loopback port, keeping nothing on disk."""

    def __init__(self, workdir: Path, password: str | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.workdir = workdir
        #: ``requirepass``: clients must give it (in the URL: ``redis://:PASSWORD@host:port/0``).
        self.password = password
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> Redis:
        return Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=5)

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        log = (self.workdir / f"redis-{self.port}.log").open("ab")
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", str(self.workdir),
             *(["--requirepass", self.password] if self.password else [])], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.05)
        raise AssertionError(f"redis-server on port {self.port} did not come up")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait for it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15 of the full line)


def parse_mail(data: bytes) -> EmailMessage:
    """A received message as an ``EmailMessage``."""
    return message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]


def mail_parts(message: EmailMessage) -> dict[str, str]:
    """The decoded text and HTML bodies of a message."""
    out: dict[str, str] = {}
    for part in message.walk():
        kind = part.get_content_type()
        if kind in ("text/plain", "text/html") and kind not in out:
            out[kind] = str(part.get_content())  # type: ignore[attr-defined]
    return out


def duplicates(counter: Counter[Any]) -> int:
    """How many items were seen more than once (the extra copies)."""
    return sum(n - 1 for n in counter.values() if n > 1)
