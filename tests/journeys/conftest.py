"""The journeys' fixture: ``herald(**config overrides)`` starts one Herald stack for a story (see ``harness``).

The configuration has every audience kind (on-call team on Teams and email, English stakeholders,
management, customers as users), one Teams channel on the local Teams server, a real SMTP server,
fast delivery retries, and the playbook's deadlines; a story compresses the timers it needs to
seconds through the overrides (deep-merged).
"""
from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis

from hotfix.config import load_settings
from tests.fixtures.herald import merge
from tests.fixtures.processes import HotfixProcess, hotfix_process, to_toml, wait_until  # noqa: F401
from tests.fixtures.smtp_server import SmtpTestServer, free_port, smtp_server  # noqa: F401
from tests.fixtures.teams_server import FakeTeams, teams_server  # noqa: F401
from tests.journeys.harness import Stack

INTAKE_TOKEN = "journey-intake-token"
VIEWER_TOKEN = "journey-viewer-token"
#: Who is who: the on-call team, the stakeholders (English), management, the customers' status list.
ONCALL = ["oncall@example.com", "dev@example.com"]
STAKEHOLDERS = ["cto@example.com"]
MANAGEMENT = ["boss@example.com"]
CUSTOMERS = ["status@customers.example"]


def journey_config() -> dict[str, Any]:
    """The policies of every journey (timers off unless a story turns them on)."""
    return {
        "locale": "fr",
        "timezone": "Europe/Paris",
        "worker": {"max_retries": 1, "backoff_base": "1s", "backoff_cap": "1s", "p0_backoff_base": "1s",
                   "p0_backoff_cap": "1s"},
        "audiences": {
            "oncall": {"teams": ["engineering"], "emails": ONCALL},
            "stakeholders": {"emails": STAKEHOLDERS, "locale": "en", "kind": "stakeholders"},
            "management": {"emails": MANAGEMENT, "locale": "en", "kind": "stakeholders"},
            "customers": {"emails": CUSTOMERS, "kind": "users"},
        },
        "severity": {
            "P0": {"resolve_within": "1h", "announce": ["oncall", "stakeholders", "management"],
                   "updates": ["oncall", "stakeholders"],
                   "resolution": ["oncall", "stakeholders", "management", "customers"]},
            "P1": {"resolve_within": "4h", "announce": ["oncall", "stakeholders"], "updates": ["oncall"],
                   "resolution": ["oncall", "stakeholders"]},
            "P2": {"resolve_within": "24h", "announce": ["oncall"], "updates": ["oncall"], "resolution": ["oncall"]},
        },
    }


def write_config(folder: Path, redis_url: str, smtp: SmtpTestServer, teams: FakeTeams, port: int,
                 **overrides: Any) -> Path:
    """The journey configuration on these servers, with ``overrides`` deep-merged, written as ``config.toml``."""
    data = merge(journey_config(), {
        "redis": {"url": redis_url},
        "outbox": {"dir": str(folder / "outbox")},
        "smtp": {"host": smtp.host, "port": smtp.port, "security": "none", "sender": "Herald <herald@test.local>"},
        "teams": {"engineering": {"url": teams.url("/engineering")}},
        "http": {"listen": f"127.0.0.1:{port}", "token": INTAKE_TOKEN, "viewer_token": VIEWER_TOKEN},
    })
    config = folder / "config.toml"
    config.write_text(to_toml(merge(data, overrides)))
    return config


@pytest.fixture
def herald(tmp_path: Path, redis: Redis, redis_url: str, smtp_server, teams_server,  # noqa: F811
           hotfix_process) -> Iterator[Callable[..., Stack]]:  # noqa: F811
    """``herald(**overrides)`` → a running ``Stack``: daemon, worker and serve processes, SMTP and Teams servers."""
    stacks: list[Stack] = []

    def start(**overrides: Any) -> Stack:
        smtp = smtp_server()
        port = free_port()
        config = write_config(tmp_path, redis_url, smtp, teams_server, port, **overrides)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        stack = Stack(config=config, settings=load_settings(config), redis=redis, smtp=smtp, teams=teams_server,
                      client=client, token=INTAKE_TOKEN, viewer=VIEWER_TOKEN)
        args = ("--config", str(config))
        stack.processes = {"daemon": hotfix_process("daemon", *args), "worker": hotfix_process("worker", *args),
                           "serve": hotfix_process("serve", *args)}

        def serving() -> bool:
            stack.alive()
            try:
                return client.get("/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False
        wait_until(serving, timeout=30, interval=0.1, message="hotfix serve to answer /healthz")
        stacks.append(stack)
        return stack

    yield start
    running = [p for stack in stacks for p in stack.processes.values() if p.alive()]
    for proc in running:  # all at once: each takes a moment to finish its turn
        os.killpg(proc.proc.pid, signal.SIGTERM)
    for proc in running:
        proc.stop()
    for stack in stacks:
        stack.client.close()
