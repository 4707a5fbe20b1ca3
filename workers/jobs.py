"""The RQ entry point ``deliver``: one message to one batch of recipients, said once.

``deliver(payload)`` parses its payload once (``hotfix.jobs.JobPayload``; an invalid one is
dead-lettered, never retried), then in order:

1. waits while the hotfix's announcement is not delivered, and while its Teams webhook is held
   off after a failure or has no free slot under Herald's rate limit (waits are not attempts; after
   ``MAX_ORDER_WAITS`` / ``MAX_HOLDS`` it goes anyway);
2. skips recipients a receipt already records as sent, that an earlier run gave up on, or that left
   the audience (``hotfix.subscribers``) since the job was built;
3. renders and sends to the others, and records every outcome as a receipt;
4. acts on ``workers.retry``: done, come back later (RQ ``Retry``: the only place a
   ``TransientError`` becomes a retry), or give up (receipt ``failed``, a delivery dead letter,
   and for P0 the policy's ``fallback`` audiences).

``deliver_bundle(payloads)`` runs the payloads of a bundle (``hotfix.jobs``: many jobs of one commit on
one queue) one after another through the same steps; a message that must come back is queued again
alone (``hotfix.jobs.enqueue_later``) instead of holding the bundle, and a bundle run again after a crash
sends only what its receipts do not record.

Counters live in the RQ job's meta (``Tally``), saved whenever the job comes back: ``attempts``
(runs that sent), ``order_waits`` and ``holds`` (waits), ``given_up`` (recipients failed for
good). RQ's own retry count is never read. A replay is a new job, so it starts afresh; a run cut
short by a crash is not counted (RQ's ``CRASH_RETRY`` bounds those).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError
from redis import Redis
from redis.exceptions import RedisError
from rq import Retry, get_current_job
from rq.job import Job

from hotfix import communication, keys, metrics, subscribers
from hotfix.actions import act_url, grant_for
from hotfix.enums import Channel, DeliveryStatus, MessageName, Severity
from hotfix.jobs import JobPayload, build_jobs, delivery_id, enqueue, enqueue_later
from hotfix.routing import expand
from hotfix.settings import Settings
from workers import approval, postmortem_draft, receipts, retry, unsubscribe
from workers.channels import send_email, send_teams
from workers.errors import DeliveryError, PermanentError, Throttled
from workers.retry import Hold, RetryDecision, Verdict
from workers.runtime import Runtime, current

log = logging.getLogger(__name__)

#: RQ's own cap on retries; ours (``[worker] max_retries``) is decided first, by ``workers.retry``.
RQ_RETRY_CAP = 10_000
#: How many times a message waits (1 s each) for its announcement before going anyway.
MAX_ORDER_WAITS = 120
#: How many times a Teams job waits out its webhook's hold (a few seconds each) before trying anyway.
MAX_HOLDS = 200
#: Dead letters kept (approximately) before the oldest are trimmed.
DEAD_LETTERS_MAXLEN = 100_000

Outcomes = dict[str, DeliveryError | None]


@dataclass
class Tally:
    """What the earlier runs of one RQ job did (kept in its meta)."""

    attempts: int = 0
    order_waits: int = 0
    holds: int = 0
    given_up: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, job: Job | None) -> Tally:
        meta = job.meta if job is not None else {}
        return cls(int(meta.get("attempts", 0)), int(meta.get("order_waits", 0)), int(meta.get("holds", 0)),
                   list(meta.get("given_up", [])))

    def save(self, job: Job | None) -> None:
        if job is not None:
            job.meta.update(asdict(self))
            job.save_meta()  # type: ignore[no-untyped-call]


#: How a run that must come back comes back: (the job, its tally, the decision) → what the run returns.
ComeBack = Callable[[JobPayload, Tally, RetryDecision], Any]


def deliver(payload: dict[str, Any]) -> Any:
    """Deliver one job's message; return a summary, or ``Retry`` when it must come back."""
    rq_job = get_current_job()
    return _deliver(payload, rq_job, Tally.of(rq_job), lambda _job, tally, decision: _come_back(rq_job, tally, decision))


