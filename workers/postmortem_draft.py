"""What the post-mortem reminder carries: a link to the draft, and the draft itself as a Markdown file.

The reminder (``postmortem``, fired by the daemon before the meeting) links to
``{public_url}/hotfix/{ticket}/postmortem`` (the status pages' draft, behind the viewer token) when
``[http] public_url`` is set, and its email attaches ``postmortem-<ticket>.md``: the draft
``hotfix postmortem TICKET`` prints, built from the hotfix's whole stored record (a job carries only
its recent timeline) and its delivery receipts, in the message's locale.
A draft that cannot be built leaves the attachment out; the reminder still goes.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any
from urllib.parse import quote

from redis import Redis

from hotfix import keys, postmortem
from hotfix.connection import as_text
from hotfix.enums import MessageName
from hotfix.jobs import JobPayload
from hotfix.settings import Settings
from hotfix.state import HotfixState

log = logging.getLogger(__name__)


def draft_url(settings: Settings, ticket: str) -> str | None:
    """Where the draft can be read, or None without ``[http] public_url``."""
    if not settings.http.public_url:
        return None
    return f"{settings.http.public_url}/hotfix/{quote(ticket, safe='')}/postmortem"


def notice(settings: Settings, job: JobPayload, current: dict[str, Any] | None) -> dict[str, Any] | None:
    """The reminder's notice with ``postmortem_url``; any other message's notice unchanged."""
    if job.message is not MessageName.POSTMORTEM:
        return current
    url = draft_url(settings, job.ticket)
    return {**(current or {}), "postmortem_url": url} if url else current


def attachment(settings: Settings, redis: Redis | None, job: JobPayload, now: datetime) -> tuple[str, str] | None:
    """``(file name, Markdown)`` of the draft for a reminder's email; None for other messages, or if it fails."""
    if job.message is not MessageName.POSTMORTEM:
        return None
    try:
        state, receipts = _record(redis, job)
        text = postmortem.render_md(postmortem.build(state, receipts, settings, now), settings, job.locale)
    except Exception as exc:  # noqa: BLE001 - the reminder goes without its attachment, never fails for it
        log.warning("%s: post-mortem draft not attached: %s", job.ticket, type(exc).__name__)
        return None
    return f"postmortem-{job.ticket}.md", text


def _record(redis: Redis | None, job: JobPayload) -> tuple[HotfixState, list[dict[str, Any]]]:
    """The hotfix's whole stored state and its receipts (the job's copy, without receipts, when Redis has none)."""
    if redis is None:
        return job.hotfix, []
    raw = redis.get(keys.hotfix(job.ticket))
    state = HotfixState.model_validate_json(raw) if raw else job.hotfix
    rows = [json.loads(as_text(v)) for v in redis.hvals(keys.receipts(job.ticket))]
    return state, sorted(rows, key=lambda r: (r.get("at") or "", r.get("message", ""), r.get("recipient", "")))
