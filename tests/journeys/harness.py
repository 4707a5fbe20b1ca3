"""One Herald stack for a journey, driven only through the public interface, and every view of a hotfix.

A ``Stack`` is the real ``hotfix daemon``, ``hotfix worker`` and ``hotfix serve`` processes on the
tests' Redis, a real SMTP server (aiosmtpd) and the local Teams server. A story drives it the way
people and tools do: ``hotfix push`` (the CLI's own Typer app, in process: same code, same argv),
``XADD`` on the stream, HTTP to the intake. After each step ``settle()`` waits until the daemon and
the worker have nothing left to do, and ``views(ticket)`` opens every view a person would —
``hotfix show T`` in md (fr and en) and json, ``hotfix list`` (table and json), the status pages
``GET /`` and ``GET /hotfix/T`` — and checks what holds at every step of every story:

- nothing crashed: every command exits 0, every page answers 200, the processes are alive;
- the views agree: status, severity, phase and title are the same everywhere; an open hotfix is
  listed (CLI and page), a closed one is not;
- the document states only what was reported: a check is ticked iff the JSON says it is true; a
  communication line is ticked iff a delivery was sent to an audience of that kind; an unassigned
  role is flagged;
- who was told is true: every ``sent`` email receipt's address received an email, every ``sent``
  Teams receipt is a request the Teams server received; every receipt shows on the status page.

The story then asserts what is particular to it on the returned ``Views``.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from redis import Redis
from typer.testing import CliRunner

from herald.cli import app
from hotfix import keys
from hotfix.enums import AudienceKind
from hotfix.events import ROLES
from hotfix.settings import Settings
from tests.fixtures.herald import quiet
from tests.fixtures.processes import HotfixProcess, wait_until
from tests.fixtures.smtp_server import SmtpTestServer
from tests.fixtures.teams_server import FakeTeams

#: The document's communication line of each audience kind, per locale.
KIND_LINES = {
    "fr": {AudienceKind.TEAM: "Équipe informée", AudienceKind.STAKEHOLDERS: "Stakeholders prévenus",
           AudienceKind.USERS: "Utilisateurs notifiés"},
    "en": {AudienceKind.TEAM: "Team informed", AudienceKind.STAKEHOLDERS: "Stakeholders notified",
           AudienceKind.USERS: "Users notified"},
}
#: The document's verification line of each check, per locale.
CHECK_LINES = {
    "fr": {"review": "Review faite", "staging": "Fix déployé en staging", "smoke_test": "Smoke tests OK",
           "production": "Fix déployé en prod", "confirmed": "Problème confirmé résolu", "monitoring": "Monitoring normal"},
    "en": {"review": "Review done", "staging": "Fix deployed to staging", "smoke_test": "Smoke tests OK",
           "production": "Fix deployed to production", "confirmed": "Problem confirmed resolved",
           "monitoring": "Monitoring normal"},
}
STATUS_HEADINGS = {
    "fr": {"open": "## Statut: 🔴 En cours", "resolved": "## Statut: 🟢 Résolu", "rolled_back": "## Statut: ↩️ Rollback",
           "cancelled": "## Statut: ⚪ Annulé"},
    "en": {"open": "## Status: 🔴 In progress", "resolved": "## Status: 🟢 Resolved",
           "rolled_back": "## Status: ↩️ Rolled back", "cancelled": "## Status: ⚪ Cancelled"},
}
UNASSIGNED = {"fr": "⚠️ à assigner", "en": "⚠️ to assign"}
_runner = CliRunner()


@dataclass
class Views:
    """Every view of one hotfix at one moment, already checked for what always holds."""

    ticket: str
    md: dict[str, str]
    data: dict[str, Any]
    listed: list[dict[str, Any]]
    table: str
    index_page: str
    hotfix_page: str

    @property
    def status(self) -> str:
        return str(self.data["status"])

    def deliveries(self, message: str | None = None, status: str | None = "sent") -> list[dict[str, Any]]:
        """Receipts of ``message`` (all messages when None) with ``status`` (any when None)."""
        return [d for d in self.data["deliveries"]
                if (message is None or d["message"] == message) and (status is None or d["status"] == status)]

    def told(self, message: str, status: str | None = "sent") -> set[tuple[str, str, str]]:
        """(audience, channel, recipient) of every delivery of ``message`` with ``status``."""
        return {(d["audience"], d["channel"], d["recipient"]) for d in self.deliveries(message, status)}

    def audiences(self, message: str, status: str | None = "sent") -> set[str]:
        """The audiences ``message`` reached."""
        return {a for a, _, _ in self.told(message, status)}

    def timeline(self) -> list[str]:
        """The timeline's entry types, in order."""
        return [e["type"] for e in self.data["timeline"]]

    def line(self, locale: str, start: str) -> str:
        """The first line of the document in ``locale`` that starts with ``start`` (fails when there is none)."""
        for row in self.md[locale].splitlines():
            if row.startswith(start):
                return row
        raise AssertionError(f"no line starting with {start!r} in the {locale} document:\n{self.md[locale]}")


