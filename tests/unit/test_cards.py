"""Card helpers: Markdown escaping, trimming to the Teams size limit, the HTML preview."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotfix.enums import Locale, MessageName
from hotfix.settings import SHIPPED_TEMPLATES
from tests.fixtures.clock import frozen_at
from tests.unit.test_render import load_card_schema
from workers.cards import (
    _MD_BULLET,
    _MD_NUMBERED,
    _MD_SPECIAL,
    MAX_ACTIONS,
    TEAMS_LIMIT_BYTES,
    cap_actions,
    card_to_html,
    envelope_size,
    markdown_to_html,
    md_escape,
    trim_card,
)
from workers.render import Renderer
from workers.samples import sample_digest, sample_hotfix

NOW = datetime(2026, 11, 25, 9, 40, tzinfo=timezone.utc)
#: Every wall clock stands at NOW in each test: the dates written here hold on any day.
frozen_clock = frozen_at(NOW)


def assert_valid(card: dict[str, Any]) -> None:
    """Fail unless ``card`` validates against the Adaptive Card 1.5 schema."""
    schema, _ = load_card_schema()
    jsonschema.validators.validator_for(schema)(schema).validate(card)


def big_card(rows: int = 1000, text_len: int = 150) -> dict[str, Any]:
    """A card of about ``rows * text_len`` bytes: a header, a long paragraph, a long FactSet and a list."""
    return {
        "type": "AdaptiveCard", "version": "1.5", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "body": [
            {"type": "Container", "id": "header", "items": [{"type": "TextBlock", "text": "🔄 UPDATE", "wrap": True}]},
            {"type": "TextBlock", "text": "p" * 20_000, "wrap": True},
            {"type": "FactSet", "facts": [{"title": f"row {i}", "value": "v" * text_len} for i in range(rows // 2)]},
            {"type": "Container", "items": [{"type": "TextBlock", "text": f"item {i} " + "i" * text_len, "wrap": True}
                                            for i in range(rows // 2)]},
        ],
    }


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab 1.\n\t-+#*_`[]<>~\\()é")), max_size=40) | st.text(max_size=40))
def test_md_escape_returns_text_without_markdown_as_is_and_escapes_the_rest_as_before(text: str) -> None:
    """The one-search shortcut changes nothing: the result is the three substitutions' result, for any text."""
    reference = _MD_NUMBERED.sub(r"\1\\.", _MD_BULLET.sub(r"\1\\\2", _MD_SPECIAL.sub(r"\\\1", text)))
    assert md_escape(text) == reference


def test_md_escape_makes_links_and_emphasis_literal() -> None:
    """Links, emphasis, code, autolinks and list markers are backslash-escaped."""
    assert md_escape("[x](http://evil)") == r"\[x\](http://evil)"
    assert md_escape("**b** _i_ `c` ~s~ <u>") == r"\*\*b\*\* \_i\_ \`c\` \~s\~ \<u\>"
    assert md_escape("- a\n  + b\n12. c\n# d") == "\\- a\n  \\+ b\n12\\. c\n\\# d"
    assert md_escape("PR #4711 INC-1042 (ok) 1.5") == "PR #4711 INC-1042 (ok) 1.5"
    assert md_escape(None) == ""


def test_escaped_markdown_shows_the_original_text() -> None:
    """The HTML preview of escaped text shows exactly the original characters."""
    original = "[x](http://evil) **b** <script>"
    assert markdown_to_html(md_escape(original)) == "[x](http://evil) **b** &lt;script&gt;"


def test_small_card_is_left_alone() -> None:
    """A card under the limit is returned unchanged."""
    card = big_card(rows=4, text_len=10)
    card["body"][1]["text"] = "short"
    assert trim_card(card) is card


def test_200kb_card_is_trimmed_under_28kb_and_stays_valid() -> None:
    """A 200 KB card comes back under 28 KB (in its Teams envelope), valid, with a trim note."""
    card = big_card(rows=1300, text_len=150)
    assert envelope_size(card) > 200_000
    trimmed = trim_card(card)
    assert envelope_size(trimmed) <= TEAMS_LIMIT_BYTES
    assert_valid(trimmed)
    note = trimmed["body"][-1]
    assert note["id"] == "trim-note" and note["text"].startswith("(trimmed: ") and "items omitted)" in note["text"]
    assert int(note["text"].split()[1]) > 0
    assert trimmed["body"][1]["text"].endswith("…")
    assert envelope_size(card) > 200_000  # the input is not modified