def deliver_bundle(payloads: list[Any]) -> Any:
    """Deliver a bundle's messages in turn (``hotfix.jobs.BUNDLE_FUNCTION``), each as if it were its own job; one that
    must come back is queued again alone (its tally in its meta), so the others are not held up or sent twice."""
    rq_job = get_current_job()
    rt = current()
    redis: Redis = rq_job.connection if rq_job is not None else rt.redis  # type: ignore[assignment]

    def alone(job: JobPayload, tally: Tally, decision: RetryDecision) -> str:
        enqueue_later(redis, job, rt.settings, decision.delay, asdict(tally))
        return f"back alone in {decision.delay:.1f}s"

    return [_deliver(payload, rq_job, Tally(), alone) for payload in payloads]


#: The job key of the message this thread is delivering (a bundle's RQ job delivers several in turn).
_delivering: ContextVar[str | None] = ContextVar("delivering", default=None)


def current_job_key() -> str | None:
    """The job key of the message being delivered here, the one its receipts name (None outside a delivery)."""
    return _delivering.get()


def _deliver(payload: Any, rq_job: Job | None, tally: Tally, come_back: ComeBack) -> Any:
    """One message: parse, wait or send, record (``tally``: what earlier runs of it counted)."""
    rt = current()
    redis: Redis = rq_job.connection if rq_job is not None else rt.redis  # type: ignore[assignment]
    try:
        job = JobPayload.model_validate(payload)
    except ValidationError as exc:
        return _invalid(redis, rq_job, payload, exc)
    token = _delivering.set(job.job_key)
    try:
        return _run(rt, redis, rq_job, job, tally, come_back)
    finally:
        _delivering.reset(token)


def _run(rt: Runtime, redis: Redis, rq_job: Job | None, job: JobPayload, tally: Tally, come_back: ComeBack) -> Any:
    seen = _look(redis, job)
    hold = _hold(job, tally, rq_job is not None, seen)
    if hold is not None:
        return come_back(job, tally, retry.decide(hold, tally.attempts, job.severity, rt.settings.worker))

    done = seen.sent
    pending = [r for r in job.recipients if r not in done and r not in tally.given_up]
    if pending and job.channel is Channel.EMAIL:  # who left the audience since the job was built gets nothing
        pending = subscribers.still_subscribed(redis, job.audience, pending)
    if not pending:
        receipts.mark_done(redis, job.job_key)
        return "already sent"

    tally.attempts += 1
    outcomes, via = _send(rt, redis, job, pending)
    throttled = _throttled(outcomes)
    if throttled is not None and rq_job is not None and tally.holds < MAX_HOLDS:  # nothing sent: a wait, not an attempt
        tally.attempts -= 1
        tally.holds += 1
        return come_back(job, tally, retry.decide(throttled, tally.attempts, job.severity, rt.settings.worker))
    return _settle(rt, redis, come_back, job, tally, outcomes, via)


@dataclass(frozen=True)
class Seen:
    """What one round trip reads before a run: whether the announcement is out, the webhook's hold, who has it."""

    announced: bool
    hold_ms: int
    sent: set[str]


def _look(redis: Redis, job: JobPayload) -> Seen:
    """Read, in one round trip, the announcement's ``done`` markers, the webhook's hold and the job's receipts."""
    pipe = redis.pipeline(transaction=False)
    if job.after:
        pipe.mget([keys.done(k) for k in job.after])
    if job.channel is Channel.TEAMS:
        pipe.pttl(keys.breaker(job.recipients[0]))
    if job.recipients:
        pipe.hmget(keys.receipts(job.ticket), receipts.fields(job.job_key, job.recipients))
    answers = iter(pipe.execute())
    announced = all(next(answers)) if job.after else True
    hold_ms = int(next(answers)) if job.channel is Channel.TEAMS else -2
    sent = receipts.sent_among(job.recipients, next(answers)) if job.recipients else set()
    return Seen(announced, hold_ms, sent)


