"""The RQ entry point, and the one place that decides retries.

``deliver(payload)`` renders one message for one audience and channel, sends it to
the recipients of its batch not yet served, and records each outcome. A
``TransientError`` becomes a retry with exponential backoff (faster for P0, capped,
honouring Retry-After); a ``PermanentError`` or exhausted retries is recorded as
failed and kept in the delivery dead letters. A message other than the announcement
waits until the hotfix's announcement jobs have finished.
"""
from __future__ import annotations

import json
import logging
import math
from datetime import datetime, timezone
from typing import Any

from redis import Redis
from rq import Retry, get_current_job
from rq.job import Job

from hotfix import keys, metrics
from hotfix.enums import Channel, DeliveryStatus, Locale, MessageName, Severity
from hotfix.jobs import build_jobs, enqueue
from hotfix.routing import expand
from hotfix.settings import Settings
from hotfix.state import HotfixState
from workers import receipts
from workers.delivery import send_email, send_teams
from workers.errors import DeliveryError, PermanentError, TransientError
from workers.runtime import Runtime, current

log = logging.getLogger(__name__)

#: RQ's own cap on retries; ours (``[worker] max_retries``) is checked first.
RQ_RETRY_CAP = 10_000
#: How many times a message waits (1 s each) for its announcement before going anyway.
MAX_ORDER_WAITS = 120
#: How many times a Teams job waits out its webhook's hold (a few seconds each) before trying anyway.
MAX_HOLDS = 200


def backoff(settings: Settings, severity: Severity, attempt: int, retry_after: float | None = None) -> int:
    """Seconds before the next attempt: exponential, capped, faster for P0, never before Retry-After."""
    cfg = settings.worker
    base, cap = (cfg.p0_backoff_base, cfg.p0_backoff_cap) if severity is Severity.P0 else (cfg.backoff_base,
                                                                                          cfg.backoff_cap)
    delay = min(base.total_seconds() * (2 ** max(attempt - 1, 0)), cap.total_seconds())
    if retry_after is not None:
        delay = max(delay, retry_after)
    return max(1, int(round(delay)))


def deliver(payload: dict[str, Any]) -> Any:
    """Deliver one job's message; return a summary, or ``Retry`` when some recipients must be tried again."""
    rt = current()
    job = get_current_job()
    redis: Redis = job.connection if job is not None else rt.redis  # type: ignore[assignment]
    # waiting (for the announcement, or for a failing webhook's hold) is not an attempt
    waited = int(job.meta.get("order_waits", 0)) + int(job.meta.get("holds", 0)) if job is not None else 0
    attempt = (job.number_of_retries or 0) + 1 - waited if job is not None else 1

    if not receipts.all_done(redis, payload.get("after") or []):
        if job is not None and int(job.meta.get("order_waits", 0)) < MAX_ORDER_WAITS:
            return _wait(job, "order_waits", 1)
        log.warning("%s: announcement still not delivered; sending %s anyway", payload["ticket"], payload["message"])

    if payload["channel"] == Channel.TEAMS.value and job is not None and int(job.meta.get("holds", 0)) < MAX_HOLDS:
        holding = redis.pttl(keys.breaker(payload["recipients"][0]))
        if holding > 0:  # the webhook failed a moment ago: come back when its hold ends, without an attempt
            return _wait(job, "holds", math.ceil(holding / 1000))

    done = receipts.already_sent(redis, payload["ticket"], payload["job_key"], payload["recipients"])
    pending = [r for r in payload["recipients"] if r not in done]
    if not pending:
        receipts.mark_done(redis, payload["job_key"])
        return "already sent"

    outcomes, via = _send(rt, payload, pending)
    return _settle(rt, redis, payload, outcomes, via, attempt)


def _wait(job: Job, counter: str, seconds: int) -> Retry:
    """Come back in ``seconds`` without counting an attempt."""
    job.meta[counter] = int(job.meta.get(counter, 0)) + 1
    job.save_meta()  # type: ignore[no-untyped-call]
    return Retry(max=RQ_RETRY_CAP, interval=max(1, seconds))


def _send(rt: Runtime, payload: dict[str, Any], pending: list[str]) -> tuple[dict[str, DeliveryError | None], str]:
    """Render and send; every recipient gets an outcome (None = sent)."""
    hotfix = HotfixState.model_validate(payload["hotfix"])
    message = MessageName(payload["message"])
    locale = Locale(payload["locale"])
    now = rt.clock()
    try:
        if Channel(payload["channel"]) is Channel.TEAMS:
            card = rt.renderer.teams(message, locale, hotfix, event=payload.get("event"),
                                     notice=payload.get("notice"), now=now)
            return send_teams(rt, payload, pending[0], card)
        mail = rt.renderer.email(message, locale, hotfix, event=payload.get("event"),
                                 notice=payload.get("notice"), now=now)
        return send_email(rt, payload, pending, mail)
    except DeliveryError as exc:
        return {r: exc.recipients.get(r, exc) for r in pending}, "error"
    except Exception as exc:  # a template or data bug: permanent, with the reason, never a crash loop
        log.exception("%s: cannot render %s", payload["ticket"], payload["message"])
        error = PermanentError(f"cannot render {payload['message']}: {type(exc).__name__}: {exc}")
        return {r: error for r in pending}, "error"


