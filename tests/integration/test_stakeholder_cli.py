"""The stakeholder commands on the real Redis: postmortem (and subscribers, approvals)."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from typer.testing import CliRunner

from herald.cli import app
from hotfix.enums import DeliveryStatus
from tests.fixtures.herald import BASE_CONFIG, T0, drain, event, make_daemon, make_settings, merge, xadd  # noqa: F401
from tests.fixtures.processes import to_toml
from workers import receipts

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path, redis: Redis, redis_url: str) -> Path:
    """A config file on the tests' Redis."""
    path = tmp_path / "config.toml"
    path.write_text(to_toml(merge(BASE_CONFIG, {"redis": {"url": redis_url}, "outbox": {"dir": str(tmp_path / "o")}})))
    return path


def cli(config: Path, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, [*args, "--config", str(config)])
    assert result.exit_code == code, result.output
    return result.output


def sent(redis: Redis, message: str, audience: str, recipient: str, at: str) -> None:
    payload: dict[str, Any] = {"ticket": "INC-1", "message": message, "audience": audience, "channel": "email",
                               "job_key": f"j-{message}-{audience}"}
    receipts.record(redis, payload, [(recipient, DeliveryStatus.SENT, None)], via="smtp", attempt=1)
    raw = redis.hget("hotfix:deliveries:INC-1", f"j-{message}-{audience}|{recipient}")
    assert raw is not None
    row = json.loads(raw)
    row["at"] = at
    redis.hset("hotfix:deliveries:INC-1", f"j-{message}-{audience}|{recipient}", json.dumps(row))


def test_postmortem_json_and_markdown(redis: Redis, config: Path, make_daemon, make_settings) -> None:
    """`hotfix postmortem T` gives the figures as JSON and the playbook checklist as Markdown in fr and en."""
    daemon = make_daemon(make_settings())
    xadd(redis, event("declared"), event("updated", minutes=10, phase="fix", message="branch"),
         event("resolved", minutes=30, root_cause="Timeout set to 0"))
    drain(daemon)
    sent(redis, "announcement", "oncall", "oncall@example.com", (T0 + timedelta(seconds=12)).isoformat())
    data = json.loads(cli(config, "postmortem", "INC-1", "--format", "json"))
    assert {"ticket", "time_to_announce_s", "duration_s", "deadline_met", "updates_total", "updates_late", "phases",
            "rollbacks", "guardrails", "deliveries"} <= set(data)
    assert data["ticket"] == "INC-1" and data["duration_s"] == 1800 and data["deadline_met"] is True
    assert data["time_to_announce_s"] == 12 and data["updates_total"] == 1 and data["phases"] == {"triage": 600, "fix": 1200}
    assert "## Pourquoi pas détecté avant ?" in cli(config, "postmortem", "INC-1")
    assert "## Why wasn't it caught earlier?" in cli(config, "postmortem", "INC-1", "--locale", "en")
    assert "no hotfix 'NOPE'" in cli(config, "postmortem", "NOPE", code=1)