def _hold(job: JobPayload, tally: Tally, in_rq: bool, seen: Seen) -> Hold | None:
    """Why the job must not try yet (a wait is counted in ``tally``), or None."""
    if not in_rq:
        return None
    if not seen.announced:
        if tally.order_waits < MAX_ORDER_WAITS:
            tally.order_waits += 1
            return Hold(1, "the announcement is not delivered yet")
        log.warning("%s: announcement still not delivered; sending %s anyway", job.ticket, job.message.value)
    if job.channel is Channel.TEAMS and tally.holds < MAX_HOLDS and seen.hold_ms > 0:
        tally.holds += 1  # the webhook failed a moment ago: come back when its hold ends
        return Hold(seen.hold_ms / 1000, "the webhook is held off after a failure")
    return None


def _throttled(outcomes: Outcomes) -> Hold | None:
    """A wait for the webhook's next free slot, when Herald's own limit stopped every recipient (nothing was sent)."""
    errors = list(outcomes.values())
    if not errors or not all(isinstance(e, Throttled) for e in errors):
        return None
    wait = max((e.retry_after or 0.0) for e in errors if isinstance(e, Throttled))
    return Hold(wait, "the webhook's rate limit is reached")


def _come_back(rq_job: Job | None, tally: Tally, decision: RetryDecision) -> Retry:
    """RQ runs the job again in ``decision.delay`` seconds, with its tally saved."""
    tally.save(rq_job)
    return Retry(max=RQ_RETRY_CAP, interval=decision.delay)


def _send(rt: Runtime, redis: Redis, job: JobPayload, pending: list[str]) -> tuple[Outcomes, str]:
    """Render and send; every recipient gets an outcome (None = sent)."""
    now = rt.clock()
    try:
        link = _act_url(rt.settings, job, now)
        notice = postmortem_draft.notice(rt.settings, job, approval.request_notice(rt.settings, rt.renderer, job, now))
        if job.channel is Channel.TEAMS:
            card = rt.renderer.teams(job.message, job.locale, job.hotfix, event=job.event, notice=notice, now=now,
                                     person=job.person, act_url=link)
            return send_teams(rt, job, pending[0], card)
        foot = unsubscribe.PLACEHOLDER if unsubscribe.applies(rt.settings, job.audience) else None
        mail = rt.renderer.email(job.message, job.locale, job.hotfix, event=job.event, notice=notice, now=now,
                                 person=job.person, act_url=link, unsubscribe_url=foot)
        draft = postmortem_draft.attachment(rt.settings, redis, job, now)
        return send_email(rt, job, pending, mail, attachments=[draft] if draft else [])
    except DeliveryError as exc:
        return {r: exc.recipients.get(r, exc) for r in pending}, "error"
    except Exception as exc:  # a template or data bug: permanent, with the reason, never a crash loop
        log.exception("%s: cannot render %s", job.ticket, job.message.value)
        error = PermanentError(f"cannot render {job.message.value}: {type(exc).__name__}: {exc}")
        return {r: error for r in pending}, "error"


def _act_url(settings: Settings, job: JobPayload, now: datetime) -> str | None:
    """The signed action link of this message: for responders of an open hotfix only (never stakeholders)."""
    if not job.hotfix.is_open or job.message is MessageName.APPROVAL_REQUEST:  # an approver gets approval links
        return None
    role = (job.notice or {}).get("role") if job.person else None
    grant = grant_for(settings, ticket=job.ticket, audience=job.audience, person=job.person,
                      role=role if isinstance(role, str) else None, locale=job.locale)
    return act_url(settings, grant, now) if grant is not None else None


def _settle(rt: Runtime, redis: Redis, come_back: ComeBack, job: JobPayload, tally: Tally, outcomes: Outcomes,
            via: str) -> Any:
    """Record every outcome and act on the verdicts: done, or come back for those that may still succeed."""
    attempt = tally.attempts
    decisions = {r: retry.decide(error, attempt, job.severity, rt.settings.worker) for r, error in outcomes.items()}
    rows = [(r, retry.RECEIPT_STATUS[d.verdict], d.reason or None) for r, d in decisions.items()]
    receipts.record(redis, job, rows, via=via, attempt=attempt, at=rt.clock())
    _count(job, rows)
    dead = [(r, d.reason) for r, d in decisions.items() if d.verdict is Verdict.GIVE_UP]
    if dead:
        _dead_letter(redis, job, dead)
        _fallback(rt, redis, job, dead)
    following = retry.next_run(decisions.values())
    sent = sum(1 for d in decisions.values() if d.verdict is Verdict.DONE)
    if sent:
        _announced(rt, redis, job)
    log.info("%s: %d sent, %d retrying, %d failed", job.describe(), sent, len(decisions) - sent - len(dead), len(dead))
    if following.verdict is Verdict.RETRY:
        tally.given_up += [r for r, _ in dead]
        return come_back(job, tally, following)
    receipts.mark_done(redis, job.job_key)
    return {"sent": sent, "failed": len(dead)}


