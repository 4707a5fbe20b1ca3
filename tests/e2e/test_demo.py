"""End to end: ``hotfix demo`` in an empty folder with nothing configured, every story, its page in headless Chromium.

The outbox files are the ground truth of what was delivered: the page must show each of them
exactly once, as its recipient got it, in the step that sent it.
"""
from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from rich.cells import cell_len

from herald.demo.stories import DEFAULT_STORY, STORIES
from hotfix import keys
from tests.fixtures.browser import chromium  # noqa: F401
from tests.fixtures.herald import BASE_CONFIG, merge
from tests.fixtures.processes import to_toml
from tests.fixtures.redis import redis, redis_url  # noqa: F401
from workers.cards import card_to_html

pytestmark = pytest.mark.e2e

#: What a step block of the page holds, read in the browser.
READ_PAGE = """() => [...document.querySelectorAll('section.step')].map(s => ({
  key: s.dataset.step, deliveries: Number(s.dataset.deliveries),
  document: (s.querySelector('.document h1') || {}).textContent || '',
  webhooks: Number((s.querySelector('.webhooks') || {dataset: {webhooks: 0}}).dataset.webhooks),
  families: [...s.querySelectorAll('article.family')].map(f => ({
    message: f.dataset.message, channel: f.dataset.channel,
    tabs: [...f.querySelectorAll('.tabs button')].map(b => b.textContent),
    variants: [...f.querySelectorAll('.variant')].map(v => ({
      locale: v.dataset.locale, html: (v.querySelector('iframe.msg') || {getAttribute: () => null}).getAttribute('srcdoc'),
      recipients: [...v.querySelectorAll('li.recipient')].map(li => ({
        recipient: li.dataset.recipient, audience: li.dataset.audience, status: li.dataset.status}))}))}))}))"""


#: The messages drawn cut off: a visible frame whose message is wider or taller than the frame.
CUT_MESSAGES = """() => [...document.querySelectorAll('iframe.msg')].filter(f => f.offsetParent !== null).filter(f => {
  const root = f.contentDocument.documentElement;
  return root.scrollWidth > root.clientWidth + 1 || root.scrollHeight > root.clientHeight + 1;
}).map(f => f.closest('section').dataset.step + ': ' + f.title)"""


@dataclass
class Demo:
    """One story played by the real command."""

    story: str
    ticket: str
    folder: Path
    stdout: str

    @property
    def page(self) -> Path:
        return self.folder / "outbox" / self.ticket / "index.html"


