"""Security: no configured secret shows in any log line, CLI output, HTTP answer or dead letter of the real processes."""
from __future__ import annotations

import json
import re
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis

from hotfix import keys
from hotfix.config import load_settings
from tests.chaos.herald_procs import write_config
from tests.chaos.support import free_port, mail_parts, parse_mail, record
from tests.fixtures.herald import BASE_CONFIG, event, merge, xadd
from tests.fixtures.processes import hotfix_process, run_hotfix, wait_until  # noqa: F401
from tests.fixtures.smtp_server import smtp_server  # noqa: F401
from tests.fixtures.teams_server import Reply, teams_server  # noqa: F401

pytestmark = pytest.mark.e2e

SMTP_PASSWORD = "smtp-PASS-s3cr3t-9f1"
TOKEN = "intake-TOKEN-s3cr3t-77a"
VIEWER = "viewer-TOKEN-s3cr3t-4b2"
JIRA = "jira-TOKEN-s3cr3t-c0d"
SIGNING = "signing-KEY-s3cr3t-e5f-0123456789"
REDIS_PASSWORD = "redis-PASS-s3cr3t-8d4"


def test_no_secret_leaks_anywhere(tmp_path: Path, smtp_server, teams_server, hotfix_process) -> None:
    """Secrets (Redis and SMTP passwords, webhook URLs, tokens, the signing key) and every link token (action,
    approval, unsubscribe, confirmation, invitation) never appear in verbose logs, access logs, CLI output, answers or
    dead letters, while each kind of link is followed and its form posted."""
    from tests.chaos.support import RedisServer

    server = RedisServer(tmp_path, password=REDIS_PASSWORD)
    server.start()
    redis = server.client()
    smtp = smtp_server(auth=("herald", SMTP_PASSWORD))
    hook = "/webhook/b7e1c0de-SECRET-PATH-5a5a"
    teams_server.script(hook, [Reply.error(500, "boom"), Reply.error(400, "Bad payload")] + [Reply.accepted()] * 20)
    dead_port = free_port()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, merge(BASE_CONFIG, {
        "redis": {"url": server.url}, "outbox": {"dir": str(tmp_path / "outbox")},
        "smtp": {"host": smtp.host, "port": smtp.port, "security": "none", "username": "herald",
                 "password": SMTP_PASSWORD, "sender": "Herald <herald@test.local>"},
        "http": {"listen": f"127.0.0.1:{port}", "token": TOKEN, "viewer_token": VIEWER, "tokens": {"jira": JIRA},
                 "public_url": base, "signing_key": SIGNING},
        "people": {"Alice": {"email": "alice@example.com", "teams": "alice@example.com"}},
        "teams": {"engineering": {"url": teams_server.url(hook), "timeout": "2s"},
                  "broken": {"url": f"http://127.0.0.1:{dead_port}/closed-SECRET-{dead_port}", "timeout": "1s"}},
        "audiences": {"oncall": {"teams": ["engineering", "broken"]},
                      "customers": {"emails": [CUSTOMER], "kind": "users", "self_service": True, "approval": ["Alice"]}},
        "severity": {"P0": {"announce": ["oncall", "stakeholders", "management", "customers"]}},
        "worker": {"max_retries": 1},
    }))
    secrets = load_settings(config).secret_values()
    assert len(secrets) >= 6 and REDIS_PASSWORD in secrets
    procs = [hotfix_process(cmd, "--config", str(config), "--verbose") for cmd in ("daemon", "worker", "serve")]
    try:
        wait_until(lambda: _get(f"{base}/healthz") == 200, timeout=30, message="intake up")
        answers, tokens = _exercise(base, redis, smtp, config)
    finally:
        for proc in procs:
            proc.stop()
    outputs: dict[str, str] = {}
    env = {"HOTFIX_CONFIG": str(config)}
    for args in (["check-config"], ["check-config", "--format", "json"], ["check-config", "--explain", "P0"],
                 ["list", "--all"], ["list", "--format", "json"], ["show", "SEC-9"], ["show", "SEC-9", "--format", "json"],
                 ["dead-letters", "--format", "json"], ["dead-letters", "--deliveries", "--format", "json"],
                 ["approvals", "--format", "json"], ["subscribers", "customers", "--format", "json"],
                 ["postmortem", "SEC-9", "--format", "json"], ["show", "../nope"], ["push", "declared", "--ticket", "bad ticket"]):
        done = run_hotfix(*args, env=env)
        outputs[" ".join(args)] = done.stdout + done.stderr
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text(config.read_text() + '\n[smtp.extra]\npassword = "x"\n')
    done = run_hotfix("check-config", "--config", str(bad_config))
    outputs["check-config (bad file)"] = done.stdout + done.stderr
    for proc in procs:
        outputs[f"log {proc.args[0]}"] = proc.output()
    outputs["redis dead letters"] = json.dumps([[k.decode(), {a.decode(): b.decode() for a, b in v.items()}]
                                                for s in (keys.DEAD_LETTERS, keys.DELIVERY_DEAD_LETTERS)
                                                for k, v in redis.xrange(s)])
    outputs["redis receipts"] = json.dumps([v.decode() for t in ("SEC-9",) for v in redis.hvals(keys.receipts(t))])
    server.stop()
    outputs |= {f"answer {a.request.url.path} {a.status_code}": a.text for a in answers
                if not a.request.url.path.startswith(LINK_PAGES)}  # a link's own page holds its token in its form
    secrets += tokens
    leaks = [(where, secret[:6] + "…") for where, text in outputs.items() for secret in secrets if secret in text]
    lines = sum(text.count("\n") + 1 for text in outputs.values())
    record("secrets", secrets=len(secrets), places_scanned=len(outputs), lines_scanned=lines, leaks=len(leaks))
    assert "DEBUG" in outputs["log worker"]
    for route in ("GET /act/…", "POST /act/…", "GET /approval/…", "POST /approval/…", "POST /unsubscribe/…",
                  "GET /subscribe?invite=…", "POST /subscribe/confirm/…"):
        assert f'"{route}' in outputs["log serve"], route  # the access log saw every link, its token cut out
    assert leaks == []