def _announced(rt: Runtime, redis: Redis, job: JobPayload) -> None:
    """The first announcement of a declaration sent: its time from the declaration counted, once (shared figures)."""
    declared = job.hotfix.declared_at
    if job.message is not MessageName.ANNOUNCEMENT or declared is None or job.cause.startswith("fallback:"):
        return
    try:
        communication.first_announcement(redis, job.ticket, job.hotfix.declared_id or declared.isoformat(),
                                         job.severity.value, (rt.clock() - declared).total_seconds())
    except RedisError as exc:  # a figure lost, never a delivery repeated
        log.warning("%s: time to announce not counted (Redis %s)", job.ticket, type(exc).__name__)


def _count(job: JobPayload, rows: list[tuple[str, DeliveryStatus, str | None]]) -> None:
    """Delivery outcomes by channel, and the latency of the sent ones."""
    for _recipient, status, _reason in rows:
        metrics.delivery_attempts.labels(channel=job.channel.value, outcome=status.value).inc()
        if status is DeliveryStatus.SENT and job.created_at is not None:
            latency = (datetime.now(timezone.utc) - job.created_at).total_seconds()
            metrics.delivery_latency.labels(channel=job.channel.value).observe(max(latency, 0.0))


def _fallback(rt: Runtime, redis: Redis, job: JobPayload, dead: list[tuple[str, str]]) -> None:
    """A P0 message that failed for good is also sent to the policy's ``fallback`` audiences."""
    if job.severity is not Severity.P0 or job.cause.startswith("fallback:"):
        return
    targets = [a for a in rt.settings.policy(Severity.P0).fallback if a != job.audience]
    if not targets:
        return
    failed = {"audience": job.audience, "channel": job.channel.value, "recipients": [r for r, _ in dead],
              "reason": dead[0][1]}
    deliveries = expand(job.message, targets, rt.settings, f"fallback:{job.job_key}",
                        {**(job.notice or {}), "failed": failed})
    specs = build_jobs(deliveries, job.hotfix, job.event, rt.settings, datetime.now(timezone.utc), after=[],
                       changes=subscribers.Book(redis).get)
    enqueue(redis, specs, rt.settings)
    log.warning("%s failed for good; fallback %s told", job.describe(), ", ".join(targets))


def _dead_letter(redis: Redis, job: JobPayload, dead: list[tuple[str, str]]) -> None:
    """Keep each recipient's failed delivery with its reason and its job, to list and replay."""
    pipe = redis.pipeline(transaction=False)
    for recipient, reason in dead:
        raw = job.model_copy(update={"recipients": [recipient]}).wire()
        pipe.xadd(keys.DELIVERY_DEAD_LETTERS, {
            "id": delivery_id(job.job_key, recipient), "error": reason, "ticket": job.ticket, "message": job.message.value,
            "audience": job.audience, "channel": job.channel.value, "recipient": recipient, "raw": json.dumps(raw)},
            maxlen=DEAD_LETTERS_MAXLEN, approximate=True)
    pipe.execute()


def _invalid(redis: Redis | None, rq_job: Job | None, payload: Any, exc: ValidationError) -> dict[str, Any]:
    """A payload no version of the contract reads: dead-lettered with the reason, never retried."""
    fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
    reason = f"invalid job payload: {fields}"
    job_id = rq_job.id if rq_job is not None else "?"
    log.error("job %s: %s", job_id, reason)
    if redis is not None:
        redis.xadd(keys.DELIVERY_DEAD_LETTERS, {"id": job_id, "error": reason[:2000],
                                                "raw": json.dumps(payload, default=str)[:65536]},
                   maxlen=DEAD_LETTERS_MAXLEN, approximate=True)
    return {"sent": 0, "failed": "invalid payload"}
