"""The demo's pure parts: the story clock, folding receipts into distinct messages, the page's Markdown, story texts."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from herald.cli import app
from herald.demo.capture import Rendering, distinct
from herald.demo.clock import MAX_PAUSE, SETTLE, StoryClock
from herald.demo.page import markdown, offset
from herald.demo.story import Minutes, Text, resolve
from hotfix.enums import Locale

START = datetime.now(UTC).replace(microsecond=0)


def test_a_watched_clock_pauses_in_proportion_and_never_goes_back() -> None:
    """Jumps take real time in proportion to the minutes skipped (capped) only when watched; time never goes back."""
    pauses: list[float] = []
    clock = StoryClock(START, pace=True, sleep=pauses.append)
    clock.jump(clock.at(10))
    clock.jump(clock.at(3 * 24 * 60))
    clock.jump(clock.at(5))
    assert pauses[0] == pytest.approx(10.5 * 0.1) and pauses[1] == MAX_PAUSE and len(pauses) == 2
    assert clock() == clock.at(3 * 24 * 60) + SETTLE
    unwatched = StoryClock(START, sleep=pauses.append)
    unwatched.jump(unwatched.at(60))
    assert len(pauses) == 2 and unwatched() == START + timedelta(minutes=60) + SETTLE


def _row(job: str, audience: str, channel: str, recipient: str, message: str = "update") -> dict[str, Any]:
    return {"job": job, "audience": audience, "channel": channel, "recipient": recipient, "message": message,
            "status": "sent", "via": "outbox"}


def test_recipients_of_the_same_rendering_share_one_message() -> None:
    """Identical renderings fold into one message listing every recipient; another locale is a second variant."""
    fr = Rendering("update", "email", "fr", "UPDATE", "<p>fr</p>")
    en = Rendering("update", "email", "en", "UPDATE", "<p>en</p>")
    card = Rendering("update", "teams", "fr", "UPDATE", "<p>card</p>")
    rows = [_row("j1", "oncall", "email", "a@x"), _row("j1", "oncall", "email", "b@x"),
            _row("j2", "management", "email", "m@x"), _row("j3", "stakeholders", "email", "cto@x"),
            _row("j4", "oncall", "teams", "engineering")]
    families = distinct(rows, {"j1": fr, "j2": fr, "j3": en, "j4": card}, "fr")
    assert [(f.message, f.channel) for f in families] == [("update", "teams"), ("update", "email")]
    email = families[1]
    assert [v.locale for v in email.variants] == ["fr", "en"]
    assert [r.recipient for r in email.variants[0].recipients] == ["a@x", "b@x", "m@x"]
    assert email.variants[0].audiences == ["oncall", "management"]


def test_a_receipt_without_rendering_is_still_listed() -> None:
    """A delivery whose job rendered nothing (a failed render) still shows, with its recipient."""
    families = distinct([_row("j9", "oncall", "email", "a@x")], {}, "fr")
    assert families[0].variants[0].rendering is None and families[0].variants[0].recipients[0].recipient == "a@x"


def test_markdown_escapes_raw_html_and_draws_checkboxes() -> None:
    """Producer text in the document never becomes markup; checklist items become boxes."""
    html = markdown("# T <script>alert(1)</script>\n\n- [x] done\n- [ ] todo\n\n[x](javascript:alert(1))\n")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "☑" in html and "☐" in html
    assert "href" not in html


@pytest.mark.parametrize(("minutes", "locale", "shown"), [
    (0, Locale.FR, "+0 min"), (44.4, Locale.EN, "+44 min"), (125, Locale.FR, "+2 h 05"),
    (2 * 24 * 60 + 60, Locale.FR, "+2 j 1 h"), (2 * 24 * 60 + 60, Locale.EN, "+2 d 1 h"),
])
def test_offsets_read_as_time_since_the_declaration(minutes: float, locale: Locale, shown: str) -> None:
    """Story times read as a short offset from the declaration."""
    assert offset(minutes, locale) == shown


def test_story_fields_resolve_to_what_a_producer_sends() -> None:
    """Texts take the story's locale and ticket, story minutes become ISO times."""
    raw = {"title": Text("Panne {ticket}", "Outage {ticket}"), "eta": Minutes(50), "fix": {"pr": "#1 {ticket}"}}
    assert resolve(raw, Locale.EN, START, "T-1") == {
        "title": "Outage T-1", "eta": (START + timedelta(minutes=50)).isoformat(), "fix": {"pr": "#1 T-1"}}


@pytest.mark.parametrize(("args", "named"), [(["--ticket", "../etc"], "--ticket"), (["--story", "nope"], "unknown story")])
def test_bad_options_are_refused_before_anything_runs(tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                                      args: list[str], named: str) -> None:
    """A bad --ticket or --story exits 2 naming it, and writes nothing."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HOTFIX_CONFIG", raising=False)
    result = CliRunner().invoke(app, ["demo", *args])
    assert result.exit_code == 2 and named in result.output
    assert not (tmp_path / "outbox").exists()
