"""Playing a story through the real pipeline: producer → stream → daemon → RQ → workers → receipts.

Each step moves the story clock, pushes its events (or POSTs its Alertmanager webhooks through
the intake's adapter), lets the daemon take everything in and fire its due timers, and runs a
burst of an in-process RQ ``SimpleWorker`` until the queues are empty. Nothing is simulated:
the daemon and the workers are Herald's own, only their clock is the story's. Invariants:

- a step's scene holds exactly the receipts that step produced (keyed by job and recipient),
  and the coordination document as it stood when the step was over;
- a step that waits for a timer happens when the daemon's schedule says it is due; if the
  configuration schedules no such timer, the scene says so and nothing moves;
- on a configured (persistent) Redis, the story's timers are dropped at the end, so that no
  real daemon acts on a demo hotfix later.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from daemon import store
from daemon.consumer import Daemon
from daemon.document import document_md
from daemon.intake import alertmanager
from daemon.producer import push
from daemon.timers import digest_windows, schedule
from herald.demo.capture import CapturingRenderer, Family, distinct
from herald.demo.clock import StoryClock
from herald.demo.stage import Stage
from herald.demo.story import Step, Story, resolve
from hotfix import keys
from hotfix.enums import Severity
from hotfix.events import Event, dump_event, parse_event
from hotfix.postmortem import build, render_md
from hotfix.state import HotfixState
from workers import runtime
from workers.worker import make_worker


@dataclass
class Scene:
    """One played step: when it happened, what came in, what Herald sent to whom, the document then."""

    index: int
    step: Step
    at: datetime
    minute: float
    events: list[dict[str, Any]] = field(default_factory=list)
    webhooks: int = 0
    families: list[Family] = field(default_factory=list)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    document: str = ""
    #: A timer step whose timer this configuration does not schedule.
    unscheduled: bool = False


@dataclass
class Played:
    """A whole story once played."""

    story: Story
    ticket: str
    start: datetime
    scenes: list[Scene]
    state: HotfixState | None
    receipts: list[dict[str, Any]]
    document: str
    #: Every hotfix the story's events named (the storm's test: exactly one).
    tickets: list[str]
    #: The post-mortem draft (``hotfix postmortem``), once a post-mortem is planned.
    postmortem: str | None = None


Watch = Callable[[int, Step], None]
Show = Callable[[Scene], None]


class Player:
    """Plays one story on a stage; ``starting`` and ``played`` let a terminal follow along."""

    def __init__(self, stage: Stage, story: Story, ticket: str, clock: StoryClock) -> None:
        self.stage = stage
        self.story = story
        self.ticket = ticket
        self.clock = clock
        settings = stage.settings
        self.locale = settings.locale
        rt = runtime.configure(settings, stage.redis)
        self.renderer = CapturingRenderer(settings.templates_path(), settings.timezone)
        rt.renderer = self.renderer
        rt.clock = clock  # messages and receipts are written at the story's time
        self.daemon = Daemon(stage.redis, settings, name=f"demo-{ticket}", block_ms=1, clock=clock)
        self.worker = make_worker(stage.redis, list(keys.QUEUE_NAMES), name=f"demo-{uuid.uuid4().hex[:12]}")
        self.seen: set[tuple[str, str]] = set()
        self.tickets: dict[str, None] = {}

    def play(self, starting: Watch | None = None, played: Show | None = None) -> Played:
        """Play every step in order; return the scenes and the final picture."""
        self.daemon.ensure_group()
        scenes = []
        for index, step in enumerate(self.story.steps, 1):
            if starting is not None:
                starting(index, step)
            scene = self.scene(index, step)
            scenes.append(scene)
            if played is not None:
                played(scene)
        redis, settings = self.stage.redis, self.stage.settings
        state = store.load(redis, self.ticket)
        receipts = store.receipts(redis, self.ticket)
        declared = state is not None and state.declared
        document = document_md(state, receipts, settings, self.clock()) if state is not None and declared else ""
        draft = None
        if state is not None and declared and state.postmortem_at is not None:  # a post-mortem is planned
            draft = render_md(build(state, receipts, settings, self.clock()), settings)
        if not self.stage.embedded:
            store.drop_timers(redis, self.ticket, settings)
        return Played(self.story, self.ticket, self.clock.start, scenes, state, receipts, document, list(self.tickets),
                      draft)

    def scene(self, index: int, step: Step) -> Scene:
        """Play one step and look at what it did."""
        if step.timer is not None:
            due = self.due(step.timer)
            if due is None:
                return Scene(index, step, self.clock(), self.clock.minute(self.clock()), unscheduled=True,
                             document=self.document())
            self.clock.jump(due)
            at = due
        else:
            at = self.clock.at(step.minute)
            self.clock.jump(at)
        scene = Scene(index, step, at, self.clock.minute(at))
        events = [self.event(step, n, raw) for n, raw in enumerate(step.events, 1)]
        if events:
            push(self.stage.redis, events)
        for burst in step.alerts:
            for body in burst.bodies(self.ticket, self.stage.settings.intake.alertmanager, at, self.locale):
                outcome = alertmanager.receive(self.stage.redis, self.stage.settings.intake.alertmanager, body, at)
                scene.webhooks += 1
                events += outcome.events
        scene.events = [dump_event(e) for e in events]
        self.tickets.update({e.ticket: None for e in events})
        self.settle()
        rows = store.receipts(self.stage.redis, self.ticket)
        scene.receipts = [r for r in rows if (str(r.get("job")), str(r.get("recipient"))) not in self.seen]
        self.seen.update((str(r.get("job")), str(r.get("recipient"))) for r in scene.receipts)
        scene.families = distinct(scene.receipts, self.renderer.renderings, self.locale.value)
        scene.document = self.document(rows)
        return scene

    def event(self, step: Step, n: int, raw: dict[str, Any]) -> Event:
        """A step's event as a producer sends it: the story's ticket, a stable id, the step's time."""
        data = resolve(raw, self.locale, self.clock.start, self.ticket)
        return parse_event({**data, "ticket": self.ticket, "id": f"{self.ticket}-{step.key}-{n}",
                            "at": self.clock.at(step.minute).isoformat()}, now=self.clock())

    def due(self, timer: str) -> datetime | None:
        """When the daemon's schedule has ``timer`` due for the story's hotfix (None: not scheduled)."""
        state = store.load(self.stage.redis, self.ticket)
        if state is None:
            return None
        settings = self.stage.settings
        return schedule(state, settings.policy(state.severity or Severity.P2), digest_windows(settings), settings.postmortem).get(timer)

    def settle(self) -> None:
        """The daemon takes in every event and fires due timers; the worker delivers every job."""
        while self.daemon.turn():
            pass
        self.worker.work(burst=True, logging_level="WARNING")

    def document(self, rows: list[dict[str, Any]] | None = None) -> str:
        """The coordination document as it stands now (empty before the declaration)."""
        redis = self.stage.redis
        state = store.load(redis, self.ticket)
        if state is None or not state.declared:
            return ""
        return document_md(state, rows if rows is not None else store.receipts(redis, self.ticket),
                           self.stage.settings, self.clock())
