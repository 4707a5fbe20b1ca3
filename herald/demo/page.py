"""The story page: one self-contained HTML file that tells a played story step by step.

``write(played, stage)`` writes ``<outbox>/<ticket>/index.html``, ``document.md`` and, once a post-mortem
is planned, ``postmortem.md``. The page
needs nothing but a browser opening it from the file system: styles and a few lines of script
are inline, messages are ``srcdoc`` iframes sandboxed without scripts. Every value reaches the
page through Jinja's autoescape (``templates/demo/story.html.j2``); the Markdown of the
coordination document is rendered with raw HTML disabled, so no producer text becomes markup.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment
from markdown_it import MarkdownIt
from markupsafe import Markup

from herald.demo.capture import Family
from herald.demo.player import Played, Scene
from herald.demo.stage import Stage
from hotfix.enums import Locale
from hotfix.settings import SHIPPED_TEMPLATES
from hotfix.templating import environment

PAGE = "index.html"
DOCUMENT = "document.md"
POSTMORTEM = "postmortem.md"
#: What the receipts table shows of each receipt.
RECEIPT_KEYS = ("message", "audience", "channel", "recipient", "status", "reason", "via")

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
_TASK = re.compile(r"(<li>\s*(?:<p>)?)\[( |x)\] ")

#: The page's own words (the messages and the document speak for themselves).
UI: dict[Locale, dict[str, str]] = {
    Locale.FR: {
        "demo": "Hotfix Herald — démo", "story": "Histoire", "steps": "étapes", "delivery": "envoi", "deliveries": "envois",
        "distinct": "messages distincts", "happened": "Ce qui s'est passé", "sent": "Ce que Herald a envoyé",
        "nothing": "Rien n'a été envoyé à cette étape.", "document": "Document de coordination",
        "as_of": "tel qu'il était à", "event": "événement poussé sur le stream", "events": "événements poussés sur le stream",
        "webhooks": "webhooks Alertmanager reçus par l'intake", "recipient_n": "destinataire", "recipients_n": "destinataires",
        "recipients": "Destinataires",
        "subject": "Objet\u00a0:", "language": "Langue des messages\u00a0:", "end": "Fin de l'histoire",
        "postmortem": "Brouillon de post-mortem", "receipts": "Accusés de livraison", "step": "Étape",
        "time": "Heure", "message": "Message", "audience": "Audience", "channel": "Canal",
        "recipient": "Destinataire", "status": "Statut", "via": "Via", "hotfix_opened": "hotfix ouvert", "hotfixes_opened": "hotfix ouverts",
        "unscheduled": "Cette configuration ne programme pas ce minuteur : rien ne se passe.",
        "redis_embedded": "Redis embarqué (fakeredis)", "redis": "Redis configuré", "timeline": "Chronologie",
        "teams": "Teams", "email": "E-mail", "hotfix": "hotfix",
    },
    Locale.EN: {
        "demo": "Hotfix Herald — demo", "story": "Story", "steps": "steps", "delivery": "delivery", "deliveries": "deliveries",
        "distinct": "distinct messages", "happened": "What happened", "sent": "What Herald sent",
        "nothing": "Nothing was sent at this step.", "document": "Coordination document",
        "as_of": "as it stood at", "event": "event pushed to the stream", "events": "events pushed to the stream",
        "webhooks": "Alertmanager webhooks received by the intake", "recipient_n": "recipient", "recipients_n": "recipients",
        "recipients": "Recipients",
        "subject": "Subject:", "language": "Message language:", "end": "End of the story",
        "postmortem": "Post-mortem draft", "receipts": "Delivery receipts", "step": "Step",
        "time": "Time", "message": "Message", "audience": "Audience", "channel": "Channel",
        "recipient": "Recipient", "status": "Status", "via": "Via", "hotfix_opened": "hotfix opened", "hotfixes_opened": "hotfixes opened",
        "unscheduled": "This configuration schedules no such timer: nothing happens.",
        "redis_embedded": "embedded Redis (fakeredis)", "redis": "configured Redis", "timeline": "Timeline",
        "teams": "Teams", "email": "Email", "hotfix": "hotfix",
    },
}
#: How the page names each message (a message it does not know keeps its own name).
MESSAGES: dict[Locale, dict[str, str]] = {
    Locale.FR: {"announcement": "annonce", "update": "mise à jour", "resolution": "résolution", "rollback": "rollback",
                "cancellation": "annulation", "reminder": "rappel", "escalation": "escalade",
                "guardrail": "garde-fou", "postmortem": "post-mortem", "assignment": "affectation",
                "review_request": "demande de review", "deploy_request": "demande de déploiement",
                "approval_request": "demande d'approbation"},
    Locale.EN: {"announcement": "announcement", "update": "update", "resolution": "resolution",
                "rollback": "rollback", "cancellation": "cancellation", "reminder": "reminder",
                "escalation": "escalation", "guardrail": "guardrail", "postmortem": "post-mortem",
                "assignment": "assignment", "review_request": "review request", "deploy_request": "deploy request",
                "approval_request": "approval request"},
}


def markdown(text: str) -> Markup:
    """Markdown as HTML (raw HTML in the text is escaped), ``[ ]``/``[x]`` items drawn as checkboxes."""
    rendered = _MARKDOWN.render(text)
    return Markup(_TASK.sub(lambda m: f'{m.group(1)}<span class="check">{"☑" if m.group(2) == "x" else "☐"}</span> ',
                            rendered))


def offset(minutes: float, locale: Locale) -> str:
    """How long after the declaration: ``+6 min``, ``+2 h 05``, ``+2 j 0 h``."""
    total = int(round(minutes))
    if total < 120:
        return f"+{total} min"
    days, rest = divmod(total, 24 * 60)
    if days:
        return f"+{days} {'j' if locale is Locale.FR else 'd'} {rest // 60} h"
    return f"+{rest // 60} h {rest % 60:02d}"


def _environment(stage: Stage) -> Environment:
    """Herald's template environment on ``<templates_dir>/demo`` (an operator's copy), then the shipped one."""
    env = environment(stage.settings.templates_path() / "demo", SHIPPED_TEMPLATES / "demo",
                      trim_blocks=True, lstrip_blocks=True)
    env.globals["plural"] = lambda count, one, many: one if count == 1 else many
    return env


def _tabs(family: Family) -> list[str]:
    """What tells a family's renderings apart: the locale and the audiences, else the heading (two reminders at once)."""
    tabs = [f"{(v.locale or '').upper()} · {', '.join(v.audiences)}" for v in family.variants]
    tabs = [tab if tabs.count(tab) == 1 or v.rendering is None or not v.rendering.headline else v.rendering.headline
            for tab, v in zip(tabs, family.variants, strict=True)]
    return [f"{tab} ({tabs[:i].count(tab) + 1})" if tabs.count(tab) > 1 else tab for i, tab in enumerate(tabs)]