def _settle(rt: Runtime, redis: Redis, payload: dict[str, Any], outcomes: dict[str, DeliveryError | None],
            via: str, attempt: int) -> Any:
    """Record every outcome and decide: done, or retry those that failed transiently."""
    settings = rt.settings
    severity = Severity(payload["severity"])
    retry_left = attempt <= settings.worker.max_retries
    rows: list[tuple[str, DeliveryStatus, str | None]] = []
    dead: list[tuple[str, str]] = []
    retry_after: float | None = None
    for recipient, error in outcomes.items():
        if error is None:
            rows.append((recipient, DeliveryStatus.SENT, None))
        elif isinstance(error, TransientError) and retry_left:
            rows.append((recipient, DeliveryStatus.RETRYING, f"{error.reason} (attempt {attempt})"))
            retry_after = max(retry_after or 0.0, error.retry_after or 0.0) or None
        else:
            reason = error.reason if isinstance(error, PermanentError) else \
                f"gave up after {attempt} attempts: {error.reason}"
            rows.append((recipient, DeliveryStatus.FAILED, reason))
            dead.append((recipient, reason))
    receipts.record(redis, payload, rows, via=via, attempt=attempt)
    created = datetime.fromisoformat(payload["created_at"]) if payload.get("created_at") else None
    for _recipient, status, _reason in rows:
        metrics.deliveries.labels(channel=payload["channel"], outcome=status.value).inc()
        if status is DeliveryStatus.SENT and created is not None:
            latency = (datetime.now(timezone.utc) - created).total_seconds()
            metrics.delivery_latency.labels(channel=payload["channel"]).observe(max(latency, 0.0))
    if dead:
        _dead_letter(redis, payload, dead)
        _fallback(rt, redis, payload, dead)
    retrying = [r for r, s, _ in rows if s is DeliveryStatus.RETRYING]
    sent = sum(1 for _, s, _ in rows if s is DeliveryStatus.SENT)
    log.info("%s %s → %s/%s: %d sent, %d retrying, %d failed", payload["ticket"], payload["message"],
             payload["audience"], payload["channel"], sent, len(retrying), len(dead))
    if retrying:
        return Retry(max=RQ_RETRY_CAP, interval=backoff(settings, severity, attempt, retry_after))
    receipts.mark_done(redis, payload["job_key"])
    return {"sent": sent, "failed": len(dead)}


def _fallback(rt: Runtime, redis: Redis, payload: dict[str, Any], dead: list[tuple[str, str]]) -> None:
    """A P0 message that failed for good is also sent to the policy's ``fallback`` audiences."""
    if payload["severity"] != Severity.P0.value or str(payload.get("cause", "")).startswith("fallback:"):
        return
    targets = [a for a in rt.settings.policy(Severity.P0).fallback if a != payload["audience"]]
    if not targets:
        return
    failed = {"audience": payload["audience"], "channel": payload["channel"],
              "recipients": [r for r, _ in dead], "reason": dead[0][1]}
    deliveries = expand(MessageName(payload["message"]), targets, rt.settings, f"fallback:{payload['job_key']}",
                        {**(payload.get("notice") or {}), "failed": failed})
    state = HotfixState.model_validate(payload["hotfix"])
    specs = build_jobs(deliveries, state, payload.get("event"), rt.settings, datetime.now(timezone.utc), after=[])
    enqueue(redis, specs, rt.settings)
    log.warning("%s: %s to %s failed for good; fallback %s told", payload["ticket"], payload["message"],
                payload["audience"], ", ".join(targets))


def _dead_letter(redis: Redis, payload: dict[str, Any], dead: list[tuple[str, str]]) -> None:
    pipe = redis.pipeline(transaction=False)
    for recipient, reason in dead:
        raw = dict(payload, recipients=[recipient])
        pipe.xadd(keys.DELIVERY_DEAD_LETTERS, {
            "id": f"{payload['job_key']}|{recipient}", "error": reason, "ticket": payload["ticket"],
            "message": payload["message"], "audience": payload["audience"], "channel": payload["channel"],
            "recipient": recipient, "raw": json.dumps(raw)}, maxlen=100_000, approximate=True)
    pipe.execute()
