"""Sending one rendered message over its channel: a Teams webhook, SMTP, or the outbox.

Each function returns every recipient's outcome (None = sent) and what carried it;
errors are the senders' ``TransientError`` / ``PermanentError``. No retry here.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from rq import Queue

from hotfix import keys
from hotfix.enums import MessageName, Severity
from hotfix.jobs import JobPayload, delivery_id
from workers import unsubscribe
from workers.compose import compose_email, make_message_id, thread_message_id
from workers.content import EmailContent, TeamsContent
from workers.errors import DeliveryError, PermanentError, Throttled, TransientError
from workers.runtime import Runtime
from workers.senders.teams import build_payload
from workers.throttle import Throttle

log = logging.getLogger(__name__)

Outcomes = dict[str, DeliveryError | None]
#: The longest a worker waits for a webhook's slot before handing the job back (a P1/P2 card also stops
#: waiting as soon as a P0 job is queued, so the worker is free for it).
THROTTLE_WAIT = 2.0
#: After a transient failure (5xx, 429, timeout) jobs for that webhook hold off this long (or the
#: Retry-After), so a hanging or failing webhook does not hold every worker for its timeout in turn
#: (``workers.jobs.deliver`` waits the hold out without counting an attempt).
BREAKER_HOLD = 3.0
#: The Redis list of the P0 queue (RQ's key for ``hotfix-p0``).
_P0_QUEUE_KEY = Queue.redis_queue_namespace_prefix + keys.QUEUE_NAMES[0]


def _name(job: JobPayload) -> str:
    """The outbox file name's stem (the outbox adds the recipient or channel)."""
    return f"{job.message.value}-{job.audience}-{job.job_key[3:15]}"


def send_teams(rt: Runtime, job: JobPayload, channel_name: str, content: TeamsContent) -> tuple[Outcomes, str]:
    """Post the card to the audience's Teams channel, respecting the shared throttle (``Throttled``: no slot)."""
    channel = rt.settings.teams.get(channel_name)
    if channel is None:
        return {channel_name: PermanentError(f"Teams channel {channel_name!r} is not configured")}, "teams"
    if channel.url is None:
        rt.outbox.write_card(build_payload(channel.format, content), channel_name, _name(job), ticket=job.ticket)
        return {channel_name: None}, "outbox"
    redis = _redis_of(rt)
    if redis is not None:
        throttle = Throttle(redis, keys.throttle(channel_name), channel.rate)
        urgent = job.severity is Severity.P0
        p0_queued = None if urgent else (lambda: bool(redis.llen(_P0_QUEUE_KEY)))
        if not throttle.acquire(min(THROTTLE_WAIT, channel.timeout.total_seconds()), urgent=urgent, yield_to=p0_queued):
            return {channel_name: Throttled("throttled by Herald: webhook rate limit reached",
                                            retry_after=throttle.wait_time(urgent=urgent))}, "teams"
    try:
        rt.teams.send(channel.url.get_secret_value(), channel.format, content, timeout=channel.timeout.total_seconds())
    except TransientError as exc:
        if redis is not None:
            hold = max(BREAKER_HOLD, exc.retry_after or 0.0)
            redis.set(keys.breaker(channel_name), exc.reason[:200], px=int(hold * 1000))
        return {channel_name: exc}, "teams"
    return {channel_name: None}, "teams"


def _redis_of(rt: Runtime) -> Any:
    from rq import get_current_job

    job = get_current_job()
    return job.connection if job is not None else rt.redis


def send_email(rt: Runtime, job: JobPayload, recipients: list[str], content: EmailContent,
               attachments: Sequence[tuple[str, str]] = ()) -> tuple[Outcomes, str]:
    """Send one email to the batch over one SMTP connection, or write it to the outbox (``attachments``:
    (file name, Markdown) files joined to it)."""
    sender = rt.settings.smtp.sender
    thread = thread_message_id(job.ticket, job.hotfix.declared_id or "", sender)
    announcing = job.message is MessageName.ANNOUNCEMENT
    message_id = thread if announcing else make_message_id(delivery_id(job.job_key, recipients[0]), sender)
    if unsubscribe.applies(rt.settings, job.audience):
        return _send_each(rt, job, recipients, content, thread, announcing, attachments)
    email = compose_email(content, sender=sender, recipients=recipients, message_id=message_id,
                          thread_id=None if announcing else thread, ticket=job.ticket, locale=job.locale.value,
                          attachments=attachments)
    if rt.mail is None:
        for recipient in recipients:
            rt.outbox.write_email(email, recipient, _name(job), ticket=job.ticket)
        return {r: None for r in recipients}, "outbox"
    result = rt.mail.send(email, recipients)
    outcomes: Outcomes = {r: None for r in result.accepted}
    outcomes.update(result.refused)
    for r in recipients:
        outcomes.setdefault(r, None)
    return outcomes, "smtp"


def _send_each(rt: Runtime, job: JobPayload, recipients: list[str], content: EmailContent, thread: str,
               announcing: bool, attachments: Sequence[tuple[str, str]]) -> tuple[Outcomes, str]:
    """A self-service audience: each recipient gets their own copy, with their own one-click unsubscribe."""
    sender = rt.settings.smtp.sender
    now = rt.clock()
    emails = {}
    for recipient in recipients:
        url = unsubscribe.link(rt.settings, job.audience, recipient, now)
        message_id = thread if announcing else make_message_id(delivery_id(job.job_key, recipient), sender)
        emails[recipient] = compose_email(unsubscribe.personal(content, url), sender=sender, recipients=[recipient],
                                          message_id=message_id, thread_id=None if announcing else thread,
                                          ticket=job.ticket, locale=job.locale.value, headers=unsubscribe.headers(url),
                                          attachments=attachments)
    if rt.mail is None:
        for recipient, email in emails.items():
            rt.outbox.write_email(email, recipient, _name(job), ticket=job.ticket)
        return {r: None for r in recipients}, "outbox"
    result = rt.mail.send_each(emails)
    outcomes: Outcomes = {r: None for r in result.accepted}
    outcomes.update(result.refused)
    return outcomes, "smtp"
