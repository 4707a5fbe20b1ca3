"""End to end: a P0 left alone is reminded and escalated exactly once each, across two daemons and a kill -9."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from redis import Redis

from tests.chaos.support import record
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


def test_raised_to_p0_late_escalates_at_once_and_postmortem_reminder_follows_a_later_resolution(
        tmp_path: Path, redis: Redis, redis_url: str, smtp_server, hotfix_process) -> None:
    """A P2 started two hours ago and raised to P0 escalates within seconds; a resolution in a later batch brings its post-mortem reminder on time."""
    smtp = smtp_server()
    config = merge(BASE_CONFIG, {
        "redis": {"url": redis_url}, "outbox": {"dir": str(tmp_path / "outbox")},
        "smtp": {"host": smtp.host, "port": smtp.port, "security": "none"},
        "severity": {"P0": {"escalate": ["management"], "postmortem_remind_before": "2s", "triage_within": "0s"},
                     "P2": {"escalate": ["management"], "triage_within": "0s"}},  # the triage box has its own tests
    })
    path = tmp_path / "config.toml"
    path.write_text(to_toml(config))
    args = ("--config", str(path))
    hotfix_process("daemon", *args)
    hotfix_process("worker", *args)
    started = datetime.now(timezone.utc) - timedelta(hours=2)
    declared = {"type": "declared", "ticket": "INC-8", "title": "Export slow", "severity": "P2", "at": started.isoformat()}
    assert run_hotfix("push", "--file", "-", *args, input_text=json.dumps(declared)).returncode == 0
    wait_until(lambda: subjects_to(smtp, "oncall@example.com"), timeout=15, message="the P2 announcement")
    raised_at = time.monotonic()
    assert run_hotfix("push", "updated", "--ticket", "INC-8", "--severity", "P0", *args).returncode == 0
    wait_until(lambda: any("ESCALADE" in s for s in subjects_to(smtp, "boss@example.com")), timeout=15,
               message="the breach escalation of the raised P0")
    escalated_after = time.monotonic() - raised_at
    postmortem_at = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=6)
    assert run_hotfix("push", "resolved", "--ticket", "INC-8", "--root-cause", "timeout",
                      "--postmortem-at", postmortem_at.isoformat(), *args).returncode == 0
    wait_until(lambda: any("POST-MORTEM" in s for s in subjects_to(smtp, "oncall@example.com")), timeout=20,
               message="the post-mortem reminder")
    shown = json.loads(run_hotfix("show", "INC-8", "--format", "json", *args).stdout)
    [reminder] = [e for e in shown["timeline"] if e["type"] == "postmortem"]
    assert datetime.fromisoformat(reminder["at"]) >= postmortem_at - timedelta(seconds=2)  # not before it was due
    assert [e["type"] for e in shown["timeline"]].count("escalation") == 1
    record("raised_and_resolved_later", escalation_after_raise_s=round(escalated_after, 1),
           postmortem_reminder_after_due_s=round((datetime.fromisoformat(reminder["at"]) - postmortem_at
                                                  + timedelta(seconds=2)).total_seconds(), 1))
