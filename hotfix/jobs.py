"""The job contract, and from planned deliveries to RQ jobs: one job per (message, audience, channel, batch).

``JobPayload`` is what the daemon hands a worker: built here, sent as plain JSON (RQ's JSON
serializer, ``JobPayload.wire``), parsed once at the top of ``workers.jobs.deliver``. It carries
a ``version``; a payload without one is version 1 (the same fields), and unknown keys are ignored,
so a worker of the next release runs this one's jobs and the other way round.

Job ids are a stable hash of (cause, message, audience, channel, batch). The daemon enqueues
jobs inside the transaction that records their event as applied, so a redelivered event
enqueues nothing new; replays and fallbacks enqueue with RQ's ``unique=True``. Jobs name
their function by dotted path, so the daemon never imports the workers.

A commit that queues many jobs on one queue — ``BUNDLE_FROM`` or more (a fan-out to a large audience), or
``BUNDLE_FROM_SEVERAL`` or more for several hotfixes (an alert storm) — queues them as bundles of up to
``BUNDLE_SIZE``: one RQ job (``BUNDLE_FUNCTION``) whose worker runs each payload in turn, exactly as it
would run it alone, so RQ's own cost (some 60 Redis commands and
3 ms) is paid once per bundle. A message of a bundle that must come back (a hold, a retry) is queued again
alone (``enqueue_later``). The jobs of one hotfix's message — a P0 read on its own, as it usually is — are
not bundled: its card and its email go to two workers at once.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from redis import Redis
from redis.client import Pipeline
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.serializers import JSONSerializer

from hotfix import keys, subscribers
from hotfix.enums import Channel, Locale, MessageName, Severity
from hotfix.keys import TICKET_MAX, TICKET_PATTERN
from hotfix.limits import JOB_TEXT_MAX, clip_all
from hotfix.routing import Delivery
from hotfix.settings import Settings
from hotfix.state import NOT_IN_JOBS, HotfixState

log = logging.getLogger(__name__)

#: The RQ entry point, by dotted name.
JOB_FUNCTION = "workers.jobs.deliver"
#: How long RQ keeps finished and failed jobs (so a late duplicate enqueue still finds them).
RESULT_TTL = 7 * 86400
#: The RQ entry point of a bundle of jobs, by dotted name.
BUNDLE_FUNCTION = "workers.jobs.deliver_bundle"
#: From this many jobs on one queue in one commit, they are queued in bundles.
BUNDLE_FROM = 8
#: From this many, when they concern several hotfixes (a storm: the daemon reads a few alerts at a time).
BUNDLE_FROM_SEVERAL = 4
#: Jobs in one bundle, at most.
BUNDLE_SIZE = 32
#: RQ's own retries, for a job that crashed or whose worker died (the job decides delivery retries itself;
#: receipts make a rerun send only what was not sent).
CRASH_RETRY = Retry(max=5, interval=[5, 15, 30, 60, 120])
#: Timeline entries carried in a job (the most recent ones).
_TIMELINE_IN_JOB = 30
#: The version of ``JobPayload`` this release writes (1: the same fields, without ``version``).
JOB_VERSION = 2


class JobPayload(BaseModel):
    """One message to one batch of recipients of one audience, on one channel: a job's only argument."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    #: ``JOB_VERSION`` when the daemon builds it; absent (version 1, the same fields) in the first release's jobs.
    version: int = 1
    #: The receipt key of the job (its first RQ id; a replay keeps it): receipts are ``<job_key>|<recipient>``.
    job_key: str
    ticket: Annotated[str, Field(pattern=TICKET_PATTERN, max_length=TICKET_MAX)]
    message: MessageName
    audience: str
    channel: Channel
    #: Email addresses, or the one Teams channel name.
    recipients: list[str]
    locale: Locale
    severity: Severity
    #: What caused it: the event id, a timer occurrence, ``fallback:<job_key>``...
    cause: str = ""
    #: Job keys of the hotfix's announcement, which this message waits for.
    after: list[str] = Field(default_factory=list)
    #: The hotfix as the message describes it (without ``NOT_IN_JOBS``, recent timeline only).
    hotfix: HotfixState
    #: The event as applied (plain data for the templates), or None for a notice Herald originates.
    event: dict[str, Any] | None = None
    #: What a notice says (reminder, escalation, guardrail, digest, fallback...): plain data for the templates.
    notice: dict[str, Any] | None = None
    created_at: AwareDatetime | None = None
    #: The person of ``[people]`` the message is for (a role prompt, a reminder): mentioned, and acting through its link.
    person: str | None = None

    def wire(self) -> dict[str, Any]:
        """The plain JSON data RQ stores."""
        return self.model_dump(mode="json", exclude={"hotfix": set(NOT_IN_JOBS)})

    def describe(self) -> str:
        """``announcement INC-1 → oncall/email``, for RQ's job description and logs."""
        return f"{self.message.value} {self.ticket} → {self.audience}/{self.channel.value}"


