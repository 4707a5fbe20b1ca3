"""Adaptive Card helpers: Markdown escaping, mentions, the Teams envelope, size trimming, an HTML preview.

Mentions follow Teams' documented form: ``<at>NAME</at>`` in a TextBlock and, in the card's
``msteams.entities``, ``{"type": "mention", "text": "<at>NAME</at>", "mentioned": {"id", "name"}}``.
``msteams`` is Teams' host extension of the card (not part of the Adaptive Card schema itself);
``trim_card`` keeps only the entities whose ``<at>`` text is still in the card.
"""
from __future__ import annotations

import copy
import html
import json
import logging
import re
from typing import Any

from hotfix.limits import TEAMS_CARD_BYTES
from workers.context import safe_url

log = logging.getLogger(__name__)

#: Teams rejects messages over 28 KB (the limit is owned by ``hotfix.limits``).
TEAMS_LIMIT_BYTES = TEAMS_CARD_BYTES
CARD_VERSION = "1.5"
ADAPTIVE_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
#: Elements whose id is listed here are never trimmed row by row.
KEEP_IDS = frozenset({"header", "trim-note"})

#: Characters with a meaning in Teams' Markdown subset (emphasis, links, code, autolinks)...
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>~])")
#: ...and what starts a list, a numbered list or a heading at the beginning of a line.
_MD_BULLET = re.compile(r"^(\s*)([-+#])", re.MULTILINE)
_MD_NUMBERED = re.compile(r"^(\s*\d+)\.", re.MULTILINE)
#: Whether a text has anything of the three above: most have not, and are returned after one search.
_MD_ANY = re.compile(r"[\\`*_\[\]<>~]|^\s*[-+#]|^\s*\d+\.", re.MULTILINE)
_TEXT_CUTS = (2000, 1000, 500, 250, 120)


def md_escape(value: Any) -> str:
    """Backslash-escape Markdown control characters so the text renders literally.

    Only what Teams' Markdown subset interprets is escaped, so clients that show a stray
    backslash show few of them.
    """
    if value is None:
        return ""
    text = str(value)
    if _MD_ANY.search(text) is None:
        return text
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _MD_BULLET.sub(r"\1\\\2", text)
    return _MD_NUMBERED.sub(r"\1\\.", text)


#: Actions a card may carry: the most Microsoft's renderer (its default host config) accepts.
MAX_ACTIONS = 5


def cap_actions(card: dict[str, Any]) -> dict[str, Any]:
    """``card`` with at most ``MAX_ACTIONS`` actions (the first ones: templates list the most useful first)."""
    actions = card.get("actions")
    if not isinstance(actions, list) or len(actions) <= MAX_ACTIONS:
        return card
    log.warning("card has %d actions; keeping the first %d", len(actions), MAX_ACTIONS)
    return {**card, "actions": actions[:MAX_ACTIONS]}


def mention_markdown(block: Any, directory: dict[str, str]) -> str:
    """A people block as card Markdown: ``label: role <at>NAME</at> · …`` (NAME raw, the rest escaped).

    A name absent from ``directory`` (no Teams id) stays plain, escaped text.
    """
    parts = []
    for role, name in block.people:
        who = f"<at>{name}</at>" if name in directory else md_escape(name)
        parts.append(f"{md_escape(role)}: {who}" if role else who)
    head = f"{md_escape(block.label)}: " if block.label else ""
    return head + " · ".join(parts)


def _prune_mentions(card: dict[str, Any]) -> None:
    """Drop the ``msteams.entities`` whose ``<at>`` text no longer appears in the body (after trimming)."""
    entities = (card.get("msteams") or {}).get("entities")
    if not isinstance(entities, list):
        return
    texts = json.dumps([e.get("text") for e in _walk(card.get("body") or []) if e.get("type") == "TextBlock"],
                       ensure_ascii=False)
    kept = [e for e in entities if isinstance(e, dict) and json.dumps(e.get("text"), ensure_ascii=False)[1:-1] in texts]
    if kept:
        card["msteams"]["entities"] = kept
    else:
        card.pop("msteams", None)


def teams_envelope(card: dict[str, Any]) -> dict[str, Any]:
    """The Workflows webhook message that carries ``card``."""
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


def envelope_size(card: dict[str, Any]) -> int:
    """Bytes of the card's Teams envelope as sent (UTF-8 JSON)."""
    return len(_dumps(teams_envelope(card)))