@dataclass
class Stack:
    """A running Herald and what it talks to.

    ``client`` speaks HTTP to ``hotfix serve`` (or, in process, to the intake's app through a TestClient);
    ``drive``, when given, runs the daemon and the worker one turn in process (the processes otherwise).
    """

    config: Path
    settings: Settings
    redis: Redis
    smtp: SmtpTestServer
    teams: FakeTeams
    client: httpx.Client
    token: str
    viewer: str
    processes: dict[str, HotfixProcess] = field(default_factory=dict)
    drive: Callable[[], None] | None = None

    @property
    def base(self) -> str:
        """The intake's base URL (``http://127.0.0.1:PORT``; ``http://testserver`` in process)."""
        return str(self.client.base_url).rstrip("/")

    # -- driving it -------------------------------------------------------------------------------
    def cli(self, *args: str, input_text: str | None = None, code: int = 0) -> str:
        """Run ``hotfix ARGS --config …`` (the Typer app in process) and return its output."""
        result = _runner.invoke(app, [*args, "--config", str(self.config)], input=input_text)
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        assert result.exit_code == code, f"hotfix {' '.join(args)} exited {result.exit_code}:\n{result.output}"
        return result.output

    def push(self, type_: str, ticket: str, **flags: Any) -> str:
        """``hotfix push TYPE --ticket T --flag value…`` (lists repeat the flag, True is a bare flag); the event id."""
        args = ["push", type_, "--ticket", ticket, "--format", "json"]
        for name, value in flags.items():
            option = f"--{name.replace('_', '-')}"
            for item in value if isinstance(value, (list, tuple)) else [value]:
                args += [option] if item is True else [option, str(item)]
        pushed = json.loads(self.cli(*args))["pushed"]
        assert len(pushed) == 1, pushed
        return str(pushed[0])

    def push_json(self, *events: dict[str, Any]) -> list[str]:
        """``hotfix push --file -`` with JSON lines on stdin; returns the event ids."""
        text = "\n".join(json.dumps(e) for e in events) + "\n"
        return [str(i) for i in json.loads(self.cli("push", "--file", "-", "--format", "json", input_text=text))["pushed"]]

    def xadd(self, event: dict[str, Any] | str) -> str:
        """``XADD hotfix:events * event '<json>'``, as a producer may; returns the entry id."""
        raw = event if isinstance(event, str) else json.dumps(event)
        entry = self.redis.xadd(keys.EVENTS_STREAM, {keys.EVENT_FIELD: raw})
        return entry.decode() if isinstance(entry, bytes) else str(entry)

    def post(self, path: str, body: Any, expect: int = 202) -> dict[str, Any]:
        """POST JSON to the intake with the intake token; returns the JSON answer."""
        response = self.client.post(path, json=body, headers={"Authorization": f"Bearer {self.token}"})
        assert response.status_code == expect, f"POST {path}: {response.status_code} {response.text}"
        answer: dict[str, Any] = response.json()
        return answer

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until every event is applied and every delivery job has ended (quiet twice in a row)."""
        def calm() -> bool:
            self.alive()
            if self.drive is not None:
                self.drive()
            if not quiet(self.redis):
                return False
            time.sleep(0.15)
            return quiet(self.redis)
        wait_until(calm, timeout=timeout, interval=0.1, message="the daemon and the worker to have nothing left to do")

    def holds(self, condition: Callable[[], bool], seconds: float, message: str) -> None:
        """``condition`` stays true for a bounded window (an absence cannot be awaited: it is watched)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.drive is not None:
                self.drive()
            assert condition(), message
            time.sleep(0.2)

    def alive(self) -> None:
        """Every process still runs."""
        for name, proc in self.processes.items():
            assert proc.alive(), f"hotfix {name} died:\n{proc.output()[-3000:]}"

    def get(self, path: str, expect: int = 200, token: str | None = None) -> str:
        """GET a status page with the viewer token (or ``token``)."""
        response = self.client.get(path, headers={"Authorization": f"Bearer {token or self.viewer}"})
        assert response.status_code == expect, f"GET {path}: {response.status_code} {response.text[:500]}"
        return response.text

    # -- what reached people ------------------------------------------------------------------------
    def emails(self, address: str | None = None) -> list[EmailMessage]:
        """Emails the SMTP server accepted (for ``address``), parsed."""
        return [message_from_bytes(m.data, policy=policy.default) for m in self.smtp.messages  # type: ignore[misc]
                if address is None or address in m.rcpt_tos]

    def subjects(self, address: str) -> list[str]:
        return [str(m["Subject"]) for m in self.emails(address)]

    def cards(self, path: str = "/engineering") -> list[dict[str, Any]]:
        """Adaptive Cards the Teams server received on ``path``."""
        return [r.json["attachments"][0]["content"] for r in self.teams.requests(path) if isinstance(r.json, dict)]

    # -- every view -----------------------------------------------------------------------------------
    def views(self, ticket: str) -> Views:
        """Open every view of ``ticket`` and check what holds at every step (see the module docstring)."""
        self.alive()
        md = {loc: self.cli("show", ticket, "--locale", loc) for loc in ("fr", "en")}
        data = json.loads(self.cli("show", ticket, "--format", "json"))
        listed = json.loads(self.cli("list", "--format", "json"))
        table = self.cli("list")
        index_page = self.get("/")
        hotfix_page = self.get(f"/hotfix/{ticket}")
        views = Views(ticket, md, data, listed, table, index_page, hotfix_page)
        _check_json(views)
        _check_lists(views)
        _check_pages(views)
        for locale in ("fr", "en"):
            _check_document(views, locale, self.settings)
        self._check_reached(views)
        return views

    def _check_reached(self, views: Views) -> None:
        received = {rcpt for m in self.smtp.messages for rcpt in m.rcpt_tos}
        for d in views.deliveries():
            if d["channel"] == "email" and d.get("via") == "smtp":
                assert d["recipient"] in received, f"receipt says {d['recipient']} was sent {d['message']}, no email came"
        sent_cards: dict[str, int] = {}
        for d in views.deliveries():
            if d["channel"] == "teams" and d.get("via") == "teams":
                sent_cards[d["recipient"]] = sent_cards.get(d["recipient"], 0) + 1
        for name, count in sent_cards.items():
            url = self.settings.teams[name].url
            assert url is not None
            path = httpx.URL(url.get_secret_value()).path
            assert len(self.teams.requests(path)) >= count, f"{count} cards said sent to {name}, fewer received"


