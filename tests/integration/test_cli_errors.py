"""Every ``hotfix`` error is one line on stderr naming its cause, with exit code 2 and never a traceback.

Through the console script's entry (``herald.cli.main``; once as a real process): Redis down for each
command that reads or writes it, ``push --file`` with every kind of broken input, and command-line mistakes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from herald.cli import app, main
from tests.chaos.support import free_port
from tests.fixtures.herald import BASE_CONFIG
from tests.fixtures.processes import to_toml

#: Commands that need Redis, each as a user would type it.
REDIS_COMMANDS = [["list"], ["show", "INC-1", "--format", "json"], ["push", "declared", "--ticket", "INC-1", "--title", "t",
                  "--severity", "P0"], ["dead-letters"], ["dead-letters", "--replay", "1-0"], ["postmortem", "INC-1"],
                  ["subscribers", "oncall"], ["subscribers", "oncall", "--remove", "oncall@example.com"], ["approvals"],
                  ["approve", "ap-0123456789ab", "--by", "Alice"], ["decline", "ap-0123456789ab", "--reason", "no"]]


def run_all(commands: list[list[str]], env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run ``hotfix`` commands through ``herald.cli.main`` (the console script's entry) in this process, one by one."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = []
    for args in commands:
        monkeypatch.setattr(sys, "argv", ["hotfix", *args])
        with pytest.raises(SystemExit) as ended:
            main()
        captured = capsys.readouterr()
        code = ended.value.code if isinstance(ended.value.code, int) else 0
        out.append(subprocess.CompletedProcess(args, code, captured.out, captured.err))
    return out


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The single ``hotfix: …`` line of a failed command (asserting exit 2, no traceback)."""
    assert done.returncode == 2, (done.args, done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hotfix: "), (done.args, done.stderr)
    return lines[0]


def test_redis_down_is_one_line_for_every_command(tmp_path: Path, monkeypatch, capsys) -> None:
    """Repro 9: with Redis unreachable, every command that needs it (list, show, push, dead-letters and --replay,
    postmortem, subscribers and --remove, approvals, approve, decline) says so in one line."""
    config = tmp_path / "config.toml"
    config.write_text(to_toml(BASE_CONFIG))
    url = f"redis://:s3cret-pass@127.0.0.1:{free_port()}/0"
    done = run_all(REDIS_COMMANDS, {"HOTFIX_REDIS__URL": url, "HOTFIX_CONFIG": str(config)}, monkeypatch, capsys)
    for result in done:
        line = one_line_error(result)
        assert "Redis is not reachable at redis://:***@127.0.0.1:" in line, line
        assert "s3cret-pass" not in result.stderr + result.stdout


@pytest.mark.parametrize(("content", "expected"), [
    (b"[1,2]", "event 1: expected a JSON object, got a number (1)"),
    (b'[{"type":"declared"', "not valid JSON (Expecting ',' delimiter"),
    (b"[" * 5000 + b"]" * 5000, "nested deeper than 64 levels"),
    (b'{"type": "declared", "ticket": "A", "n": ' + b"1" * 5000 + b"}", "event 1: a number of 5000 characters"),
    (b'{"type": "declared", "ticket": "\xff"}', "not UTF-8 text (byte 0xff at position 32)"),
    (b"  \n ", "empty (expected a JSON object"),
    (None, "no such file"),
    ("dir", "is a directory, not a file"),
])
def test_push_file_errors_name_the_fault(tmp_path: Path, redis_url: str, content: bytes | str | None, expected: str) -> None:
    """Repro 7: a broken array, deep nesting, a huge number, invalid UTF-8, an empty, missing or directory --file: exit 2."""
    path = tmp_path / "events.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "dir":
        path.mkdir()
    config = tmp_path / "config.toml"
    config.write_text(to_toml({"redis": {"url": redis_url}}))
    result = CliRunner().invoke(app, ["push", "--file", str(path), "--config", str(config)])
    assert result.exit_code == 2 and result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert expected in result.output, result.output
    assert all(line.startswith(("hotfix: ", "event ", "pushed 0")) for line in result.output.strip().splitlines())


def test_usage_mistakes_are_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    """A missing argument, a bad option value, an unknown command or config file: one line, exit 2, the help named."""
    done = run_all([["show"], ["list", "--format", "nope"], ["nope"], ["check-config", "-c", str(tmp_path)],
                    ["check-config", "-c", str(tmp_path / "missing.toml")], ["push"]], {"HOTFIX_CONFIG": ""},
                   monkeypatch, capsys)
    lines = [one_line_error(d) for d in done]
    assert "Missing argument 'ticket'. (see hotfix show --help)" in lines[0]
    assert "'nope' is not one of 'table', 'json', 'md'" in lines[1] and "No such command 'nope'" in lines[2]
    assert lines[3].endswith("is a directory: expected a TOML file") and lines[4].endswith("file not found")
    assert "give an event TYPE" in lines[5]


def test_bad_values_are_one_line_naming_the_rule(tmp_path: Path, monkeypatch, capsys) -> None:
    """A dot-only or overlong ticket, a malformed approval id, an unknown audience or story: `hotfix: …`, exit 2."""
    config = tmp_path / "config.toml"
    config.write_text(to_toml(BASE_CONFIG))
    done = run_all([["show", ".."], ["postmortem", "x" * 65], ["approve", "nope"], ["decline", "ap-xyz", "--reason", "r"],
                    ["subscribers", "nobody"], ["demo", "--ticket", "..."], ["demo", "--story", "nope"]],
                   {"HOTFIX_CONFIG": str(config)}, monkeypatch, capsys)
    lines = [one_line_error(d) for d in done]
    assert all("not dots only" in line for line in lines[:2]), lines
    assert all("invalid approval id" in line for line in lines[2:4])
    assert "unknown audience 'nobody' (configured: management, oncall, stakeholders)" in lines[4]
    assert "invalid --ticket '...'" in lines[5] and "not dots only" in lines[5] and "unknown story 'nope'" in lines[6]


def test_a_partly_refused_file_pushes_the_rest_and_exits_1(tmp_path: Path, redis_url: str, redis) -> None:
    """A file whose some events are refused pushes the others and exits 1; with all refused it exits 2."""
    good = {"type": "declared", "ticket": "INC-1", "title": "t", "severity": "P0"}
    (tmp_path / "some.jsonl").write_text(json.dumps(good) + "\n" + '{"type": "declared", "ticket": "X"}\n')
    (tmp_path / "none.json").write_text('[{"type": "nope", "ticket": "X"}]')
    config = tmp_path / "config.toml"
    config.write_text(to_toml({"redis": {"url": redis_url}}))
    some = CliRunner().invoke(app, ["push", "--file", str(tmp_path / "some.jsonl"), "--config", str(config)])
    none = CliRunner().invoke(app, ["push", "--file", str(tmp_path / "none.json"), "--config", str(config)])
    assert (some.exit_code, none.exit_code) == (1, 2)
    assert "event 2: title:" in some.output and "event 1: type: unknown 'nope'" in none.output


def test_the_console_script_prints_one_line_without_traceback(tmp_path: Path) -> None:
    """The real ``hotfix`` process, Redis down: one line on stderr, exit 2, the password hidden."""
    env = {**os.environ, "HOTFIX_REDIS__URL": f"redis://:s3cret-pass@127.0.0.1:{free_port()}/0", "HOTFIX_CONFIG": ""}
    done = subprocess.run([sys.executable, "-m", "herald.cli", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert "Redis is not reachable at redis://:***@" in one_line_error(done) and "s3cret-pass" not in done.stderr


def test_a_wrong_redis_password_is_named_as_such() -> None:
    """Redis answering with an authentication error is not 'not reachable': the line says the credentials were refused."""
    from redis.exceptions import AuthenticationError

    from herald.app import error_line

    line = error_line(AuthenticationError("invalid username-password pair or user is disabled."))
    assert "refused the credentials" in line and "not reachable" not in line
