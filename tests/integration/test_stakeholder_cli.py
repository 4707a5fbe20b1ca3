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
from hotfix import keys
from tests.fixtures.herald import BASE_CONFIG, T0, drain, event, make_daemon, make_settings, merge, queued, xadd  # noqa: F401
from tests.fixtures.processes import to_toml

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
    """A receipt as a worker writes it once ``message`` reached ``recipient`` at ``at``."""
    row = {"message": message, "audience": audience, "channel": "email", "recipient": recipient, "status": "sent",
           "at": at, "via": "smtp", "attempt": 1, "job": f"j-{message}"}
    redis.hset(keys.receipts("INC-1"), f"j-{message}|{recipient}", json.dumps(row))


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
    assert "## Why wasn't it caught before?" in cli(config, "postmortem", "INC-1", "--locale", "en")
    assert "no hotfix 'NOPE'" in cli(config, "postmortem", "NOPE", code=1)


@pytest.fixture
def customers_config(tmp_path: Path, redis_url: str) -> tuple[Path, dict[str, Any]]:
    """A config whose P0 updates go to a self-service `customers` audience with a list file."""
    listed = tmp_path / "customers.txt"
    listed.write_text("anna@customers.example\nbob@customers.example\n")
    data = merge(BASE_CONFIG, {"redis": {"url": redis_url}, "outbox": {"dir": str(tmp_path / "o")},
                               "audiences": {"customers": {"emails": ["ops@corp.example"], "emails_file": str(listed),
                                                           "self_service": True}},
                               "severity": {"P0": {"updates": ["customers"]}}})
    path = tmp_path / "customers.toml"
    path.write_text(to_toml(data))
    return path, data


def test_subscribers_lists_origins_and_removes_from_the_next_message(redis: Redis, customers_config, make_daemon) -> None:
    """`subscribers --remove` takes a file address out: listed unsubscribed, and the next update's job leaves it out."""
    from hotfix.settings import Settings

    path, data = customers_config
    rows = json.loads(cli(path, "subscribers", "customers", "--format", "json"))
    assert [(r["address"], r["origin"], r["state"]) for r in rows] == [
        ("ops@corp.example", "config", "subscribed"), ("anna@customers.example", "file", "subscribed"),
        ("bob@customers.example", "file", "subscribed")]
    assert "removed from customers" in cli(path, "subscribers", "customers", "--remove", "Bob@Customers.example")
    assert "already left" in cli(path, "subscribers", "customers", "--remove", "bob@customers.example")
    assert "not an address of customers" in cli(path, "subscribers", "customers", "--remove", "eve@x.example", code=1)
    assert "unknown audience 'nope'" in cli(path, "subscribers", "nope", code=2)
    rows = json.loads(cli(path, "subscribers", "customers", "--format", "json"))
    assert [r["state"] for r in rows] == ["subscribed", "subscribed", "unsubscribed"]
    daemon = make_daemon(Settings(**data))
    xadd(redis, event("declared"), event("updated", minutes=5, message="fix in progress"))
    drain(daemon)
    [update] = [p for p in queued(redis) if p["message"] == "update" and p["audience"] == "customers"]
    assert update["recipients"] == ["ops@corp.example", "anna@customers.example"]


@pytest.fixture
def approval_config(tmp_path: Path, redis_url: str) -> tuple[Path, dict[str, Any]]:
    """A config whose P0 messages to `customers` wait for Alice or Bob."""
    data = merge(BASE_CONFIG, {"redis": {"url": redis_url}, "outbox": {"dir": str(tmp_path / "o")},
                               "people": {"Alice": {"email": "alice@corp.example"}, "Bob": {"email": "bob@corp.example"}},
                               "audiences": {"customers": {"emails": ["status@customers.example"],
                                                           "approval": ["Alice", "Bob"]}},
                               "severity": {"P0": {"updates": ["oncall", "customers"]}}})
    path = tmp_path / "approval.toml"
    path.write_text(to_toml(data))
    return path, data


def test_approvals_approve_and_decline_from_a_terminal(redis: Redis, approval_config, make_daemon) -> None:
    """A held update is listed, approved once by Alice (then sent), a second one declined with its reason; all recorded."""
    from hotfix.settings import Settings

    path, data = approval_config
    daemon = make_daemon(Settings(**data))
    xadd(redis, event("declared"), event("updated", minutes=1, message="Fix in review"))
    drain(daemon)
    [row] = json.loads(cli(path, "approvals", "--format", "json"))
    assert {"id", "ticket", "message", "audience", "since"} <= set(row)
    assert (row["ticket"], row["message"], row["audience"]) == ("INC-1", "update", "customers")
    assert not [p for p in queued(redis) if p["audience"] == "customers"]
    asked = {(p["channel"], p["recipients"][0], p["person"]) for p in queued(redis) if p["message"] == "approval_request"}
    assert asked == {("email", "alice@corp.example", "Alice"), ("email", "bob@corp.example", "Bob"),
                     ("teams", "engineering", "Alice"), ("teams", "engineering", "Bob")}  # mentioned in the team's channel

    assert "approved" in cli(path, "approve", row["id"], "--by", "Alice")
    [sent_job] = [p for p in queued(redis) if p["audience"] == "customers"]
    assert sent_job["message"] == "update" and sent_job["recipients"] == ["status@customers.example"]
    assert "already approved by Alice" in cli(path, "approve", row["id"], "--by", "Bob", code=1)
    assert json.loads(cli(path, "approvals", "--format", "json")) == []

    xadd(redis, event("updated", minutes=5, message="Internal detail"))
    drain(daemon)
    [second] = json.loads(cli(path, "approvals", "--format", "json"))
    assert "declined" in cli(path, "decline", second["id"], "--reason", "Not for customers", "--by", "Bob")
    shown = json.loads(cli(path, "show", "INC-1", "--format", "json"))
    decisions = [(e["type"], e.get("by")) for e in shown["timeline"] if e["type"] in ("approved", "declined")]
    assert decisions == [("approved", "Alice"), ("declined", "Bob")]
    draft = json.loads(cli(path, "postmortem", "INC-1", "--format", "json"))
    assert [(a["decision"], a["by"]) for a in draft["approvals"]] == [("approved", "Alice"), ("declined", "Bob")]
    assert "no message ap-000000000000 is held" in cli(path, "approve", "ap-000000000000", code=1)
    assert "hotfix: invalid approval id" in cli(path, "approve", "nope", code=2)  # a usage error


def test_subscribers_invite_prints_a_signed_link_for_a_self_service_audience(customers_config, tmp_path: Path) -> None:
    """`--invite` prints {public_url}/subscribe?invite=…; links off, or an audience not self-service, is one line, exit 2."""
    path, data = customers_config
    assert "links are off" in runner.invoke(app, ["subscribers", "customers", "--invite", "--config", str(path)]).output
    linked = tmp_path / "linked.toml"
    linked.write_text(to_toml(merge(data, {"http": {"public_url": "https://herald.example.com",
                                                     "signing_key": "invite-test-signing-key-0123"}})))
    link = cli(linked, "subscribers", "customers", "--invite").strip()
    assert link.startswith("https://herald.example.com/subscribe?invite=") and "\n" not in link
    refused = runner.invoke(app, ["subscribers", "oncall", "--invite", "--config", str(linked)])
    assert refused.exit_code == 2 and "not self_service" in refused.output