def test_trimming_drops_the_oldest_rows_first() -> None:
    """Trimming drops rows from the start of a list (oldest first) and keeps the newest."""
    card = big_card(rows=1300, text_len=150)
    trimmed = trim_card(card)
    facts = next(e for e in trimmed["body"] if e["type"] == "FactSet")["facts"]
    assert facts[-1]["title"] == "row 649"
    assert facts[0]["title"] != "row 0"


def test_trimming_never_raises_for_size() -> None:
    """Even a card whose header alone is too big comes back under the limit."""
    card = {"type": "AdaptiveCard", "version": "1.5", "body": [
        {"type": "Container", "id": "header", "items": [{"type": "Image", "url": "https://x/" + "a" * 50_000}]}]}
    trimmed = trim_card(card, limit_bytes=2_000)
    assert envelope_size(trimmed) <= 2_000
    assert_valid(trimmed)


def test_rendered_digest_of_many_updates_fits_teams() -> None:
    """A rendered update folding 400 long updates is trimmed to fit Teams and stays a valid card."""
    renderer = Renderer(SHIPPED_TEMPLATES, "Europe/Paris")
    notice = sample_digest(NOW, count=400)
    for entry in notice["digest"]:
        entry["message"] = entry["message"] + " " + "détail " * 80
    content = renderer.teams(MessageName.UPDATE, Locale.FR, sample_hotfix(now=NOW), notice=notice, now=NOW)
    assert envelope_size(content.card) <= TEAMS_LIMIT_BYTES
    assert_valid(content.card)
    texts = json.dumps(content.card, ensure_ascii=False)
    assert "(trimmed: " in texts and "(400)" in texts


def test_card_to_html_escapes_text_and_drops_unsafe_links() -> None:
    """The HTML preview escapes every text and keeps only http(s) links."""
    card = {"type": "AdaptiveCard", "version": "1.5", "body": [
        {"type": "TextBlock", "text": "<img src=x onerror=alert(1)>", "weight": "Bolder"},
        {"type": "FactSet", "facts": [{"title": "<b>", "value": "\"'&"}]},
    ], "actions": [
        {"type": "Action.OpenUrl", "title": "ok", "url": "https://example.com/?a=1&b=2"},
        {"type": "Action.OpenUrl", "title": "<evil>", "url": "javascript:alert(1)"},
    ]}
    page = card_to_html(card)
    assert page.startswith("<!DOCTYPE html>")
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;b&gt;" in page and "&quot;&#x27;&amp;" in page
    assert 'href="https://example.com/?a=1&amp;b=2"' in page
    assert "javascript:" not in page and "&lt;evil&gt;" in page


@pytest.mark.parametrize("message", list(MessageName))
def test_rendered_cards_preview_as_html(message: MessageName) -> None:
    """Every rendered card has an HTML preview showing its headline."""
    renderer = Renderer(SHIPPED_TEMPLATES, "Europe/Paris")
    content = renderer.teams(message, Locale.EN, sample_hotfix(now=NOW, message=message), now=NOW)
    page = card_to_html(content.card)
    assert "Checkout returns 500" in page and "<strong>" not in page


def test_a_card_never_carries_more_actions_than_the_renderer_accepts() -> None:
    """Seven actions are cut to the first five (Microsoft's renderer refuses more); five stay as they are."""
    actions = [{"type": "Action.OpenUrl", "title": f"a{i}", "url": f"https://example.com/{i}"} for i in range(7)]
    card = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "x"}], "actions": actions}
    assert [a["title"] for a in cap_actions(card)["actions"]] == ["a0", "a1", "a2", "a3", "a4"]
    assert len(card["actions"]) == 7  # the input is not modified
    five = {**card, "actions": actions[:MAX_ACTIONS]}
    assert cap_actions(five) is five