def _clean_env() -> dict[str, str]:
    """The environment of a fresh machine: no HOTFIX_* variable, terminal 80 columns wide."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTFIX_")}
    return {**env, "COLUMNS": "80", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Demo]]:
    """Every story played by ``hotfix demo`` in its own empty folder, all at once (the default with no --story)."""
    running = {}
    for name in STORIES:
        folder = tmp_path_factory.mktemp(f"demo-{name}")
        ticket = f"DEMO-{name.upper()}"
        story = [] if name == DEFAULT_STORY else ["--story", name]
        proc = subprocess.Popen([sys.executable, "-m", "herald.cli", "demo", *story, "--ticket", ticket], cwd=folder,
                                env=_clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        running[name] = (proc, folder, ticket)
    played = {}
    for name, (proc, folder, ticket) in running.items():
        out, errors = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{name}: {errors}"
        played[name] = Demo(name, ticket, folder, out)
    yield played


def delivered(demo: Demo) -> Counter[tuple[str, str, str]]:
    """(channel, recipient, what they see) of every message file the outbox holds."""
    seen: Counter[tuple[str, str, str]] = Counter()
    for path in (demo.folder / "outbox" / demo.ticket).iterdir():
        if path.suffix == ".eml":
            mail = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
            body = mail.get_body(("html",))
            assert body is not None, path.name
            seen[("email", str(mail["X-Outbox-Recipient"]), body.get_content().replace("\r\n", "\n").strip())] += 1
        elif path.suffix == ".json":
            envelope = json.loads(path.read_text(encoding="utf-8"))
            channel = path.stem.rsplit("-", 1)[-1]
            seen[("teams", channel, card_to_html(envelope["attachments"][0]["content"]).strip())] += 1
    return seen


def read_page(chromium: Any, demo: Demo, errors: list[str] | None = None, **options: Any) -> tuple[Any, list[dict[str, Any]]]:
    """Open the page from the file system; its steps as data. Console errors and page errors go to ``errors``."""
    page = chromium.new_page(**options)
    if errors is not None:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(demo.page.as_uri())
    page.wait_for_load_state("load")
    return page, page.evaluate(READ_PAGE)


def families(steps: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    """The messages of one step, by message name and channel (``escalation/email``)."""
    step = next(s for s in steps if s["key"] == key)
    return {f"{f['message']}/{f['channel']}": f for f in step["families"]}


def recipients(family: dict[str, Any]) -> set[str]:
    return {r["recipient"] for v in family["variants"] for r in v["recipients"]}


@pytest.mark.parametrize("name", list(STORIES))
def test_the_page_tells_each_step_once(chromium: Any, demos: dict[str, Demo], name: str) -> None:
    """One block per step, each with the document then; every delivered message shown once, as received, with its recipients."""
    demo, errors = demos[name], []
    page, steps = read_page(chromium, demo, errors)
    assert [s["key"] for s in steps] == [s.key for s in STORIES[name].steps]
    assert all(demo.ticket in s["document"] for s in steps), "every block holds the coordination document"
    shown: Counter[tuple[str, str, str]] = Counter()
    for step in steps:
        renderings = [(f["channel"], v["html"]) for f in step["families"] for v in f["variants"]]
        assert len(renderings) == len(set(renderings)), f"{step['key']}: a message is shown twice"
        assert all(len(set(f["tabs"])) == len(f["tabs"]) for f in step["families"]), f"{step['key']}: tabs alike"
        listed = [(f["channel"], r["recipient"], (v["html"] or "").strip())
                  for f in step["families"] for v in f["variants"] for r in v["recipients"]]
        assert len(listed) == step["deliveries"]
        shown.update(listed)
    assert shown == delivered(demo), "the page shows exactly what each recipient received"
    assert sum(shown.values()) > sum(len(f["variants"]) for s in steps for f in s["families"]), "same messages folded"
    assert page.locator("#receipts tbody tr").count() == sum(shown.values())
    assert page.evaluate(CUT_MESSAGES) == [], "every message is drawn whole (scaled down when wider than its frame)"
    if name != "shortcut":  # the other stories keep the golden rules
        assert not [s["key"] for s in steps if any(f["message"] == "guardrail" for f in s["families"])]
    assert demo.ticket in page.inner_text("#final-document")
    assert (demo.page.parent / "document.md").read_text(encoding="utf-8").startswith("#")
    planned = name != "silence"  # every other story resolves: its post-mortem is planned, its draft on the page
    assert (page.locator("#postmortem").count() == 1) is planned and (demo.page.parent / "postmortem.md").exists() is planned
    if planned:
        assert demo.ticket in page.inner_text("#postmortem")
    assert errors == []
    page.close()


@pytest.mark.parametrize("name", list(STORIES))
def test_the_terminal_fits_80_columns(demos: dict[str, Demo], name: str) -> None:
    """The terminal tells every step in lines of at most 80 columns and names the page on one line."""
    demo = demos[name]
    lines = demo.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, demo.stdout
    assert any(line.endswith(f"outbox/{demo.ticket}/index.html") for line in lines), demo.stdout
    for step in STORIES[name].steps:
        assert any(step.title("fr")[:20] in line for line in lines), step.key


def test_the_live_view_fits_80_columns(tmp_path: Path) -> None:
    """In a terminal 80 columns wide, the live view redraws rows that never wrap, and ends with every step and the page."""
    master, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "herald.cli", "demo", "--story", "storm", "--ticket", "DEMO-TTY"],
                            cwd=tmp_path, env={**_clean_env(), "TERM": "xterm-256color"},
                            stdin=terminal, stdout=terminal, stderr=terminal)
    os.close(terminal)
    raw, deadline = bytearray(), time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the terminal closed: the demo is over
                    break
                if not chunk:
                    break
                raw += chunk
            elif proc.poll() is not None:
                break
        assert proc.wait(timeout=30) == 0, raw.decode(errors="replace")[-2000:]
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = raw.decode()
    assert "\x1b[1A" in text, "the view was redrawn in place (a live view), not printed once"
    rows = re.split(r"\r\n|\n|\r", re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text))
    assert max(cell_len(row) for row in rows) <= 80, "\n".join(row for row in rows if cell_len(row) > 80)
    for step in STORIES["storm"].steps:
        assert step.title("fr") in text, step.key
    assert any(row.rstrip().endswith("outbox/DEMO-TTY/index.html") for row in rows)


def test_silence_reminds_then_escalates(chromium: Any, demos: dict[str, Demo]) -> None:
    """Without updates: a reminder to on-call and the coordinator in person, then escalations to management."""
    page, steps = read_page(chromium, demos["silence"])
    reminder = families(steps, "reminder")
    assert {"reminder/email", "reminder/teams"} <= set(reminder)
    assert "alice@example.com" in recipients(reminder["reminder/email"])
    for key in ("unanswered", "at-risk", "breached"):
        assert set(families(steps, key)) == {"escalation/email"}, key
        assert recipients(families(steps, key)["escalation/email"]) == {"management@example.com"}
    page.close()


def test_shortcut_sends_the_guardrail(chromium: Any, demos: dict[str, Demo]) -> None:
    """Production without a review: a guardrail to everyone who heard the announcement, at that step only."""
    page, steps = read_page(chromium, demos["shortcut"])
    with_guardrail = [s["key"] for s in steps if any(f["message"] == "guardrail" for f in s["families"])]
    assert with_guardrail == ["production"]
    announced = set().union(*(recipients(f) for k, f in families(steps, "declared").items() if k.startswith("announcement")))
    warned = set().union(*(recipients(f) for k, f in families(steps, "production").items() if k.startswith("guardrail")))
    assert warned == announced
    page.close()


def test_rollback_then_a_new_approach(chromium: Any, demos: dict[str, Demo]) -> None:
    """A fix that breaks something: the rollback notice (with the next approach) to everyone told, then the hotfix goes on."""
    page, steps = read_page(chromium, demos["rollback"])
    story = STORIES["rollback"]
    next_approach = story.steps[[s.key for s in story.steps].index("rollback")].events[0]["next_approach"]
    notices = [s["key"] for s in steps if any(f["message"] == "rollback" for f in s["families"])]
    assert notices == ["rollback"]
    rollback = families(steps, "rollback")
    announced = set().union(*(recipients(f) for k, f in families(steps, "declared").items() if k.startswith("announcement")))
    assert set().union(*(recipients(f) for f in rollback.values())) == announced
    assert all(next_approach("fr") in (v["html"] or "") for f in rollback.values() for v in f["variants"] if v["locale"] == "fr")
    assert set(families(steps, "new-approach")) >= {"update/teams", "update/email"}
    assert "resolution/email" in families(steps, "resolved")
    page.close()


def test_storm_is_one_hotfix(chromium: Any, demos: dict[str, Demo]) -> None:
    """Dozens of Alertmanager webhooks make one hotfix, announced once; re-sends send nothing."""
    page, steps = read_page(chromium, demos["storm"])
    assert page.locator("#hotfixes").get_attribute("data-count") == "1"
    assert sum(s["webhooks"] for s in steps) >= 30
    announcing = [s["key"] for s in steps if any(f["message"] == "announcement" for f in s["families"])]
    assert announcing == ["alerts"]
    assert next(s for s in steps if s["key"] == "re-sends")["deliveries"] == 0
    page.close()


def test_p0_walks_the_playbook(chromium: Any, demos: dict[str, Demo], tmp_path: Path) -> None:
    """The default story goes from announcement to the post-mortem's report; the language toggle shows the English renderings."""
    page, steps = read_page(chromium, demos["p0"], viewport={"width": 1360, "height": 900})
    sent = [{f["message"] for f in s["families"]} for s in steps]
    assert "announcement" in sent[0] and "resolution" in sent[-3] and "postmortem" in sent[-2] and "postmortem" in sent[-1]
    assert all("update" in m for m in sent[1:-3])
    action = STORIES["p0"].steps[-1].events[0]["actions"][0]["ticket"]  # a corrective action of the post-mortem
    report = families(steps, "postmortem")
    assert report and all(action in (v["html"] or "") for f in report.values() for v in f["variants"])
    assert action in page.inner_text("#postmortem") and action in page.inner_text("#final-document")
    assert not set().union(*sent) & {"reminder", "escalation", "guardrail", "rollback"}, "a clean P0 needs no nagging"
    email = families(steps, "declared")["announcement/email"]
    assert {v["locale"] for v in email["variants"]} == {"fr", "en"}
    shot = tmp_path / "demo-page.png"
    page.screenshot(path=str(shot))
    if os.environ.get("HOTFIX_SCREENSHOT_DIR"):  # how docs/demo-page.png is made
        page.screenshot(path=str(Path(os.environ["HOTFIX_SCREENSHOT_DIR"]) / "demo-page.png"))
    assert shot.stat().st_size > 10_000
    family = page.locator('#step-1 article.family[data-message="announcement"][data-channel="email"]')
    assert family.locator('.variant[data-locale="en"]').is_hidden()
    page.click('.toggle button[data-lang="en"]')
    assert family.locator('.variant[data-locale="en"]').is_visible()
    assert family.locator('.variant[data-locale="fr"]').is_hidden()
    assert page.evaluate(CUT_MESSAGES) == [], "a rendering shown by the toggle is fitted too"
    page.close()
    narrow, _ = read_page(chromium, demos["p0"], viewport={"width": 400, "height": 800})
    assert narrow.evaluate("document.documentElement.scrollWidth") <= 400, "a phone does not scroll sideways"
    assert narrow.evaluate(CUT_MESSAGES) == []
    narrow.close()


