"""End to end: a P0 left alone is reminded and escalated exactly once each, across two daemons and a kill -9."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from redis import Redis

from tests.fixtures.herald import BASE_CONFIG, merge
from tests.fixtures.processes import hotfix_process, run_hotfix, to_toml, wait_until  # noqa: F401
from tests.fixtures.smtp_server import smtp_server  # noqa: F401

pytestmark = pytest.mark.e2e


def subjects_to(smtp, address: str) -> list[str]:
    """Subjects of the emails an address received, in order."""
    return [str(message_from_bytes(m.data, policy=policy.default)["Subject"]) for m in smtp.messages
            if address in m.rcpt_tos]


def test_reminder_and_escalations_fire_once_across_daemon_kill(tmp_path: Path, redis: Redis, redis_url: str,
                                                              smtp_server, hotfix_process) -> None:
    """update_every 3s, warn_before 10s, resolve_within 20s: one reminder, then overdue, at-risk and breach escalations."""
    smtp = smtp_server()
    config = merge(BASE_CONFIG, {
        "redis": {"url": redis_url}, "outbox": {"dir": str(tmp_path / "outbox")},
        "smtp": {"host": smtp.host, "port": smtp.port, "security": "none"},
        "teams": {"engineering": {}},
        "severity": {"P0": {"resolve_within": "20s", "update_every": "3s", "warn_before": "10s",
                            "remind": ["oncall"], "escalate": ["management"]}},
    })
    path = tmp_path / "config.toml"
    path.write_text(to_toml(config))
    args = ("--config", str(path))
    first = hotfix_process("daemon", *args, "--name", "first", "--claim-idle", "1")
    hotfix_process("daemon", *args, "--name", "second", "--claim-idle", "1")
    hotfix_process("worker", *args)
    declared = {"type": "declared", "ticket": "INC-7", "title": "Site down", "severity": "P0",
                "at": datetime.now(timezone.utc).isoformat(), "team": {"coordinator": "Alice"}}
    assert run_hotfix("push", "--file", "-", *args, input_text=json.dumps(declared)).returncode == 0

    wait_until(lambda: any("RAPPEL" in s for s in subjects_to(smtp, "oncall@example.com")), timeout=15,
               message="the reminder")
    first.kill()  # kill -9 while the next timers are due
    hotfix_process("daemon", *args, "--name", "first", "--claim-idle", "1")  # restarted

    wait_until(lambda: len(subjects_to(smtp, "boss@example.com")) >= 4, timeout=40, message="3 escalations")
    time.sleep(3)  # the absence of a duplicate cannot be awaited: watch a bounded window for one
    oncall = subjects_to(smtp, "oncall@example.com")
    boss = subjects_to(smtp, "boss@example.com")
    assert sum("RAPPEL" in s for s in oncall) == 1
    assert sum("ESCALADE" in s for s in boss) == 3, boss
    shown = json.loads(run_hotfix("show", "INC-7", "--format", "json", *args).stdout)
    assert [e["type"] for e in shown["timeline"]].count("escalation") == 3