@dataclass(frozen=True)
class JobSpec:
    """A job to enqueue: its id, its queue and its payload."""

    job_id: str
    queue: str
    payload: JobPayload


def job_id(cause: str, message: MessageName, audience: str, channel: Channel, batch: str) -> str:
    """A stable id (letters, digits, ``-`` only, as RQ's ``unique`` needs)."""
    digest = hashlib.sha256("\x1f".join([cause, message.value, audience, channel.value, batch]).encode()).hexdigest()
    return f"hf-{digest[:40]}"


def delivery_id(job_key: str, recipient: str) -> str:
    """One delivery: a job to one of its recipients (its receipt's field, its dead letter's id, its Message-ID's seed)."""
    return f"{job_key}|{recipient}"


def read_emails_file(path: Path) -> list[str]:
    """A stakeholder list kept outside: one address a line; blank lines and ``#`` comments skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        log.error("cannot read emails_file %s: %s", path, exc.strerror)
        return []
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def recipients(settings: Settings, audience: str, reader: Callable[[Path], list[str]] = read_emails_file,
               changes: subscribers.Changes = subscribers.no_changes) -> list[str]:
    """The email addresses of an audience: its list, then its file, without those taken out, then those who joined."""
    return subscribers.recipients(settings, audience, changes(audience), reader)


def snapshot(state: HotfixState) -> HotfixState:
    """The state as a job carries it: the recent timeline, each text cut to ``JOB_TEXT_MAX`` (channels cut further)."""
    return state.model_copy(update={"timeline": state.timeline[-_TIMELINE_IN_JOB:]}).clipped(JOB_TEXT_MAX)


def build_jobs(deliveries: Iterable[Delivery], state: HotfixState, event: dict[str, Any] | None,
               settings: Settings, now: datetime, after: list[str] | None = None,
               reader: Callable[[Path], list[str]] = read_emails_file,
               changes: subscribers.Changes = subscribers.no_changes) -> list[JobSpec]:
    """Expand deliveries into jobs, batching email recipients by ``[smtp] batch_size``.

    ``changes`` gives each audience's stored subscription changes (``hotfix.subscribers.Book.get``).
    """
    deliveries = list(deliveries)
    if not deliveries:
        return []
    severity = state.severity or Severity.P2
    queue = keys.queue_for(severity.rank)
    snap = snapshot(state)
    event_data = clip_all(event, JOB_TEXT_MAX)
    specs: list[JobSpec] = []
    for delivery in deliveries:
        if delivery.channel is Channel.TEAMS:
            batches = [[delivery.target or ""]]
        else:
            addresses = [delivery.target] if delivery.target else recipients(settings, delivery.audience, reader, changes)
            size = settings.smtp.batch_size
            batches = [addresses[i:i + size] for i in range(0, len(addresses), size)]
        for index, batch in enumerate(batches):
            if not batch:
                continue
            label = delivery.target if delivery.channel is Channel.TEAMS else str(index)
            jid = job_id(delivery.cause, delivery.message, delivery.audience, delivery.channel, label or "")
            waits = [] if delivery.message is MessageName.ANNOUNCEMENT else list(after or state.announcement_jobs)
            specs.append(JobSpec(jid, queue, JobPayload(
                version=JOB_VERSION, job_key=jid, ticket=state.ticket, message=delivery.message, audience=delivery.audience,
                channel=delivery.channel, recipients=batch, locale=_locale(settings, delivery),
                severity=severity, cause=delivery.cause, after=waits, hotfix=snap, event=event_data,
                notice=clip_all(delivery.notice, JOB_TEXT_MAX), created_at=now, person=delivery.person,
            )))
    return specs


def _locale(settings: Settings, delivery: Delivery) -> Locale:
    """A person's own email is in their locale; everything else in its audience's."""
    if delivery.person and delivery.channel is Channel.EMAIL:
        return settings.person_locale(delivery.person)
    return settings.audience_locale(delivery.audience)


_QUEUES: dict[tuple[int, str], Queue] = {}


def _queue(redis: Redis, name: str) -> Queue:
    key = (id(redis), name)
    if key not in _QUEUES:
        _QUEUES[key] = Queue(name, connection=redis, serializer=JSONSerializer)
    return _QUEUES[key]


def enqueue_in(pipe: Pipeline, redis: Redis, specs: Iterable[JobSpec], settings: Settings) -> None:
    """Queue the jobs on ``pipe``, inside the caller's transaction (the daemon's commit); many on one queue in bundles."""
    timeout = int(settings.worker.job_timeout.total_seconds())
    by_queue: dict[str, list[JobSpec]] = {}
    for spec in specs:
        by_queue.setdefault(spec.queue, []).append(spec)
    for name, group in by_queue.items():
        several = len({spec.payload.ticket for spec in group}) > 1
        if len(group) < (BUNDLE_FROM_SEVERAL if several else BUNDLE_FROM):
            datas = [_job_data(spec, timeout) for spec in group]
        else:
            datas = [_bundle_data(group[i:i + BUNDLE_SIZE], timeout) for i in range(0, len(group), BUNDLE_SIZE)]
        _queue(redis, name).enqueue_many(datas, pipeline=pipe)


def _job_data(spec: JobSpec, timeout: int) -> Any:
    return Queue.prepare_data(JOB_FUNCTION, kwargs={"payload": spec.payload.wire()}, job_id=spec.job_id,
                              timeout=timeout, result_ttl=RESULT_TTL, failure_ttl=RESULT_TTL, retry=CRASH_RETRY,
                              description=spec.payload.describe())


def bundle_id(job_ids: Iterable[str]) -> str:
    """The stable id of a bundle of jobs (letters, digits, ``-``)."""
    return f"hfb-{hashlib.sha256(chr(31).join(job_ids).encode()).hexdigest()[:40]}"


def _bundle_data(group: list[JobSpec], timeout: int) -> Any:
    """One RQ job running ``group``'s payloads in turn; its timeout grows with them (each may take a send's timeout)."""
    return Queue.prepare_data(
        BUNDLE_FUNCTION, kwargs={"payloads": [spec.payload.wire() for spec in group]},
        job_id=bundle_id(spec.job_id for spec in group), timeout=timeout * 2, result_ttl=RESULT_TTL,
        failure_ttl=RESULT_TTL, retry=CRASH_RETRY,
        description=f"{len(group)} jobs: {group[0].payload.describe()}, …")


def requeue_alone(redis: Redis, queue_name: str, payloads: list[Any], timeout: int) -> list[str]:
    """Queue each payload of a bundle as its own job at the front of ``queue_name``, in the bundle's order (a
    bundle whose worker died: a message that kills workers then costs only itself); their job ids."""
    queue = _queue(redis, queue_name)
    ids: list[str] = []
    for raw in reversed(payloads):  # each at the front: the first ends up first
        key = raw.get("job_key") if isinstance(raw, dict) else None
        job = queue.create_job(JOB_FUNCTION, kwargs={"payload": raw}, job_id=key if isinstance(key, str) else None,
                               timeout=timeout, result_ttl=RESULT_TTL, failure_ttl=RESULT_TTL, retry=CRASH_RETRY,
                               description=f"{key} (from a bundle)")
        queue.enqueue_job(job, at_front=True)
        ids.append(job.id)
    return ids[::-1]


def enqueue_later(redis: Redis, payload: JobPayload, settings: Settings, delay: float, meta: dict[str, Any]) -> None:
    """Queue one job of a bundle again, alone, in ``delay`` seconds, with what its run so far counted (``meta``)."""
    queue = _queue(redis, keys.queue_for(payload.severity.rank))
    queue.enqueue_in(timedelta(seconds=max(delay, 0.0)), JOB_FUNCTION, kwargs={"payload": payload.wire()},
                     job_id=payload.job_key, timeout=int(settings.worker.job_timeout.total_seconds()),
                     result_ttl=RESULT_TTL, failure_ttl=RESULT_TTL, retry=CRASH_RETRY, meta=meta,
                     description=payload.describe())


def enqueue(redis: Redis, specs: Iterable[JobSpec], settings: Settings) -> int:
    """Enqueue each job once (``unique=True``), outside any transaction: replays and fallbacks. Returns new jobs."""
    new = 0
    timeout = int(settings.worker.job_timeout.total_seconds())
    for spec in specs:
        try:
            _queue(redis, spec.queue).enqueue_call(
                JOB_FUNCTION, kwargs={"payload": spec.payload.wire()}, job_id=spec.job_id, unique=True,
                timeout=timeout, result_ttl=RESULT_TTL, failure_ttl=RESULT_TTL, retry=CRASH_RETRY,
                description=spec.payload.describe(),
            )
            new += 1
        except DuplicateJobError:
            log.debug("job %s already enqueued", spec.job_id)
    return new