def test_list_names_every_story() -> None:
    """``hotfix demo --list`` names each story with one line about it."""
    result = subprocess.run([sys.executable, "-m", "herald.cli", "demo", "--list", "--locale", "en", "--format", "json"],
                            capture_output=True, text=True, timeout=60, env=_clean_env())
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [s["name"] for s in listed] == list(STORIES)
    assert all(s["summary"] for s in listed) and [s["name"] for s in listed if s["default"]] == [DEFAULT_STORY]


def test_hotfix_show_finds_the_story_on_a_configured_redis(tmp_path: Path, redis: Redis, redis_url: str) -> None:
    """On a configured Redis the story's hotfix stays for ``hotfix show``, and none of its timers is left to fire."""
    config = tmp_path / "config.toml"
    config.write_text(to_toml(merge(BASE_CONFIG, {"redis": {"url": redis_url}, "outbox": {"dir": str(tmp_path / "outbox")}})))
    env = _clean_env()

    def hotfix(*args: str) -> Any:
        result = subprocess.run([sys.executable, "-m", "herald.cli", *args, "--config", str(config), "--format", "json"],
                                capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    played = hotfix("demo", "--story", "shortcut", "--ticket", "DEMO-CONF")
    assert played["redis"] == "configured" and Path(played["page"]).is_file()
    shown = hotfix("show", "DEMO-CONF")
    assert shown["ticket"] == "DEMO-CONF" and shown["status"] == "resolved"
    assert len(shown["deliveries"]) == played["deliveries"] > 0
    assert not [m for m in redis.zrange(keys.TIMERS, 0, -1) if m.decode().startswith("DEMO-CONF|")]
