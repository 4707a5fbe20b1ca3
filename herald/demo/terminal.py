"""The demo in the terminal: a live view, one line per step with what was sent to whom, then where to look.

Lines are table rows whose cells wrap inside their own column (never in the middle of a
label and its value), so the view reads the same at 80 columns as on a wide screen. A console
that is not a terminal (a pipe, a test) gets the finished table once, with no animation.
"""
from __future__ import annotations

from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text as RichText

from herald.demo.page import MESSAGES, Written, offset
from herald.demo.player import Played, Scene
from herald.demo.stage import Stage
from herald.demo.story import Step, Story
from hotfix.enums import Locale

WORDS: dict[Locale, dict[str, str]] = {
    Locale.FR: {"demo": "Hotfix Herald — démo", "embedded": "Redis embarqué (fakeredis)", "redis": "Redis configuré",
                "nothing": "rien d'envoyé", "webhooks": "webhooks", "events": "événement(s)", "summary":
                "{deliveries} envois, {distinct} messages distincts, {hotfixes} hotfix.", "page": "Page :",
                "document": "Document :", "postmortem": "Post-mortem :", "show": "Ou :", "timer": "minuteur non programmé ici"},
    Locale.EN: {"demo": "Hotfix Herald — demo", "embedded": "embedded Redis (fakeredis)", "redis": "configured Redis",
                "nothing": "nothing sent", "webhooks": "webhooks", "events": "event(s)", "summary":
                "{deliveries} deliveries, {distinct} distinct messages, {hotfixes} hotfix{s}.", "page": "Page:",
                "document": "Document:", "postmortem": "Post-mortem:", "show": "Or:", "timer": "timer not scheduled here"},
}


def sent_summary(scene: Scene, locale: Locale) -> str:
    """``update → oncall, stakeholders (5)`` for each message a step sent; webhooks first for the storm."""
    words = WORDS[locale]
    parts = [f"{scene.webhooks} {words['webhooks']} → {len(scene.events)} {words['events']}"] if scene.webhooks else []
    by_message: dict[str, dict[str, None]] = {}
    count: dict[str, int] = {}
    for family in scene.families:
        audiences = by_message.setdefault(family.message, {})
        audiences.update({r.audience.split(":", 1)[-1]: None for r in family.recipients})  # person:Bob → Bob
        count[family.message] = count.get(family.message, 0) + len(family.recipients)
    for message, audiences in by_message.items():
        label = MESSAGES[locale].get(message, message)
        parts.append(f"{label} → {', '.join(audiences)} ({count[message]})")
    if scene.unscheduled:
        parts.append(words["timer"])
    return "; ".join(parts) or words["nothing"]


class Terminal:
    """Follows a story as it plays (``starting``, ``played``), then says where the page is (``finish``)."""

    def __init__(self, console: Console, locale: Locale, story: Story, ticket: str, stage: Stage) -> None:
        self.console = console
        self.locale = locale
        self.story = story
        self.rows = Table(box=None, show_header=False, pad_edge=False, padding=(0, 1))
        self.rows.add_column(justify="right", no_wrap=True, style="dim")
        self.rows.add_column(no_wrap=True, overflow="ellipsis", max_width=26, style="bold")
        self.rows.add_column(overflow="fold")
        self.current: Spinner | None = None
        words = WORDS[locale]
        self.console.print(f"[bold]{words['demo']}[/bold] · {story.name} : {story.title(locale)}" if locale is Locale.FR
                           else f"[bold]{words['demo']}[/bold] · {story.name}: {story.title(locale)}", highlight=False)
        where = words["embedded"] if stage.embedded else words["redis"]
        self.console.print(f"{ticket} · {where}", highlight=False, style="dim")
        if stage.note:
            self.console.print(stage.note, style="yellow", highlight=False)
        self.live = Live(self._view(), console=console, refresh_per_second=8, transient=False)

    def _view(self) -> Group:
        return Group(self.rows, self.current) if self.current is not None else Group(self.rows)

    def __enter__(self) -> Terminal:
        self.live.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.current = None
        self.live.update(self._view(), refresh=True)
        self.live.stop()

    def starting(self, index: int, step: Step) -> None:
        self.current = Spinner("dots", RichText(f" {index}/{len(self.story.steps)} {step.title(self.locale)}…"))
        self.live.update(self._view())

    def played(self, scene: Scene) -> None:
        self.rows.add_row(offset(scene.minute, self.locale), scene.step.title(self.locale),
                          sent_summary(scene, self.locale))
        self.current = None
        self.live.update(self._view(), refresh=True)

    def finish(self, played: Played, files: Written, stage: Stage) -> None:
        words = WORDS[self.locale]
        distinct = sum(len(f.variants) for s in played.scenes for f in s.families)
        self.console.print()
        self.console.print(words["summary"].format(deliveries=len(played.receipts), distinct=distinct,
                                                   hotfixes=len(played.tickets), s="es" if len(played.tickets) > 1 else ""),
                           highlight=False)
        self.console.print(f"{words['page']:<14}[bold]{shown(files.page)}[/bold]", highlight=False, soft_wrap=True)
        self.console.print(f"{words['document']:<14}{shown(files.document)}", highlight=False, soft_wrap=True)
        if files.postmortem is not None:
            self.console.print(f"{words['postmortem']:<14}{shown(files.postmortem)}", highlight=False, soft_wrap=True)
        if not stage.embedded:
            self.console.print(f"{words['show']:<14}hotfix show {played.ticket}", highlight=False, soft_wrap=True)


def shown(path: Path) -> str:
    """A path as short as it can be said: relative to the working directory when under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())
