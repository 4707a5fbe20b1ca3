"""Render a message (subject, text, HTML, Adaptive Card) from the Jinja2 templates.

Templates live in ``<templates_dir>/<locale>/<message>.<part>.j2`` (parts: subject, text,
html, card). A message's content template fills a channel-neutral ``Doc``; the layouts in
``_base/`` draw it for each channel, escaping every value for that channel. Rendering runs in
a sandbox with ``StrictUndefined``; HTML templates (``*.html.j2``) are autoescaped.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from jinja2 import pass_context
from jinja2.runtime import Context

from hotfix import dates
from hotfix.durations import format_span
from hotfix.enums import Channel, Locale, MessageName, Severity
from hotfix.limits import SUBJECT_CHARS
from hotfix.settings import PLAYBOOK_DEADLINES
from hotfix.state import HotfixState
from hotfix.templating import environment
from workers.cards import cap_actions, card_problems, md_escape, mention_markdown, trim_card
from workers.content import EmailContent, TeamsContent
from workers.context import Doc, build_context, format_time, seconds

log = logging.getLogger(__name__)

#: The four parts of every message, one template file each.
PARTS = ("subject", "text", "html", "card")
#: Subjects (and Teams titles) are cut to this many characters.
SUBJECT_MAX = SUBJECT_CHARS

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES = re.compile(r"\s{2,}")
_BLANK_LINES = re.compile(r"\n{3,}")


class RenderError(Exception):
    """A message could not be rendered (a template bug or a missing template): permanent."""


class TemplateMissing(RenderError):
    """A template file does not exist; the message names the file."""


def one_line(text: str, limit: int = SUBJECT_MAX) -> str:
    """CR/LF and every other control character collapsed to spaces, cut to ``limit`` characters."""
    flat = _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _tidy(text: str) -> str:
    """Trailing spaces removed, at most one blank line in a row, one final newline."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)) + "\n"


