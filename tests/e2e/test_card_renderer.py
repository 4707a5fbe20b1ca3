"""Every Teams card Herald renders, through Microsoft's own ``adaptivecards`` renderer in a real browser.

The schema says a card is well formed; the renderer says Teams' own code can draw it: no parse or
validation problem, no page error, every mention's text and every action button on screen.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from hotfix.enums import Locale, MessageName
from hotfix.settings import SHIPPED_TEMPLATES
from tests.fixtures.browser import CardRenderer, adaptivecards_js, card_renderer, chromium  # noqa: F401
from workers.cards import TEAMS_LIMIT_BYTES, envelope_size
from workers.render import Renderer
from workers.samples import sample_digest, sample_event, sample_hotfix, sample_notice

pytestmark = pytest.mark.e2e

NOW = datetime.now(UTC).replace(microsecond=0)
DIRECTORY = {"Alice": "alice@corp.example", "Bob": "bob@corp.example", "Chloé": "chloe@corp.example",
             "Dan": "3f2504e0-4f89-11d3-9a0c-0305e82c3301"}
ACT = "https://herald.example.com/act/eyJ0IjoiSU5DLTEwNDIifQ.c2lnbmVk"


def test_every_message_card_renders_without_a_problem(card_renderer: CardRenderer) -> None:
    """All messages, both locales, with mentions and action links, and a 400-update digest: drawn without a problem."""
    renderer = Renderer(SHIPPED_TEMPLATES, "Europe/Paris", DIRECTORY)
    cases = []
    for message in MessageName:
        for locale in Locale:
            hotfix = sample_hotfix(now=NOW, message=message)
            linked = hotfix.is_open and message is not MessageName.APPROVAL_REQUEST  # as the worker decides
            content = renderer.teams(message, locale, hotfix, event=sample_event(message, now=NOW),
                                     notice=sample_notice(message, now=NOW), now=NOW, act_url=ACT if linked else None)
            cases.append((f"{message.value}/{locale.value}", content.card))
    digest = sample_digest(NOW, count=400)
    for entry in digest["digest"]:
        entry["message"] += " " + "détail " * 80
    cases.append(("digest", renderer.teams(MessageName.UPDATE, Locale.FR, sample_hotfix(now=NOW), notice=digest,
                                           now=NOW).card))
    for name, card in cases:
        assert envelope_size(card) <= TEAMS_LIMIT_BYTES, name
        drawn = card_renderer.render(card)
        assert drawn.problems == [], (name, drawn.problems)
        for entity in card.get("msteams", {}).get("entities", []):
            assert entity["text"] in drawn.text, (name, entity)
        assert drawn.buttons == [a["title"] for a in card.get("actions", [])], name


def test_the_renderer_does_report_a_broken_card(card_renderer: CardRenderer) -> None:
    """The check is not vacuous: an unknown element type is reported by the renderer."""
    broken = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "FancyBlock", "text": "x"}]}
    assert any("FancyBlock" in p for p in card_renderer.render(broken).problems)
    assert json.dumps(broken)  # unchanged input
