"""End to end: the real `hotfix daemon` and `hotfix worker` processes, events pushed with `hotfix push`."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from redis import Redis

from hotfix import keys
from tests.fixtures.herald import BASE_CONFIG, CHECKED, event, merge
from tests.fixtures.processes import hotfix_process, run_hotfix, to_toml, wait_until  # noqa: F401
from tests.fixtures.smtp_server import smtp_server  # noqa: F401
from tests.fixtures.teams_server import Reply, teams_server  # noqa: F401

pytestmark = pytest.mark.e2e


@pytest.fixture
def config_file(tmp_path: Path, redis: Redis, redis_url: str, smtp_server, teams_server):
    """A config file pointing at the test Redis, a real SMTP server and the Teams stand-in."""
    smtp = smtp_server()
    teams_server.script("/engineering", [Reply.accepted()] * 100)
    data = merge(BASE_CONFIG, {
        "redis": {"url": redis_url},
        "outbox": {"dir": str(tmp_path / "outbox")},
        "smtp": {"host": smtp.host, "port": smtp.port, "security": "none", "sender": "Herald <herald@test.local>"},
        "teams": {"engineering": {"url": teams_server.url("/engineering")}},
    })
    path = tmp_path / "config.toml"
    path.write_text(to_toml(data))
    return path, smtp, teams_server


def lines(*events: dict) -> str:
    return "\n".join(json.dumps(e) for e in events) + "\n"


def test_lifecycle_pushed_with_cli_is_delivered_once(tmp_path: Path, redis: Redis, config_file, hotfix_process) -> None:
    """A P0 lifecycle pushed with `hotfix push` reaches every recipient once; a re-push sends nothing; bad input is dead-lettered."""
    path, smtp, teams = config_file
    env = {"HOTFIX_CONFIG": str(path)}
    daemon = hotfix_process("daemon", "--config", str(path))
    hotfix_process("worker", "--config", str(path))
    story = [event("declared", ticket="INC-42", team={"coordinator": "Alice"}),
             event("updated", ticket="INC-42", minutes=10, phase="fix", message="Branch created"),
             event("resolved", ticket="INC-42", minutes=40, root_cause="Bad timeout", fix={"pr": "#42"},
                   checks=CHECKED)]
    pushed = run_hotfix("push", "--file", "-", input_text=lines(*story), env=env)
    assert pushed.returncode == 0, pushed.stderr
    # 5 recipients × (announcement + resolution) + 4 update recipients = 14 RCPTs, in 3 + 2 + 3 emails
    wait_until(lambda: sum(len(m.rcpt_tos) for m in smtp.messages) >= 14, timeout=30, message="14 deliveries")
    wait_until(lambda: len(teams.requests("/engineering")) >= 3, message="3 Teams cards")

    again = run_hotfix("push", "--file", "-", input_text=lines(*story), env=env)
    assert again.returncode == 0
    redis.xadd(keys.EVENTS_STREAM, {keys.EVENT_FIELD: '{"type": "declared", "ticket": "INC-43"}'})
    sentinel = event("declared", ticket="INC-44", severity="P2")
    assert run_hotfix("push", "--file", "-", input_text=lines(sentinel), env=env).returncode == 0
    wait_until(lambda: sum(len(m.rcpt_tos) for m in smtp.messages) >= 16, timeout=30, message="sentinel")
    assert sum(len(m.rcpt_tos) for m in smtp.messages) == 16  # 14 + the P2 sentinel to on-call's 2
    assert len(teams.requests("/engineering")) == 4

    dead = run_hotfix("dead-letters", "--format", "json", env=env)
    rows = json.loads(dead.stdout)
    assert len(rows) == 1 and "title" in rows[0]["error"] and "INC-43" in rows[0]["raw"]
    assert daemon.alive()

    shown = json.loads(run_hotfix("show", "INC-42", "--format", "json", env=env).stdout)
    assert shown["status"] == "resolved" and shown["severity"] == "P0"
    assert [e["type"] for e in shown["timeline"] if e["type"] in ("declared", "updated", "resolved")] == \
        ["declared", "updated", "resolved"]
    assert {d["status"] for d in shown["deliveries"]} == {"sent"}
    assert len(shown["deliveries"]) == 14 + 3
    listed = json.loads(run_hotfix("list", "--format", "json", env=env).stdout)
    assert [row["ticket"] for row in listed] == ["INC-44"]
    assert daemon.stop() == 0
