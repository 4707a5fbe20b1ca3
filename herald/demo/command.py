"""``hotfix demo [--story NAME] [--locale fr|en] [--list]``: play a story, write its page, say where it is."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Annotated, Optional

import typer
from rich.table import Table

from herald.app import ConfigOpt, Format, FormatOpt, LocaleOpt, app, console, emit_json, err, fail
from herald.demo.clock import StoryClock
from herald.demo.page import write
from herald.demo.player import Played, Player
from herald.demo.stage import Stage, set_stage, settings_for
from herald.demo.stories import DEFAULT_STORY, STORIES
from herald.demo.terminal import Terminal
from hotfix.config import ConfigError
from hotfix.enums import Locale
from hotfix.keys import TICKET_RULE, valid_ticket

StoryOpt = Annotated[str, typer.Option("--story", "-s", help=f"the story to play: {', '.join(STORIES)}")]
ListOpt = Annotated[bool, typer.Option("--list", help="name the stories, one line each")]
TicketOpt = Annotated[Optional[str], typer.Option(help="the story's ticket (default DEMO-<time>)")]


@app.command()
def demo(story: StoryOpt = DEFAULT_STORY, locale: LocaleOpt = None, list_: ListOpt = False, ticket: TicketOpt = None,
         config: ConfigOpt = None, format_: FormatOpt = Format.TABLE) -> None:
    """Play a scripted hotfix through the real daemon and workers, and write its story page.

    With nothing configured: an embedded Redis, every message in ./outbox/DEMO-…/, the page beside them.
    """
    try:
        settings, configured = settings_for(config, locale)
    except ConfigError as exc:
        if len(exc.problems) == 1:
            fail(f"configuration error in {exc.source}: {exc.problems[0]}")
        err.print(f"hotfix: configuration error in {exc.source}:", highlight=False, markup=False)
        for problem in exc.problems:
            err.print(f"  - {problem}", highlight=False, markup=False)
        raise typer.Exit(2) from None
    if list_:
        _list(settings.locale, format_)
        return
    if story not in STORIES:
        fail(f"unknown story {story!r}: one of {', '.join(STORIES)} (hotfix demo --list)")
    if ticket is not None and not valid_ticket(ticket):
        fail(f"invalid --ticket {ticket[:80]!r}: {TICKET_RULE}")
    logging.basicConfig(level=logging.WARNING)
    stage = set_stage(settings, configured)
    chosen = STORIES[story]
    now = datetime.now(timezone.utc)
    ticket = ticket or f"DEMO-{now:%H%M%S}"
    span = max((s.minute for s in chosen.steps), default=0.0)  # the story ends about now (a post-mortem, days later)
    clock = StoryClock(now.replace(second=0, microsecond=0) - timedelta(minutes=span),
                       pace=console.is_terminal and format_ is not Format.JSON)
    player = Player(stage, chosen, ticket, clock)
    if format_ is Format.JSON:
        played = player.play()
        files = write(played, stage)
        emit_json(_summary(played, stage) | {"page": str(files.page.resolve()), "document": str(files.document.resolve()),
                                             "postmortem": str(files.postmortem.resolve()) if files.postmortem else None})
        return
    view = Terminal(console, settings.locale, chosen, ticket, stage)
    with view:
        played = player.play(view.starting, view.played)
    view.finish(played, write(played, stage), stage)


def _summary(played: Played, stage: Stage) -> dict[str, object]:
    return {"story": played.story.name, "ticket": played.ticket, "deliveries": len(played.receipts),
            "distinct": sum(len(f.variants) for s in played.scenes for f in s.families), "hotfixes": played.tickets,
            "steps": [s.step.key for s in played.scenes], "redis": "embedded" if stage.embedded else "configured"}


def _list(locale: Locale, format_: Format) -> None:
    """Each story's name and what it is about."""
    if format_ is Format.JSON:
        emit_json([{"name": s.name, "default": s.name == DEFAULT_STORY, "title": s.title(locale),
                    "summary": s.summary(locale)} for s in STORIES.values()])
        return
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(no_wrap=True, style="bold")
    table.add_column(overflow="fold")
    default = " (défaut)" if locale is Locale.FR else " (default)"
    for s in STORIES.values():
        table.add_row(s.name, s.summary(locale) + (default if s.name == DEFAULT_STORY else ""))
    console.print(table)
