"""Security: hostile event text through the real daemon and worker code: inert in email and cards, no header injection."""
from __future__ import annotations

import json
from typing import Any

import pytest
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from hotfix import keys
from hotfix.events import InvalidEvent, parse_event
from hotfix.settings import SHIPPED_TEMPLATES
from hotfix.templating import environment
from tests.chaos.support import mail_parts, parse_mail
from tests.fixtures.herald import drain, event, make_daemon, make_settings, xadd  # noqa: F401
from tests.fixtures.processes import run_hotfix, to_toml
from tests.fixtures.smtp_server import smtp_server  # noqa: F401
from tests.fixtures.teams_server import Reply, teams_server  # noqa: F401
from tests.integration.test_intake_support import TestClient
from workers import runtime
from workers.render import Renderer

SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'
MD_LINK = "[click](http://evil.example/x)"
JINJA = "{{ 7*7 }} {{ ''.__class__ }} {% raw %}"
TITLE = f"Boom {SCRIPT} **bold** {MD_LINK} {JINJA}\r\nBcc: evil@attacker.example\r\nX-Evil: 1"


@pytest.fixture
def pipeline(redis: Redis, make_settings, make_daemon, smtp_server, teams_server) -> Any:
    """The daemon and a burst worker on the real Redis, a real SMTP server and the Teams stand-in."""
    smtp = smtp_server()
    teams_server.script("/engineering", [Reply.accepted()] * 20)
    settings = make_settings(smtp=smtp.settings().model_dump(),
                             teams={"engineering": {"url": teams_server.url("/engineering")}})
    runtime.configure(settings, redis)
    daemon = make_daemon(settings)

    def run(*events: dict[str, Any]) -> None:
        xadd(redis, *events)
        drain(daemon)
        SimpleWorker(list(keys.QUEUE_NAMES), connection=redis, serializer=JSONSerializer).work(burst=True)

    return run, smtp, teams_server


def test_hostile_text_is_inert_in_email_and_card(pipeline: Any) -> None:
    """<script>, HTML, Markdown and Jinja syntax in event text reach email and card as inert, literal text."""
    run, smtp, teams = pipeline
    run(event("declared", ticket="SEC-1", title=TITLE, impact=f"{IMG} {SCRIPT} {MD_LINK}", message=JINJA))
    assert smtp.messages and teams.requests("/engineering")
    for received in smtp.messages:
        parts = mail_parts(parse_mail(received.data))
        html, text = parts["text/html"], parts["text/plain"]
        assert SCRIPT not in html and "<img src=x" not in html and "&lt;script&gt;" in html
        assert 'href="http://evil.example' not in html
        assert "{{ 7*7 }}" in text and "<class" not in text and "<class" not in html
    for request in teams.requests("/engineering"):
        shown = rendered_texts(request.json["attachments"][0]["content"]["body"])
        assert shown and not any(MD_LINK in t or "**bold**" in t for t in shown)  # Markdown escaped: no live link
        card = json.dumps(request.json, ensure_ascii=False)
        assert "7\\\\*7" in card or "{{ 7*7 }}" in card
        assert "<class" not in card
        hostile = [t for t in shown if "Boom" in t or "raw %}" in t or "7\\*7" in t]
        assert hostile and not any("49" in t for t in hostile)  # {{ 7*7 }} never evaluated (a deadline may say 49 min)


def rendered_texts(node: Any) -> list[str]:
    """Every string of a card body that Teams renders as Markdown (TextBlock text, Fact values)."""
    out: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("text", "value", "title") and isinstance(value, str):
                out.append(value)
            else:
                out += rendered_texts(value)
    elif isinstance(node, list):
        for item in node:
            out += rendered_texts(item)
    return out