def _check_json(views: Views) -> None:
    data = views.data
    for key in ("ticket", "severity", "status", "phase", "title", "deadline", "timeline", "deliveries"):
        assert key in data, f"show --format json has no {key!r}"
    assert data["ticket"] == views.ticket
    times = [e["at"] for e in data["timeline"]]
    assert all(e.get("type") and e.get("id") for e in data["timeline"])
    assert times == sorted(times, key=lambda t: _epoch(t)), "the timeline is not in time order"
    for d in data["deliveries"]:
        assert {"message", "audience", "channel", "recipient", "status", "at"} <= set(d)
        assert d["status"] in ("sent", "retrying", "failed")
        assert d["status"] == "sent" or d.get("reason"), f"a {d['status']} delivery has no reason: {d}"


def _check_lists(views: Views) -> None:
    data = views.data
    rows = [r for r in views.listed if r["ticket"] == views.ticket]
    if data["status"] == "open":
        assert len(rows) == 1, f"{views.ticket} is open but `hotfix list` does not show it once"
        row = rows[0]
        for key in ("severity", "status", "phase", "title"):
            assert row[key] == data[key], f"list and show disagree on {key}: {row[key]!r} vs {data[key]!r}"
        assert views.ticket in views.table
    else:
        assert not rows, f"{views.ticket} is {data['status']} but `hotfix list` still shows it"
        assert views.ticket not in views.table


