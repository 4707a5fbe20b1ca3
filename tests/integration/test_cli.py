"""The hotfix command on the real Redis: push, list, show (the coordination document), check-config."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from redis import Redis
from typer.testing import CliRunner

from herald.cli import app
from hotfix import keys
from tests.fixtures.herald import BASE_CONFIG, T0, drain, event, make_daemon, make_settings, merge, pushed, xadd  # noqa: F401
from tests.fixtures.processes import hotfix_process, imported_modules, to_toml, wait_until  # noqa: F401

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path, redis: Redis, redis_url: str) -> Path:
    """A config file on the tests' Redis."""
    path = tmp_path / "config.toml"
    path.write_text(to_toml(merge(BASE_CONFIG, {"redis": {"url": redis_url}, "outbox": {"dir": str(tmp_path / "o")}})))
    return path


def stream(redis: Redis) -> list[dict]:
    return pushed(redis)


def test_push_from_flags(redis: Redis, config: Path) -> None:
    """`hotfix push TYPE --ticket …` puts valid events with team, checks and fix on the stream."""
    result = runner.invoke(app, ["push", "declared", "--ticket", "INC-1", "--title", "Down", "--severity", "P0",
                                 "--coordinator", "Alice", "--config", str(config)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["push", "updated", "--ticket", "INC-1", "--phase", "review", "--check", "review",
                                 "--pr", "#42", "--config", str(config)])
    assert result.exit_code == 0, result.output
    declared, updated = stream(redis)
    assert declared["type"] == "declared" and declared["team"] == {"coordinator": "Alice"}
    assert declared["source"] == "cli" and declared["id"] != updated["id"]
    assert updated["checks"] == {"review": True} and updated["fix"] == {"pr": "#42"} and updated["phase"] == "review"


def test_push_file_reports_bad_lines_and_pushes_good_ones(redis: Redis, config: Path, tmp_path: Path) -> None:
    """JSON lines: each invalid line is reported with its number and field; valid lines are pushed; exit 1."""
    lines = tmp_path / "events.jsonl"
    lines.write_text("\n".join([json.dumps(event("declared")), '{"type": "declared", "ticket": "X"}',
                                json.dumps(event("updated", minutes=1, message="m"))]))
    result = runner.invoke(app, ["push", "--file", str(lines), "--config", str(config)])
    assert result.exit_code == 1
    assert "event 2: title: Field required" in result.output
    assert [e["type"] for e in stream(redis)] == ["declared", "updated"]


def test_check_config_names_bad_keys(tmp_path: Path) -> None:
    """check-config exits 2 and prints the file and each bad key."""
    bad = tmp_path / "bad.toml"
    bad.write_text('[audiences.a]\nteams = ["nope"]\n')
    result = runner.invoke(app, ["check-config", "--config", str(bad)])
    assert result.exit_code == 2
    assert str(bad) in result.output and "audiences.a.teams: unknown Teams channel 'nope'" in result.output


def test_check_config_names_its_redis_without_the_password(tmp_path: Path) -> None:
    """check-config says which Redis the processes will use, its password masked (text and JSON)."""
    path = tmp_path / "config.toml"
    path.write_text(to_toml(merge(BASE_CONFIG, {"redis": {"url": "redis://herald:s3cr3t-pw@redis.internal:6380/4"}})))
    text = runner.invoke(app, ["check-config", "--config", str(path)])
    data = runner.invoke(app, ["check-config", "--format", "json", "--config", str(path)])
    assert text.exit_code == data.exit_code == 0, text.output
    assert "Redis: redis://herald:***@redis.internal:6380/4" in text.output
    assert json.loads(data.output)["redis"] == "redis://herald:***@redis.internal:6380/4"
    assert "s3cr3t-pw" not in text.output + data.output


@pytest.mark.parametrize("url", [
    "redis://redis.internal:6380/4?password=s3cr3t-pw",  # redis-py reads a password from the query too
    "unix:///run/redis/redis.sock?db=4&password=s3cr3t-pw",  # redis-py's documented form for a socket
    "rediss://herald@redis.internal:6380/4?ssl_password=s3cr3t-pw",
])
def test_check_config_masks_a_password_given_in_the_query(tmp_path: Path, url: str) -> None:
    """check-config masks a Redis password written as a query parameter (``?password=``), as one in the user part."""
    path = tmp_path / "config.toml"
    path.write_text(to_toml(merge(BASE_CONFIG, {"redis": {"url": url}})))
    text = runner.invoke(app, ["check-config", "--config", str(path)])
    data = runner.invoke(app, ["check-config", "--format", "json", "--config", str(path)])
    assert text.exit_code == data.exit_code == 0, text.output
    assert "s3cr3t-pw" not in text.output + data.output
    assert "password=***" in json.loads(data.output)["redis"]


def test_check_config_explains_a_policy(config: Path) -> None:
    """--explain P0 says who hears the announcement and what happens at the deadline."""
    result = runner.invoke(app, ["check-config", "--explain", "P0", "--config", str(config)])
    assert result.exit_code == 0
    assert "stakeholders [en]: email cto@example.com" in result.output
    assert "breach escalation proposing a rollback" in result.output
    assert "access requests (needs_access → escalation), the escalate audiences:" in result.output
    assert "major customer impact (customer_impact → announcement, updates, resolution):" in result.output
    assert "triage time box 15m: still in triage 15m after the declaration → reminder to nobody; at 30m" in result.output
    assert "deploy time box 30m: production not confirmed 30m after entering staging" in result.output
    assert "post-mortem (after a resolution or a rollback, unless a date is given): the day 2d later at 14:00 " \
           "Europe/Paris, on mon, tue, wed, thu, fri" in result.output
    assert "no postmortem event 1d after its date → overdue reminder to" in result.output


@pytest.mark.parametrize("locale,headings", [
    ("fr", ["# 🚨 Hotfix: INC-1 - Checkout returns 500", "## Statut: 🟢 Résolu", "## Informations", "## Équipe",
            "## Timeline", "## Root Cause", "## Fix", "## Vérification", "## Communication", "## Follow-up"]),
    ("en", ["## Status: 🟢 Resolved", "## Information", "## Team", "## Verification", "## Follow-up"]),
])
def test_show_md_fills_every_playbook_section(redis: Redis, config: Path, make_daemon, make_settings,
                                              locale: str, headings: list[str]) -> None:
    """The coordination document holds every section of the playbook's template with the hotfix's data."""
    daemon = make_daemon(make_settings())
    xadd(redis, event("declared", impact="No order can be paid", users_affected="EU customers",
                      team={"coordinator": "Alice", "developer": "Bob", "reviewer": "Chloé", "devops": "Dan"}),
         event("updated", minutes=20, phase="production", checks={"review": True}, message="deployed"),
         event("resolved", minutes=30, root_cause="Timeout set to 0", fix={"pr": "#4242", "commit": "a1b2c3d"}))
    drain(daemon)
    result = runner.invoke(app, ["show", "INC-1", "--locale", locale, "--config", str(config)])
    assert result.exit_code == 0, result.output
    for heading in headings:
        assert heading in result.output
    for value in ("No order can be paid", "EU customers", "Alice", "Chloé", "Timeout set to 0", "#4242",
                  "a1b2c3d", T0.astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M")):
        assert value in result.output
    assert "smoke test" in result.output  # the guardrail mark: production without a smoke test
    assert "[x] " in result.output and "[ ] " in result.output


def test_list_and_show_json(redis: Redis, config: Path, make_daemon, make_settings) -> None:
    """list --format json has the public fields; show of an unknown ticket exits 1."""
    daemon = make_daemon(make_settings())
    xadd(redis, event("declared"), event("declared", ticket="INC-2", severity="P2"))
    drain(daemon)
    rows = json.loads(runner.invoke(app, ["list", "--format", "json", "--config", str(config)]).output)
    assert [r["ticket"] for r in rows] == ["INC-1", "INC-2"]
    assert {"ticket", "severity", "status", "phase", "title"} <= set(rows[0])
    shown = json.loads(runner.invoke(app, ["show", "INC-1", "--format", "json", "--config", str(config)]).output)
    assert shown["deadline"] == (T0 + timedelta(hours=1)).isoformat() and shown["status"] == "open"
    assert runner.invoke(app, ["show", "NOPE", "--config", str(config)]).exit_code == 1


@pytest.mark.parametrize("locale", ["fr", "en"])
def test_show_md_after_deliveries(redis: Redis, config: Path, make_daemon, make_settings, locale: str) -> None:
    """The document renders once messages were delivered (receipts sent without a reason, and failed with one)."""
    from hotfix.enums import DeliveryStatus
    from hotfix.jobs import JobPayload
    from workers import receipts

    daemon = make_daemon(make_settings())
    xadd(redis, event("declared"))
    drain(daemon)
    payload = JobPayload.model_validate({"ticket": "INC-1", "message": "announcement", "audience": "oncall",
                                         "channel": "email", "job_key": "j1", "recipients": [], "locale": "fr",
                                         "severity": "P0", "hotfix": {"ticket": "INC-1"}})
    receipts.record(redis, payload, [("oncall@example.com", DeliveryStatus.SENT, None),
                                     ("dev@example.com", DeliveryStatus.FAILED, "550 no such user")], via="smtp", attempt=1)
    result = runner.invoke(app, ["show", "INC-1", "--locale", locale, "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "oncall@example.com" in result.output and "550 no such user" in result.output


def test_rollback_from_flags_keeps_the_hotfix_listed(redis: Redis, config: Path, make_daemon, make_settings) -> None:
    """`push rolled_back --reason --next-approach --service-restored` keeps the hotfix open in list, show json and md."""
    daemon = make_daemon(make_settings())
    xadd(redis, event("declared"))
    result = runner.invoke(app, ["push", "rolled_back", "--ticket", "INC-1", "--reason", "Refunds broken",
                                 "--next-approach", "Patch behind a flag", "--service-restored", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert stream(redis)[-1]["service_restored"] is True
    drain(daemon)
    rows = json.loads(runner.invoke(app, ["list", "--format", "json", "--config", str(config)]).output)
    assert [(r["ticket"], r["status"], r["phase"], r["rollbacks"]) for r in rows] == [("INC-1", "open", "fix", 1)]
    shown = json.loads(runner.invoke(app, ["show", "INC-1", "--format", "json", "--config", str(config)]).output)
    assert shown["next_approach"] == "Patch behind a flag" and shown["attempts"][0]["reason"] == "Refunds broken"
    document = runner.invoke(app, ["show", "INC-1", "--config", str(config)]).output
    assert "En cours (fix)" in document and "nouvelle approche : Patch behind a flag" in document
    assert "service rétabli à" in document


def test_push_refuses_a_date_out_of_the_window_naming_the_field(redis: Redis, config: Path) -> None:
    """`hotfix push updated --eta <year 9999>` names ``eta``, pushes nothing and exits non-zero."""
    result = runner.invoke(app, ["push", "updated", "--ticket", "INC-1", "--eta", "9999-12-31T23:30:00Z",
                                 "--config", str(config)])
    assert result.exit_code != 0
    assert "eta: too far in the future" in result.output
    assert stream(redis) == []


@pytest.mark.parametrize("message,headline", [("assignment", "ASSIGNATION"), ("review_request", "REVIEW DEMANDÉE"),
                                              ("deploy_request", "DEPLOY PROD DEMANDÉ")])
@pytest.mark.parametrize("channel", ["teams", "email"])
def test_preview_of_role_prompts(tmp_path: Path, message: str, headline: str, channel: str) -> None:
    """`hotfix preview` renders each role prompt on both channels: the person mentioned, a placeholder action link."""
    path = tmp_path / "config.toml"
    path.write_text(to_toml(merge(BASE_CONFIG, {
        "http": {"public_url": "https://herald.example.com", "signing_key": "preview-signing-key-0123"},
        "people": {"Chloé": {"email": "chloe@corp.example", "teams": "chloe@corp.example"},
                   "Dan": {"email": "dan@corp.example", "teams": "dan@corp.example"}}})))
    result = runner.invoke(app, ["preview", message, "--channel", channel, "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert headline in result.output and "https://herald.example.com/act/PREVIEW" in result.output
    if channel == "teams":
        card = json.loads(result.output)
        person = "Dan" if message == "deploy_request" else "Chloé"
        assert {"type": "mention", "text": f"<at>{person}</at>",
                "mentioned": {"id": f"{person.lower().replace('é', 'e')}@corp.example", "name": person}} in card["msteams"]["entities"]
    else:
        assert result.output.startswith("Subject: [P0][INC-1042]")


@pytest.mark.parametrize("message,case,locale,words", [
    ("postmortem", "report", "fr", ["📝 POST-MORTEM — compte rendu", "Pourquoi pas détecté avant ?", "OPS-311",
                                    "Ticket de suivi : INC-1043"]),
    ("postmortem", "overdue", "en", ["📝 POST-MORTEM OVERDUE", "no report has been recorded"]),
    ("postmortem", "before", "fr", ["📝 POST-MORTEM", "□ Comment éviter à l'avenir ?"]),
    ("escalation", "at_risk", "fr", ["échéance proche", "rollback"]),
    ("escalation", "needs_access", "en", ["Read access to the production payments database"]),
    ("escalation", "unanswered", "fr", ["management"]),
    ("reminder", "triage", "fr", ["triage au-delà de 15 min"]),
    ("reminder", "deploy", "en", ["deploy beyond 30 min"]),
    ("announcement", "customer_impact", "fr", ["🚨 HOTFIX EN COURS"]),
    ("update", "fix", "fr", ["Pas de refactoring"]),
    ("update", "production", "en", ["cherry-pick to the release branch"]),
    ("rollback", "not_restored", "fr", ["ROLLBACK"]),
    ("guardrail", "resolution", "en", ["Resolved"]),
])
def test_preview_shows_each_text_of_a_message(message: str, case: str, locale: str, words: list[str]) -> None:
    """`hotfix preview MESSAGE --case NAME` renders each new text: post-mortem report and overdue, escalation rows,
    time boxes, phase guidance."""
    result = runner.invoke(app, ["preview", message, "--case", case, "--locale", locale])
    assert result.exit_code == 0, result.output
    for word in words:
        assert word in result.output, word


def test_preview_names_the_cases_and_refuses_an_unknown_one() -> None:
    """`--case list` names a message's texts; an unknown case is a one-line error naming them (exit 2)."""
    listed = runner.invoke(app, ["preview", "postmortem", "--case", "list"])
    assert listed.exit_code == 0 and listed.output.split() == ["before", "overdue", "report"]
    bad = runner.invoke(app, ["preview", "postmortem", "--case", "nope"])
    assert bad.exit_code == 2 and "unknown case 'nope' for postmortem (one of before, overdue, report)" in bad.output


#: Top-level packages a daemon has no use for: the delivery side, the demo's, the HTTP intake's.
NOT_A_DAEMONS = {"workers", "fastapi", "starlette", "uvicorn", "aiosmtplib", "pymsteams", "jinja2"}


def test_hotfix_daemon_carries_neither_the_workers_nor_the_demo(redis: Redis, config: Path, hotfix_process) -> None:
    """A daemon that applies an event imports daemon/ and none of workers/, the demo, the intake's web stack."""
    daemon = hotfix_process("daemon", "--config", str(config), env={"PYTHONPROFILEIMPORTTIME": "1"})
    xadd(redis, event("declared"))
    wait_until(lambda: redis.exists(keys.hotfix("INC-1")), timeout=60, message="the daemon applied the event")
    daemon.stop()
    modules = imported_modules(daemon.output())
    assert "daemon.consumer" in modules
    assert [m for m in modules if m.split(".")[0] in NOT_A_DAEMONS or m.startswith("herald.demo")] == []


@pytest.mark.parametrize(("audience", "line"), [
    ({"emails": ["a@corp.example", "b@corp.example"]}, "email a@corp.example, b@corp.example (outbox)"),
    ({"self_service": True}, "email whoever joined (outbox); self-service"),
    ({"emails": ["a@corp.example"], "self_service": True}, "email a@corp.example + whoever joined (outbox)"),
])
def test_check_config_explains_who_an_audiences_email_reaches(tmp_path: Path, audience: dict, line: str) -> None:
    """--explain names an audience's addresses, and says a self-service one also reaches whoever joined."""
    path = tmp_path / "config.toml"
    path.write_text(to_toml(merge(BASE_CONFIG, {"audiences": {"watchers": audience},
                                                "severity": {"P2": {"announce": ["watchers"]}}})))
    result = runner.invoke(app, ["check-config", "--explain", "P2", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert f"watchers [fr]: {line}" in result.output