def _families(families: list[Family], scene: int, locale: Locale) -> list[dict[str, Any]]:
    out = []
    for n, family in enumerate(families):
        tabs = _tabs(family)
        out.append({
            "message": family.message, "label": MESSAGES[locale].get(family.message, family.message),
            "channel": family.channel, "count": len(family.recipients), "multilingual": len(family.locales) > 1,
            "variants": [{
                "id": f"m{scene}-{n}-{i}", "locale": v.locale or "", "audiences": v.audiences, "tab": tabs[i],
                "subject": v.rendering.subject if v.rendering else "", "html": v.rendering.html if v.rendering else "",
                "recipients": v.recipients,
            } for i, v in enumerate(family.variants)],
        })
    return out


def _scene(scene: Scene, played: Played, locale: Locale, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "index": scene.index, "key": scene.step.key, "title": scene.step.title(locale),
        "says": scene.step.says(locale, ticket=played.ticket), "time": _clock(scene.at, played.start, zone),
        "offset": offset(scene.minute, locale), "unscheduled": scene.unscheduled, "webhooks": scene.webhooks,
        "events": [json.dumps(e, ensure_ascii=False, indent=2) for e in scene.events],
        "families": _families(scene.families, scene.index, locale), "deliveries": len(scene.receipts),
        "document": markdown(scene.document) if scene.document else None,
    }


def render(played: Played, stage: Stage) -> str:
    """The page's HTML."""
    settings = stage.settings
    locale, zone = settings.locale, ZoneInfo(settings.timezone)
    scenes = [_scene(s, played, locale, zone) for s in played.scenes]
    step_of = {_key(r): scene.step.title(locale) for scene in played.scenes for r in scene.receipts}
    receipts = [{**{k: r.get(k) for k in RECEIPT_KEYS}, "step": step_of.get(_key(r), ""), "time": _time(r.get("at"), zone),
                 "label": MESSAGES[locale].get(str(r.get("message")), r.get("message"))} for r in played.receipts]
    multilingual = any(f["multilingual"] for s in scenes for f in s["families"])
    return _environment(stage).get_template("story.html.j2").render(
        ui=UI[locale], lang=locale.value, story=played.story, title=played.story.title(locale),
        summary=played.story.summary(locale), ticket=played.ticket, scenes=scenes, receipts=receipts,
        started=played.start.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"), embedded=stage.embedded,
        document=markdown(played.document) if played.document else None,
        postmortem=markdown(played.postmortem) if played.postmortem else None,
        distinct=sum(len(f["variants"]) for s in scenes for f in s["families"]), tickets=played.tickets,
        locales=[loc.value for loc in Locale] if multilingual else [], channels={"teams": "💬", "email": "✉️"},
    )


def _clock(when: datetime, start: datetime, zone: ZoneInfo) -> str:
    """HH:MM in the configured zone, with the day when it is not the story's first."""
    local = when.astimezone(zone)
    return local.strftime("%H:%M" if local.date() == start.astimezone(zone).date() else "%d/%m %H:%M")


def _key(receipt: dict[str, Any]) -> tuple[str, str]:
    return str(receipt.get("job")), str(receipt.get("recipient"))


def _time(value: Any, zone: ZoneInfo) -> str:
    try:
        return datetime.fromisoformat(str(value)).astimezone(zone).strftime("%d/%m %H:%M")
    except ValueError:
        return ""


@dataclass(frozen=True)
class Written:
    """The files of a played story: the page, the final document and, once planned, the post-mortem draft."""

    page: Path
    document: Path
    postmortem: Path | None


def write(played: Played, stage: Stage) -> Written:
    """Write the page, the final coordination document and the post-mortem draft into the story's folder."""
    folder = stage.folder(played.ticket)
    page, document = folder / PAGE, folder / DOCUMENT
    page.write_text(render(played, stage), encoding="utf-8")
    document.write_text(played.document, encoding="utf-8")
    postmortem = None
    if played.postmortem:
        postmortem = folder / POSTMORTEM
        postmortem.write_text(played.postmortem, encoding="utf-8")
    return Written(page, document, postmortem)