class Renderer:
    """Long-lived renderer: templates are compiled once and cached."""

    def __init__(self, templates_dir: Path, timezone: str, directory: dict[str, str] | None = None,
                 resolve_within: Mapping[Severity, timedelta] | None = None) -> None:
        self.templates_dir = Path(templates_dir)
        self.tz = ZoneInfo(timezone)
        self.directory = dict(directory or {})
        self.env = environment(self.templates_dir, extensions=["jinja2.ext.do"], auto_reload=False, cache_size=-1,
                               keep_trailing_newline=False)
        #: Each severity's deadline, as configured: severity labels say "< 1 h" from it, never a fixed text.
        self.env.globals["resolve_within"] = {
            s.value: int(d.total_seconds()) for s, d in {**PLAYBOOK_DEADLINES, **(resolve_within or {})}.items()}
        self.env.filters.update(
            when=self._when,
            day=self._day,
            duration=self._duration,
            ago=self._ago,
            seconds=seconds,
            md_escape=md_escape,
            md=md_escape,
            mentions=mention_markdown,
        )

    # -- filters (the locale and "now" come from the template context) --------------------------
    @pass_context
    def _when(self, ctx: Context, value: Any) -> str:
        """HH:MM in the configured zone, with the date when not today."""
        return format_time(value, self.tz, ctx["now"], Locale(ctx["locale"]))

    @pass_context
    def _day(self, ctx: Context, value: Any) -> str:
        """Date and HH:MM in the configured zone."""
        return format_time(value, self.tz, ctx["now"], Locale(ctx["locale"]), full=True)

    @pass_context
    def _duration(self, ctx: Context, value: Any) -> str:
        """An unsigned duration in the locale's short form."""
        return format_span(value, Locale(ctx["locale"]))

    @pass_context
    def _ago(self, ctx: Context, value: Any) -> str:
        """How long before ``now`` a time was, as a duration."""
        when = dates.parse(value)
        return "" if when is None or when.tzinfo is None else format_span(ctx["now"] - when, Locale(ctx["locale"]))

    # -- templates --------------------------------------------------------------------------------
    def template(self, locale: Locale, message: MessageName, part: str) -> jinja2.Template:
        """The compiled template of one part; raises ``TemplateMissing`` naming the file."""
        name = f"{Locale(locale).value}/{MessageName(message).value}.{part}.j2"
        try:
            return self.env.get_template(name)
        except jinja2.TemplateNotFound as exc:
            missing = exc.name or name
            raise TemplateMissing(f"template not found: {self.templates_dir / str(missing)}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(f"template {exc.filename or name} line {exc.lineno}: {exc.message}") from None

    def preload(self) -> None:
        """Compile every template of every message and locale now (fail at start, not mid-incident), and every
        partial they include (``_base/``, ``_macros.j2``…: compiled at the first message otherwise, ~150 ms)."""
        for locale in Locale:
            for message in MessageName:
                for part in PARTS:
                    self.template(locale, message, part)
        folders = {locale.value for locale in Locale} | {"_base"}  # not the status pages' or the demo's

        def partial(name: str) -> bool:  # not the coordination document's (*.md.j2, its own environment), no dotfile
            parts = name.split("/")
            return (name.endswith(".j2") and not name.endswith(".md.j2") and parts[0] in folders
                    and not parts[-1].startswith("."))

        for name in self.env.list_templates(filter_func=partial):
            try:
                self.env.get_template(name)
            except (jinja2.TemplateError, UnicodeDecodeError, OSError) as exc:  # a stray file no message includes
                log.warning("template %s does not compile: %s", name, exc)

    def _render(self, locale: Locale, message: MessageName, part: str, context: dict[str, Any]) -> str:
        template = self.template(locale, message, part)
        try:
            return template.render(context)
        except jinja2.TemplateNotFound as exc:
            raise TemplateMissing(f"template not found: {self.templates_dir / str(exc.name)} "
                                  f"(included by {template.name})") from None
        except jinja2.TemplateError as exc:
            raise RenderError(f"cannot render {template.name}: {exc}") from exc

    def _context(self, message: MessageName, locale: Locale, hotfix: HotfixState, event: dict[str, Any] | None,
                 notice: dict[str, Any] | None, now: datetime, extra: dict[str, Any]) -> dict[str, Any]:
        """The context of one message, built once for all its parts (``_part`` gives each part its own ``doc``)."""
        return build_context(MessageName(message), Locale(locale), hotfix, event=event, notice=notice,
                             now=now, tz=self.tz, directory=self.directory, **extra)

    def _part(self, context: dict[str, Any]) -> dict[str, Any]:
        """The context for one more part: the same data, a fresh ``Doc`` (a content template fills it)."""
        return {**context, "doc": Doc(self.directory)}

    # -- public -----------------------------------------------------------------------------------
    def email(self, message: MessageName, locale: Locale, hotfix: HotfixState, *, event: dict[str, Any] | None = None,
              notice: dict[str, Any] | None = None, now: datetime, person: str | None = None,
              act_url: str | None = None, unsubscribe_url: str | None = None) -> EmailContent:
        """Subject (one line, ≤200 chars), plain text and HTML of a message (``act_url``: its action link;
        ``unsubscribe_url``: the foot's unsubscribe link, for a self-service audience)."""
        extra = {"person": person, "act_url": act_url, "channel": Channel.EMAIL, "unsubscribe_url": unsubscribe_url}
        context = self._context(message, locale, hotfix, event, notice, now, extra)
        subject = one_line(self._render(locale, message, "subject", context))
        text = self._render(locale, message, "text", self._part(context))
        page = self._render(locale, message, "html", self._part(context))
        return EmailContent(subject=subject, text=_tidy(text), html=page.strip() + "\n")

    def teams(self, message: MessageName, locale: Locale, hotfix: HotfixState, *, event: dict[str, Any] | None = None,
              notice: dict[str, Any] | None = None, now: datetime, person: str | None = None,
              act_url: str | None = None) -> TeamsContent:
        """The Adaptive Card (trimmed to fit Teams, mentions in ``msteams.entities``) plus the MessageCard fields."""
        extra = {"person": person, "act_url": act_url, "channel": Channel.TEAMS}
        context = self._context(message, locale, hotfix, event, notice, now, extra)
        title = one_line(self._render(locale, message, "subject", context))
        context = self._part(context)
        raw = self._render(locale, message, "card", context)
        try:
            card = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RenderError(f"{locale}/{message}.card.j2 did not render valid JSON: {exc}") from None
        problems = card_problems(card)
        if problems:
            raise RenderError(f"{locale}/{message}.card.j2 rendered an invalid card: {'; '.join(problems)}")
        doc: Doc = context["doc"]
        return TeamsContent(
            title=title,
            text=markdown_summary(doc),
            card=trim_card(cap_actions(card)),
            facts=[(one_line(k, 100), one_line(v, 1000)) for k, v in doc.facts()],
            color=context["theme"].color,
        )


def markdown_summary(doc: Doc) -> str:
    """The non-fact content of a message as escaped Markdown, for the legacy MessageCard's text."""
    lines = [f"**{md_escape(doc.headline)}**", md_escape(doc.subtitle)]
    for block in doc.blocks:
        if block.kind == "para":
            lines.append(md_escape(block.text))
        elif block.kind == "items":
            lines.append(f"**{md_escape(block.label)}**" + "".join(f"\n- {md_escape(i)}" for i in block.items))
    lines += [f"[{md_escape(link.label)}]({link.url.replace('(', '%28').replace(')', '%29')})" for link in doc.links]
    return "\n\n".join(line for line in lines if line)