#: The pages reached through a signed link: they show their own token (in their form), to their holder only.
LINK_PAGES = ("/act/", "/approval/", "/unsubscribe/", "/subscribe")
CUSTOMER = "status@customers.example"
_LINK = re.compile(r"/(?:act|approval|unsubscribe|subscribe/confirm)/([A-Za-z0-9_.-]{20,})|[?&]invite=([A-Za-z0-9_.-]{20,})")


def _exercise(base: str, redis: Redis, smtp: Any, config: Path) -> tuple[list[httpx.Response], list[str]]:
    """Drive every door and every kind of link; the answers and the link tokens the messages carried."""
    answers = [
        httpx.post(f"{base}/events", json=event("declared", ticket="SEC-9", team={"coordinator": "Alice"}),
                   headers={"Authorization": f"Bearer {TOKEN}"}),
        httpx.post(f"{base}/events", json=event("declared", ticket="SEC-8"), headers={"Authorization": "Bearer nope"}),
        httpx.post(f"{base}/hooks/jira", content=b"{not json", headers={"Authorization": f"Bearer {JIRA}"}),
        httpx.post(f"{base}/events", json={"type": "declared", "ticket": "SEC-7"}, headers={"Authorization": f"Bearer {TOKEN}"}),
        httpx.get(f"{base}/", params={"token": "wrong"}), httpx.get(f"{base}/metrics"), httpx.get(f"{base}/openapi.json"),
        httpx.get(f"{base}/", params={"token": VIEWER, "refresh": "5"}),  # repro 5: the token in the query string
        httpx.get(f"{base}/hotfix/SEC-9", params={"token": TOKEN}), httpx.get(f"{base}/api/hotfixes", params={"token": JIRA}),
    ]
    assert [a.status_code for a in answers[:4]] == [202, 401, 422, 422]
    assert [a.status_code for a in answers[-3:]] == [303, 303, 200]
    assert all(secret not in a.headers.get("location", "") + a.headers.get("set-cookie", "")
               for a in answers for secret in (VIEWER, TOKEN, JIRA))
    xadd(redis, '{"type": "declared", "ticket": "SEC-6", "title": ""}', "not json at all")

    def texts(address: str = "") -> list[str]:
        mails = [parse_mail(m.data) for m in smtp.messages if not address or address in m.rcpt_tos]
        return [mail_parts(m).get("text/plain", "") + str(m["List-Unsubscribe"] or "") for m in mails]

    def link(address: str, kind: str) -> str:
        found = wait_until(lambda: next((m.group(0) for t in texts(address)
                                         for m in re.finditer(rf"{base}/{kind}/[A-Za-z0-9_.-]+", t)), None),
                           timeout=40, message=f"a {kind} link to {address}")
        return str(found)

    act = link("oncall@example.com", "act")
    answers += [httpx.get(act), httpx.post(act, data={"token": act.rsplit("/", 1)[1], "message": "seen", "action": "update"}),
                httpx.get(act + "x"), httpx.get(act + "?sent=1")]
    assert [a.status_code for a in answers[-4:]] == [200, 303, 403, 200]
    assert act.rsplit("/", 1)[1] not in answers[-2].text  # a refused link is not echoed
    approval = link("alice@example.com", "approval")
    answers += [httpx.get(approval + "?do=approve"), httpx.post(approval, data={"decision": "approve"})]
    unsubscribe = link(CUSTOMER, "unsubscribe")  # once approved, the customers hear, each with a one-click link
    answers += [httpx.get(unsubscribe), httpx.post(unsubscribe, content=b"List-Unsubscribe=One-Click")]
    invited = run_hotfix("subscribers", "customers", "--invite", env={"HOTFIX_CONFIG": str(config)})
    page = httpx.get(invited.stdout.strip())
    form = re.search(r'name="form" value="([^"]+)"', page.text)
    assert form is not None, page.text[:300]
    answers += [page, httpx.post(f"{base}/subscribe", data={"form": form.group(1), "email": "zoe@customers.example",
                                                            "audience": "customers"})]
    confirm = link("zoe@customers.example", "subscribe/confirm")
    answers += [httpx.get(confirm), httpx.post(confirm, data={"confirm": "yes"})]
    assert [a.status_code for a in answers[-8:]] == [200, 200, 200, 200, 200, 200, 200, 200]
    wait_until(lambda: redis.xlen(keys.DELIVERY_DEAD_LETTERS) >= 1, timeout=40, message="a failed delivery recorded")
    tokens = sorted({m.group(1) or m.group(2) for t in [*texts(), invited.stdout] for m in _LINK.finditer(t)})
    assert len(tokens) >= 5, tokens  # action (team and person), approval, unsubscribe, confirmation, invitation
    return answers, tokens