def _dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def trim_card(card: dict[str, Any], limit_bytes: int = TEAMS_LIMIT_BYTES) -> dict[str, Any]:
    """A copy of ``card`` whose envelope fits ``limit_bytes``; never raises for size.

    In order: long texts are cut with "…", then the oldest rows of the longest lists
    (FactSet facts, Container items) are dropped, then whole body elements from the end;
    a note "(trimmed: N items omitted)" closes the body.
    """
    if envelope_size(card) <= limit_bytes:
        return card
    out = copy.deepcopy(card)
    body: list[dict[str, Any]] = out.setdefault("body", [])
    omitted = 0
    _set_note(body, omitted)
    for cut in _TEXT_CUTS:
        _cut_texts(body, cut)
        if envelope_size(out) <= limit_bytes:
            _prune_mentions(out)
            return out
    while envelope_size(out) > limit_bytes:
        rows = _longest_rows(body)
        if rows is None:
            break
        excess = envelope_size(out) - limit_bytes
        dropped = 0
        while len(rows) > 1 and dropped < excess:
            dropped += len(_dumps(rows.pop(0))) + 1
            omitted += 1
        _set_note(body, omitted)
    while envelope_size(out) > limit_bytes and len(body) > 2:
        body.pop(-2)  # the element before the note
        omitted += 1
        _set_note(body, omitted)
    if envelope_size(out) > limit_bytes:  # a pathological header: keep a bare card
        out = {k: out[k] for k in ("type", "version", "$schema") if k in out}
        out["body"] = [{"type": "TextBlock", "text": "…", "wrap": True}]
        omitted += 1
        _set_note(out["body"], omitted)
    if "msteams" in card and "msteams" not in out:
        out["msteams"] = copy.deepcopy(card["msteams"])
    _prune_mentions(out)
    log.info("card trimmed to %d bytes (%d items omitted)", envelope_size(out), omitted)
    return out


def _set_note(body: list[dict[str, Any]], omitted: int) -> None:
    note = {"type": "TextBlock", "id": "trim-note", "text": f"(trimmed: {omitted} items omitted)",
            "wrap": True, "isSubtle": True, "size": "Small"}
    if body and body[-1].get("id") == "trim-note":
        body[-1] = note
    else:
        body.append(note)


def _walk(elements: list[Any]) -> list[dict[str, Any]]:
    """Every element (depth-first) under a list of card elements."""
    out: list[dict[str, Any]] = []
    for element in elements:
        if not isinstance(element, dict):
            continue
        out.append(element)
        for key in ("items", "columns", "body"):
            if isinstance(element.get(key), list):
                out.extend(_walk(element[key]))
    return out


def _cut(text: Any, limit: int) -> Any:
    return text[: limit - 1].rstrip() + "…" if isinstance(text, str) and len(text) > limit else text


def _cut_texts(body: list[dict[str, Any]], limit: int) -> None:
    for element in _walk(body):
        if element.get("type") == "TextBlock":
            element["text"] = _cut(element.get("text"), limit)
        elif element.get("type") == "FactSet":
            for fact in element.get("facts", []):
                fact["value"] = _cut(fact.get("value"), limit)


def _longest_rows(body: list[dict[str, Any]]) -> list[Any] | None:
    """The droppable list (FactSet facts or Container items, oldest first) holding the most bytes."""
    best: list[Any] | None = None
    best_size = 0
    for element in _walk(body):
        if element.get("id") in KEEP_IDS:
            continue
        key = "facts" if element.get("type") == "FactSet" else "items" if element.get("type") == "Container" else None
        rows = element.get(key) if key else None
        if isinstance(rows, list) and len(rows) > 1:
            size = len(_dumps(rows))
            if size > best_size:
                best, best_size = rows, size
    return best


_STYLE_COLORS = {"attention": "#fde7e9", "warning": "#fff4ce", "good": "#dff6dd", "emphasis": "#f3f2f1",
                 "accent": "#deecf9"}
_TEXT_COLORS = {"Attention": "#a4262c", "Warning": "#8a5300", "Good": "#107c10", "Accent": "#0078d4"}
_SIZES = {"Small": "12px", "Medium": "15px", "Large": "18px", "ExtraLarge": "22px"}


