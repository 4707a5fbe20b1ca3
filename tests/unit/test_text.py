"""No control character reaches a stored state, an email, a card or the document; dot-only tickets are refused."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest

from daemon.document import document_md
from hotfix import keys
from hotfix.enums import Locale, MessageName, Severity, Status
from hotfix.events import InvalidEvent, parse_event
from hotfix.settings import SHIPPED_TEMPLATES, Settings
from hotfix.state import HotfixState
from hotfix.text import printable, printable_all
from workers.render import Renderer

NOW = datetime.now(timezone.utc).replace(microsecond=0)
#: Every C0 control but tab and line feed, DEL, the C1 controls, and the bidi embeddings, overrides and isolates.
CONTROLS = "".join(chr(c) for c in [*range(0, 9), 11, 12, *range(14, 32), 127, *range(128, 160),
                                    *range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_ANY_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize(("text", "expected"), [
    ("a\x00b", "ab"), ("l1\r\nl2\rl3", "l1\nl2\nl3"), ("tab\there\n", "tab\there\n"), ("é 🚨 ✅", "é 🚨 ✅"),
    ("\x1b[31mred\x1b[0m", "[31mred[0m"), (CONTROLS + "x", "x"),
    ("invoice\u202etxt.exe", "invoicetxt.exe"), ("\u2067שלום\u2069 ok", "שלום ok"),
    ("👩\u200d💻 \u200fא\u200e", "👩\u200d💻 \u200fא\u200e")])
def test_printable_keeps_text_and_line_breaks_only(text: str, expected: str) -> None:
    """NUL, escapes, DEL, C1 controls and bidi overrides go; tabs, line breaks, joiners and direction marks stay."""
    assert printable(text) == expected


def test_printable_all_cleans_keys_and_nested_values() -> None:
    """Every string of plain JSON data, keys included, is cleaned; other values are kept."""
    assert printable_all({"a\x00": ["x\x07", {"k": "v\x00"}], "n": 1}) == {"a": ["x", {"k": "v"}], "n": 1}


def test_an_event_is_stored_without_control_characters() -> None:
    """Repro 10: NUL and control characters in an event's texts never reach the state."""
    event = parse_event({"type": "declared", "ticket": "INC-1", "title": "Down\x00\x1b", "severity": "P0",
                         "impact": "line\r\nnext\x7f", "team": {"coordinator": "Al\x00ice"}}, now=NOW)
    assert (event.title, event.impact, event.team.coordinator if event.team else None) == ("Down", "line\nnext", "Alice")


@pytest.mark.parametrize(("field", "value"), [
    ("ticket", "INC\u202e-1"), ("ticket", "INC-1\x00"), ("ticket", "\u2066INC-1\u2069"), ("ticket", "INC\x1b-1"),
    ("id", "ev\u202e-1"), ("id", "ev-1\x7f"),
])
def test_an_identifier_with_a_control_or_bidi_character_is_refused_not_changed(field: str, value: str) -> None:
    """A ticket or an event id names something: ``INC\\u202e-1`` is refused naming the field, never read as INC-1
    (a text keeps being cleaned, above)."""
    data = {"type": "declared", "ticket": "INC-1", "id": "ev-1", "title": "Down", "severity": "P0", field: value}
    with pytest.raises(InvalidEvent, match=f"^{field}: control or bidi characters"):
        parse_event(data, now=NOW)


@pytest.mark.parametrize("ticket", [".", "..", "...", "." * 64])
def test_dot_only_tickets_are_refused(ticket: str) -> None:
    """Repro 10: ``.``, ``..``, ``...`` name no hotfix (they are path names), at the door and in keys."""
    assert not keys.valid_ticket(ticket)
    with pytest.raises(InvalidEvent, match="^ticket:"):
        parse_event({"type": "declared", "ticket": ticket, "title": "t", "severity": "P0"}, now=NOW)
    with pytest.raises(ValueError):
        keys.hotfix(ticket)


@pytest.mark.parametrize(("ticket", "valid"), [("INC-1", True), (".INC", True), ("a.b", True), ("_", True),
                                               ("x" * 64, True), ("x" * 65, False), ("", False), ("a/b", False)])
def test_ticket_rule(ticket: str, valid: bool) -> None:
    """1-64 letters, digits, ``.``, ``_``, ``-``, not dots only."""
    assert keys.valid_ticket(ticket) is valid


@pytest.fixture(scope="module")
def stored() -> HotfixState:
    """A state stored before the rule: control characters in every kind of text."""
    return HotfixState(ticket="INC-1", declared=True, severity=Severity.P0, status=Status.OPEN, title="Down\x00" + CONTROLS,
                       impact="No\x07 order", message="m\x1b[2J", next_step="n\x00", declared_at=NOW, last_update_at=NOW,
                       root_cause="rc\x0b", reason="r\x85")


@pytest.mark.parametrize("message", list(MessageName))
def test_no_control_character_reaches_an_email_or_a_card(stored: HotfixState, message: MessageName) -> None:
    """Every message of a state stored with control characters renders without any, in subject, text, HTML and card JSON."""
    renderer = Renderer(SHIPPED_TEMPLATES, "Europe/Paris")
    event = {"type": "updated", "ticket": "INC-1", "message": "ev\x00ent", "at": NOW.isoformat()}
    notice = {"reason": "x\x00", "summary": "s\x1b"}
    for locale in Locale:
        mail = renderer.email(message, locale, stored, event=event, notice=notice, now=NOW)
        card = renderer.teams(message, locale, stored, event=event, notice=notice, now=NOW).card
        for text in (mail.subject, mail.text, mail.html, json.dumps(card, ensure_ascii=False)):
            assert not _ANY_CONTROL.search(text.replace("\n", "").replace("\t", ""))
        assert not re.search(r"\\u00(?:[01][0-9a-f]|7f|[89][0-9a-f])", json.dumps(card))  # not even JSON-escaped


def test_the_document_writes_no_control_character(stored: HotfixState) -> None:
    """The coordination document of such a state is clean too (the templates' finalize)."""
    text = document_md(stored, [], Settings(), NOW)
    assert "Down" in text and not _ANY_CONTROL.search(text.replace("\n", "").replace("\t", ""))


def test_the_list_row_of_a_state_stored_before_the_rule_is_clean(stored: HotfixState) -> None:
    """``hotfix list`` (table and JSON) writes a stored title and coordinator without control or bidi characters."""
    from daemon.views import list_row

    raw = stored.model_copy(update={"title": "Down\u202e\x1b[2J", "team": stored.team.model_copy(
        update={"coordinator": "Al\u2066ice\x00"})})
    row = list_row(raw, NOW)
    assert (row["title"], row["coordinator"]) == ("Down[2J", "Alice")
