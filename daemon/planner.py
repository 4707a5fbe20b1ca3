"""Who hears what, and in which order, once events are applied: the pure planner.

``plan(steps, settings, now)`` takes the steps ``lifecycle.apply`` returned for one event (a
declaration also flushes the events that waited for it) and returns a ``Plan``: the hotfix's new
state and the jobs to enqueue. It reads no Redis and no clock (``now`` is given); the only outside
reads are an audience's ``emails_file`` (``reader``) and its subscription changes (``changes``). Its inputs are never changed. It keeps:

- for each applied step, ``policy.route`` says who must hear what (the policy table);
- an update for an audience with a ``digest`` window is folded into the hotfix's digest instead of
  sent, and a closing event flushes every digest first (``timers.fold`` / ``timers.flush_digest``);
- the announcement goes first: every other message of the hotfix waits for the announcement's jobs
  (``announcement_jobs``; a reopening starts a new announcement);
- ``announced_to`` grows with each audience an announcement went to (rollback, cancellation and
  guardrail notices go to them too);
- each applied update is counted on time or late against ``update_every`` (``Plan.counts``);
- a message for an audience with approvers is held on the hotfix instead of sent, and its approvers are
  asked (``approvals.hold``); ``plan_released`` sends it once approved, or unapproved after its timeout;
  a closing step withdraws what was held of the hotfix in progress (``approvals.withdraw``).

``plan_fired`` does the same for a notice a timer fired. The consumer loads, calls ``apply`` and
``plan``, and commits.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from daemon import approvals
from daemon.lifecycle import Outcome, Step
from daemon.policy import route
from daemon.timers import Fired, digest_windows, flush_digest, fold
from hotfix.enums import EventType, MessageName, Severity
from hotfix.events import dump_event
from hotfix.jobs import JobSpec, build_jobs, read_emails_file
from hotfix.routing import Delivery
from hotfix.settings import Settings
from hotfix.state import HotfixState
from hotfix.subscribers import Changes, no_changes

Reader = Callable[[Path], list[str]]


@dataclass(frozen=True)
class Plan:
    """The new state of a hotfix (None: nothing to write), the jobs it calls for, and the communication
    figures it adds (``hotfix.communication`` counters: name and label values, counted in the same commit)."""

    state: HotfixState | None
    jobs: list[JobSpec] = field(default_factory=list)
    counts: list[tuple[str, ...]] = field(default_factory=list)


def plan(steps: list[Step], settings: Settings, now: datetime, reader: Reader = read_emails_file,
         changes: Changes = no_changes) -> Plan:
    """The state and jobs the steps of one event call for; nothing for a duplicate."""
    if all(s.outcome is Outcome.DUPLICATE for s in steps):
        return Plan(None)
    final = steps[-1].after.fork()
    steps = [*steps[:-1], dataclasses.replace(steps[-1], after=final)]
    digests = digest_windows(settings)
    announcement_jobs = list(final.announcement_jobs)
    jobs: list[JobSpec] = []
    counts: list[tuple[str, ...]] = []
    for step in steps:
        if step.outcome is Outcome.APPLIED and step.event.type is EventType.UPDATED:
            counts.append(("updates", *update_timeliness(step, settings)))
        deliveries = route(step, settings)
        if digests:
            deliveries = _fold(step, final, deliveries, digests, settings, now)
        event = dump_event(step.event)
        deliveries, asks, held = approvals.hold(final, deliveries, event, settings, now)
        counts += held
        if step.before.is_open and not step.after.is_open:  # closed: what was held of it in progress is withdrawn
            counts += approvals.withdraw(final, step.after.status, now)
        jobs += build_jobs(asks, step.after, None, settings, now, after=[], reader=reader, changes=changes)
        announcing = [d for d in deliveries if d.message is MessageName.ANNOUNCEMENT]
        others = [d for d in deliveries if d.message is not MessageName.ANNOUNCEMENT]
        new = build_jobs(announcing, step.after, event, settings, now, reader=reader, changes=changes)
        if step.reopened:
            announcement_jobs = []
        announcement_jobs += [j.job_id for j in new]
        jobs += new
        jobs += build_jobs(others, step.after, event, settings, now, after=announcement_jobs, reader=reader,
                           changes=changes)
        final.announced_to = list(dict.fromkeys([*final.announced_to, *(d.audience for d in announcing)]))
    final.announcement_jobs = announcement_jobs
    return Plan(final, jobs, counts)


def plan_fired(fired: Fired, settings: Settings, now: datetime, reader: Reader = read_emails_file,
               changes: Changes = no_changes) -> Plan:
    """The state and jobs of a notice a timer fired (it waits for the announcement like any message).

    A notice for an audience with approvers is held like any message; a held message whose timeout
    fired goes out unapproved (``plan_released``).
    """
    if fired.released is not None:
        return plan_released(fired.released, settings, now, reader, changes)
    state = fired.state.fork()
    deliveries, asks, counts = approvals.hold(state, fired.deliveries, None, settings, now)
    jobs = build_jobs(asks, state, None, settings, now, after=[], reader=reader, changes=changes)
    jobs += build_jobs(deliveries, state, None, settings, now, reader=reader, changes=changes)
    return Plan(state, jobs, counts)


def plan_released(released: approvals.Released, settings: Settings, now: datetime, reader: Reader = read_emails_file,
                  changes: Changes = no_changes) -> Plan:
    """The jobs of a held message an approver (or the timeout) released, rendered from the approved wording.

    It reaches the audience with the hotfix as it is now; a released announcement joins the hotfix's
    announcement (later messages to that audience wait for it, and it hears rollbacks and cancellations).
    """
    state = released.state.fork()
    view = (released.view or released.state).model_copy(update={"announcement_jobs": state.announcement_jobs})
    announcing = [d for d in released.deliveries if d.message is MessageName.ANNOUNCEMENT]
    others = [d for d in released.deliveries if d.message is not MessageName.ANNOUNCEMENT]
    new = build_jobs(announcing, view, released.event, settings, now, reader=reader, changes=changes)
    jobs = new + build_jobs(others, view, released.event, settings, now, reader=reader, changes=changes)
    if announcing:
        state.announcement_jobs = [*state.announcement_jobs, *(j.job_id for j in new)]
        state.announced_to = list(dict.fromkeys([*state.announced_to, *(d.audience for d in announcing)]))
    return Plan(state, jobs, list(released.counts))


def update_timeliness(step: Step, settings: Settings) -> tuple[str, str]:
    """(severity, ``on_time`` | ``late``) of an applied update: late when ``update_every`` passed since the previous word."""
    before = step.before
    severity = step.after.severity or Severity.P2
    every = settings.policy(severity).update_every
    previous = before.last_update_at or before.declared_at
    late = every is not None and previous is not None and step.event.when - previous > every
    return severity.value, "late" if late else "on_time"


def _fold(step: Step, final: HotfixState, deliveries: list[Delivery], digests: dict[str, timedelta],
          settings: Settings, now: datetime) -> list[Delivery]:
    """Keep updates for digest audiences (once per audience and event); a closing event flushes every digest first."""
    event = dump_event(step.event)
    kept: list[Delivery] = []
    folded: set[str] = set()
    for d in deliveries:
        if d.message is MessageName.UPDATE and d.audience in digests:
            if d.audience not in folded:
                fold(final, d.audience, event, now)
                folded.add(d.audience)
        else:
            kept.append(d)
    if not final.is_open:
        kept = [d for audience in list(final.digest) for d in flush_digest(final, audience, settings)] + kept
    return kept