def _get(url: str) -> int:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return -1



def test_the_redis_password_never_shows_while_redis_is_down_up_or_refusing(tmp_path: Path, smtp_server,
                                                                           hotfix_process) -> None:
    """With a password-protected Redis, the password shows in no log line (--verbose: DEBUG), CLI output or answer:
    while Redis is not started yet, once it is up, across an outage, and with a wrong password."""
    from tests.chaos.herald_procs import one_inbox_config
    from tests.chaos.support import RedisServer

    server = RedisServer(tmp_path, password=REDIS_PASSWORD)  # not started yet
    smtp = smtp_server()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, one_inbox_config(server.url, tmp_path, smtp, http={
        "listen": f"127.0.0.1:{port}", "token": TOKEN, "viewer_token": VIEWER}))
    wrong = write_config(tmp_path, one_inbox_config(server.url.replace(REDIS_PASSWORD, "not-the-password"), tmp_path,
                                                    smtp), name="wrong.toml")
    assert REDIS_PASSWORD in load_settings(config).secret_values()
    procs = [hotfix_process(cmd, "--config", str(config), "--verbose") for cmd in ("daemon", "worker", "serve")]
    outputs: dict[str, str] = {}
    try:
        wait_until(lambda: all("Redis unavailable" in p.output() for p in procs[:2]) and _get(f"{base}/healthz") == 503,
                   timeout=30, message="daemon and worker waiting for Redis, the intake up and saying 503")
        outputs["healthz while down"] = httpx.get(f"{base}/healthz").text
        outputs["list while down"] = _cli("list", "--config", str(config))
        server.start()
        answer = httpx.post(f"{base}/events", json=event("declared", ticket="PW-1"),
                            headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 202, answer.text
        wait_until(lambda: smtp.messages, timeout=40, message="the announcement through the password-protected Redis")
        server.stop()  # an outage while everything runs
        wait_until(lambda: _get(f"{base}/healthz") == 503, timeout=15, message="the intake seeing the outage")
        server.start()
        wait_until(lambda: _get(f"{base}/healthz") == 200, timeout=30, message="the intake back")
        outputs["list, wrong password"] = _cli("list", "--config", str(wrong))
        assert "hotfix: Redis at redis://:***@127.0.0.1" in outputs["list, wrong password"]
        assert "refused the credentials" in outputs["list, wrong password"]
    finally:
        for proc in procs:
            proc.stop()
            outputs[f"log {proc.args[0]}"] = proc.output()
        server.stop()
    assert all(p.alive() is False for p in procs)
    assert "DEBUG" in outputs["log worker"] and "Redis unavailable" in outputs["log daemon"]
    leaks = [where for where, text in outputs.items() if REDIS_PASSWORD in text]
    record("redis_password", places_scanned=len(outputs), lines_scanned=sum(t.count("\n") + 1 for t in outputs.values()),
           leaks=len(leaks))
    assert leaks == []


def _cli(*args: str) -> str:
    done = run_hotfix(*args, env={"HOTFIX_CONFIG": ""})
    return done.stdout + done.stderr
