"""Journey a year from now: the daemon, a worker, the CLI and the intake in process, under a clock moved ahead.

Nothing in Herald may depend on today's date: with every clock of the test process a year ahead
(``time-machine``), a P0 told through the public interface — ``hotfix push`` (the CLI's Typer app),
``POST /events`` (the intake's app) — is announced, updated, resolved and reminded of its post-mortem,
and every view says so with the moved dates.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from redis import Redis

from daemon.consumer import Daemon
from daemon.intake import create_app
from hotfix import keys
from hotfix.config import load_settings
from tests.fixtures.processes import wait_until
from tests.fixtures.smtp_server import free_port, smtp_server  # noqa: F401
from tests.fixtures.teams_server import teams_server  # noqa: F401
from tests.journeys.conftest import INTAKE_TOKEN, ONCALL, STAKEHOLDERS, VIEWER_TOKEN, write_config
from tests.journeys.harness import Stack
from workers import runtime
from workers.worker import make_worker

with warnings.catch_warnings():  # starlette warns at import that it prefers httpx2 over httpx
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

pytestmark = pytest.mark.e2e

T = "FUTURE-1"
AHEAD = timedelta(days=366)


@pytest.fixture
def future() -> Iterator[datetime]:
    """Every clock of this process a year (and a day) ahead, ticking."""
    moved = datetime.now(timezone.utc) + AHEAD
    with time_machine.travel(moved, tick=True):
        yield moved


@pytest.fixture
def in_process(future: datetime, tmp_path: Path, redis: Redis, redis_url: str, smtp_server,  # noqa: F811
               teams_server) -> Iterator[Stack]:  # noqa: F811
    """A Stack whose daemon, worker and intake run in this process (so under the moved clock)."""
    smtp = smtp_server()
    config = write_config(tmp_path, redis_url, smtp, teams_server, free_port(),  # nothing listens: in process
                          severity={"P0": {"remind": ["oncall"], "postmortem_remind_before": "1h"}})
    settings = load_settings(config)
    daemon = Daemon(redis, settings, block_ms=None, name="future")
    daemon.ensure_group()
    runtime.configure(settings, redis)
    worker = make_worker(redis, list(keys.QUEUE_NAMES), name="future-worker")

    def drive() -> None:
        daemon.turn()
        worker.work(burst=True, with_scheduler=True)

    with TestClient(create_app(settings, redis)) as client:
        yield Stack(config=config, settings=settings, redis=redis, smtp=smtp, teams=teams_server, client=client,
                    token=INTAKE_TOKEN, viewer=VIEWER_TOKEN, drive=drive)
    runtime._current = None


def test_a_journey_a_year_from_now(future: datetime, in_process: Stack) -> None:
    """Declared, updated over HTTP, resolved, reminded: every date shown is the moved one, every view holds."""
    stack = in_process
    stack.push("declared", T, title="Checkout returns 500", severity="P0", impact="No order can be paid",
               coordinator="Alice", developer="Bob")
    stack.settle()
    v = stack.views(T)
    declared = datetime.fromisoformat(v.data["declared_at"])
    assert abs(declared - future) < timedelta(minutes=5)
    assert datetime.fromisoformat(v.data["deadline"]) == declared + timedelta(hours=1)
    assert "reste 59 min" in v.line("fr", "| Échéance |") or "reste 60 min" in v.line("fr", "| Échéance |")
    assert v.line("fr", "| Détecté |").startswith(f"| Détecté | {future.year}-")
    assert v.audiences("announcement") == {"oncall", "stakeholders", "management"}
    sent = parsedate_to_datetime(str(stack.emails(ONCALL[0])[0]["Date"]))
    assert abs(sent - future) < timedelta(minutes=5)

    stack.post("/events", {"type": "updated", "ticket": T, "phase": "production", "message": "Deployed",
                           "checks": {"review": True, "smoke_test": True, "production": True}})
    stack.settle()
    v = stack.views(T)
    assert v.data["phase"] == "production" and v.audiences("update") == {"oncall", "stakeholders"}
    assert v.line("en", "- [x] Smoke tests OK (")

    meeting = datetime.now(timezone.utc) + timedelta(hours=1, seconds=3)
    stack.push("resolved", T, root_cause="Timeout set to 0", postmortem_at=meeting.isoformat())
    stack.settle()
    v = stack.views(T)
    assert v.status == "resolved" and v.line("fr", f"- [x] Post-mortem planifié : {meeting.year}-")

    def reminded() -> bool:
        stack.settle()  # in process: turns the daemon (its timers) and the worker
        return any("POST-MORTEM" in s for s in stack.subjects(ONCALL[0]))

    wait_until(reminded, timeout=20, interval=0.3, message="the post-mortem reminder a year from now")
    v = stack.views(T)
    assert "postmortem" in v.timeline() and any("✅ RESOLVED" in s for s in stack.subjects(STAKEHOLDERS[0]))