def markdown_to_html(text: Any) -> str:
    """The Adaptive Card Markdown subset used here (backslash escapes, ``**bold**``), as escaped HTML."""
    out: list[str] = []
    source, i, bold = str(text or ""), 0, False
    while i < len(source):
        char = source[i]
        if char == "\\" and i + 1 < len(source):
            out.append(html.escape(source[i + 1]))
            i += 2
        elif source.startswith("**", i):
            out.append("</strong>" if bold else "<strong>")
            bold, i = not bold, i + 2
        else:
            out.append("<br>" if char == "\n" else html.escape(char))
            i += 1
    if bold:
        out.append("</strong>")
    return "".join(out)


def _element_html(element: Any) -> str:
    if not isinstance(element, dict):
        return ""
    kind = element.get("type")
    if kind == "TextBlock":
        style = [f"font-size:{_SIZES.get(element.get('size', ''), '14px')}", "margin:4px 0"]
        if element.get("weight") == "Bolder":
            style.append("font-weight:bold")
        if element.get("isSubtle"):
            style.append("color:#605e5c")
        if element.get("color") in _TEXT_COLORS:
            style.append(f"color:{_TEXT_COLORS[element['color']]}")
        return f'<p style="{";".join(style)}">{markdown_to_html(element.get("text"))}</p>'
    if kind == "FactSet":
        rows = "".join(
            f'<tr><th style="text-align:left;padding:2px 12px 2px 0;vertical-align:top">'
            f'{markdown_to_html(f.get("title"))}</th><td>{markdown_to_html(f.get("value"))}</td></tr>'
            for f in element.get("facts", []) if isinstance(f, dict)
        )
        return f'<table style="border-collapse:collapse;margin:4px 0">{rows}</table>'
    if kind == "Container":
        background = _STYLE_COLORS.get(element.get("style", ""), "transparent")
        inner = "".join(_element_html(e) for e in element.get("items", []))
        return f'<div style="background:{background};padding:8px;margin:4px 0">{inner}</div>'
    if kind == "ColumnSet":
        cols = "".join(
            f'<div style="flex:1">{"".join(_element_html(e) for e in c.get("items", []))}</div>'
            for c in element.get("columns", []) if isinstance(c, dict)
        )
        return f'<div style="display:flex;gap:8px">{cols}</div>'
    if kind == "ActionSet":
        return _actions_html(element.get("actions", []))
    return f"<!-- {html.escape(str(kind))} not previewed -->"


def _actions_html(actions: Any) -> str:
    links = []
    for action in actions if isinstance(actions, list) else []:
        url, title = action.get("url"), html.escape(str(action.get("title", "")))
        if action.get("type") == "Action.OpenUrl" and isinstance(url, str) and safe_url(url):
            links.append(f'<a href="{html.escape(url, quote=True)}" style="margin-right:12px">{title}</a>')
        else:
            links.append(f"<span>{title}</span>")
    return f'<p style="margin:8px 0">{"".join(links)}</p>' if links else ""


def card_to_html(card: dict[str, Any]) -> str:
    """A self-contained HTML page approximating how Teams shows ``card`` (every text escaped)."""
    body = "".join(_element_html(e) for e in card.get("body", []))
    actions = _actions_html(card.get("actions", []))
    return (
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Adaptive Card preview</title></head>"
        '<body style="background:#f5f5f5;font-family:Segoe UI,Helvetica,Arial,sans-serif">'
        '<div style="max-width:640px;margin:24px auto;background:#fff;border:1px solid #e1dfdd;'
        f'border-radius:4px;padding:12px">{body}{actions}</div></body></html>'
    )


def card_problems(card: Any) -> list[str]:
    """Structural problems that make Teams reject a card silently (empty when fine).

    A minimal check; the tests validate the full Adaptive Card 1.5 JSON schema.
    """
    if not isinstance(card, dict):
        return ["card: not a JSON object"]
    problems = []
    if card.get("type") != "AdaptiveCard":
        problems.append("type: must be 'AdaptiveCard'")
    if card.get("version") != CARD_VERSION:
        problems.append(f"version: must be {CARD_VERSION!r}")
    if not isinstance(card.get("body"), list) or not card["body"]:
        problems.append("body: must be a non-empty list")
    for element in _walk(card.get("body") or []):
        if not isinstance(element.get("type"), str):
            problems.append("body: an element has no type")
        elif element["type"] == "TextBlock" and not isinstance(element.get("text"), str):
            problems.append("TextBlock: text must be a string")
    return problems