def test_crlf_in_title_adds_no_email_header(pipeline: Any) -> None:
    """CR/LF in a title cannot add a header (Bcc, X-Evil) or a recipient to the email."""
    run, smtp, _teams = pipeline
    run(event("declared", ticket="SEC-2", title=TITLE))
    assert smtp.messages
    for received in smtp.messages:
        mail = parse_mail(received.data)
        assert mail["Bcc"] is None and mail["X-Evil"] is None
        assert "\n" not in str(mail["Subject"]) and "\r" not in str(mail["Subject"])
        assert not any("attacker" in r for r in received.rcpt_tos)
        header_block = received.data.split(b"\r\n\r\n", 1)[0]
        assert b"\r\nBcc:" not in header_block and b"\nX-Evil:" not in header_block


def test_an_operators_templates_render_in_a_sandbox(tmp_path) -> None:
    """With an operator's templates folder the renderer is a Jinja2 sandbox: a template reaching for Python
    internals is stopped, in the operator's folder as in the shipped ones it falls back to."""
    (tmp_path / "fr").mkdir()
    (tmp_path / "fr" / "announcement.subject.j2").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    renderer = Renderer(tmp_path, "Europe/Paris")
    assert isinstance(renderer.env, SandboxedEnvironment)
    with pytest.raises(SecurityError):
        renderer.env.get_template("fr/announcement.subject.j2").render()
    for operator in (tmp_path, tmp_path / "status"):  # every environment factory: a folder outside Herald's is sandboxed
        assert isinstance(environment(operator, SHIPPED_TEMPLATES), SandboxedEnvironment)


def test_herald_own_templates_alone_render_without_the_sandbox() -> None:
    """Herald's own templates (no operator folder) are code of the package: rendered without the sandbox's checks."""
    assert not isinstance(Renderer(SHIPPED_TEMPLATES, "Europe/Paris").env, SandboxedEnvironment)
    assert not isinstance(environment(SHIPPED_TEMPLATES / "status", SHIPPED_TEMPLATES), SandboxedEnvironment)


BAD_TICKETS = ["../x", "../../hotfix:state:A", "*", "a:b", "hotfix:open", "x" * 65, "ünïcødé", "a b", "", "a\nb",
               "a/b", "%2e%2e"]


@pytest.mark.parametrize("ticket", BAD_TICKETS)
def test_ticket_cannot_reach_outside_the_prefix(redis: Redis, make_daemon, ticket: str) -> None:
    """A ticket id with path, glob, key-separator, unicode or excessive length is refused and makes no key."""
    with pytest.raises(InvalidEvent, match="ticket"):
        parse_event(event("declared", ticket=ticket))
    with pytest.raises(ValueError):
        keys.hotfix(ticket)
    daemon = make_daemon()
    xadd(redis, event("declared", ticket=ticket))
    drain(daemon)
    assert redis.xlen(keys.DEAD_LETTERS) == 1
    assert all(k.startswith((b"hotfix:", b"rq:")) for k in redis.keys("*"))
    assert not [k for k in redis.keys("hotfix:state:*")]


def test_show_refuses_a_hostile_ticket(redis: Redis, redis_url: str, tmp_path) -> None:
    """`hotfix show ../x` exits non-zero without touching any key."""
    config = tmp_path / "config.toml"
    config.write_text(to_toml({"redis": {"url": redis_url}, "outbox": {"dir": str(tmp_path / "outbox")}}))
    before = sorted(redis.keys("*"))
    for ticket in ("../x", "*", "a:b"):
        shown = run_hotfix("show", ticket, "--config", str(config), "--format", "json")
        assert shown.returncode != 0 and shown.stdout.strip() in ("", "null")
    assert sorted(redis.keys("*")) == before


def test_intake_refuses_hostile_ticket_with_422(redis: Redis, make_settings) -> None:
    """POST /events with a hostile ticket id is a 422 and nothing enters the stream."""
    client = TestClient(create_app_with_token(make_settings, redis))
    for ticket in BAD_TICKETS:
        answer = client.post("/events", json=event("declared", ticket=ticket), headers={"Authorization": "Bearer t0k"})
        assert answer.status_code == 422, (ticket, answer.status_code)
    assert redis.xlen(keys.EVENTS_STREAM) == 0


def create_app_with_token(make_settings: Any, redis: Redis) -> Any:
    from daemon.intake.app import create_app

    return create_app(make_settings(http={"token": "t0k"}), redis)