def _check_pages(views: Views) -> None:
    data = views.data
    listed = f'data-ticket="{views.ticket}"' in views.index_page
    assert listed is (data["status"] == "open"), f"GET / lists {views.ticket}: {listed}, status {data['status']}"
    page = views.hotfix_page
    assert f'<dd id="status" data-status="{data["status"]}">' in page
    assert data["severity"] in page and _html_text(data["title"][:60]) in page
    for d in data["deliveries"][:200]:
        assert _html_text(d["recipient"]) in page, f"the status page does not show the receipt for {d['recipient']}"


def _check_document(views: Views, locale: str, settings: Settings) -> None:
    text = views.md[locale]
    data = views.data
    assert text.startswith(f"# 🚨 Hotfix: {views.ticket} - ")
    assert STATUS_HEADINGS[locale][data["status"]] in text
    assert f"| {data['severity']} |" in text
    for check, label in CHECK_LINES[locale].items():
        ticked = f"- [x] {label}" in text
        assert ticked is (data["checks"].get(check) is True), f"{locale}: '{label}' ticked={ticked}, checks={data['checks']}"
    for kind, label in KIND_LINES[locale].items():
        sent = any(d["status"] == "sent" and settings.audience_kind(d["audience"]) is kind for d in data["deliveries"])
        ticked = f"- [x] {label}" in text
        assert ticked is sent, f"{locale}: '{label}' ticked={ticked} but a delivery to such an audience sent={sent}"
    team = data["team"] or {}
    for role in ROLES:
        row = next(r for r in text.splitlines() if r.startswith("| ") and _role_cell(r, locale) == role)
        assert (UNASSIGNED[locale] in row) is (not team.get(role)), f"{locale}: {role} row {row!r} vs team {team}"
    for d in data["deliveries"][:200]:
        assert d["recipient"] in text


_ROLE_LABELS = {"fr": {"Coordinateur": "coordinator", "Diagnostic": "diagnostician", "Développeur": "developer",
                       "Reviewer": "reviewer", "DevOps": "devops"},
                "en": {"Coordinator": "coordinator", "Diagnostician": "diagnostician", "Developer": "developer",
                       "Reviewer": "reviewer", "DevOps": "devops"}}


def _role_cell(row: str, locale: str) -> str | None:
    cells = [c.strip() for c in row.strip("|").split("|")]
    return _ROLE_LABELS[locale].get(cells[0]) if cells else None


def _html_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;").replace("'", "&#39;")


def _epoch(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def card_text(card: dict[str, Any]) -> str:
    """Every text a card shows, Markdown escapes removed."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("text", "title", "value") and isinstance(value, str):
                    out.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
    walk(card.get("body", []))
    return re.sub(r"\\(.)", r"\1", "\n".join(out))


def mail_text(mail: EmailMessage) -> str:
    """The plain-text part of an email."""
    body = mail.get_body(("plain",))
    return body.get_content() if body is not None else ""  # type: ignore[no-any-return]

