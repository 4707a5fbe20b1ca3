"""What an ``approval_request`` shows beyond the daemon's notice: the held message, and the approver's links.

The daemon holds a message and asks each approver (``daemon.approvals``); the notice names the held
message (its id, audience, message, event and notice). Here, right before rendering the request, the
worker renders the held message as its audience would read it (``preview``: the email's text, in the
audience's locale) and mints the approver's signed links (``links``: approve, edit, decline —
``hotfix.approval_links``). Both only add to a copy of the notice; a held message that cannot be
rendered leaves the preview out (the request still goes: the approver can open the page).

The links act as the approver, so they go only where the approver alone reads them: their own email.
The Teams copy is posted in the team's channel, where everyone reads it: it carries no link, only
``links_by_email`` (the card says the links are in the approver's email, and names the command).
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from hotfix import dates
from hotfix.approval_links import ApprovalGrant, links
from hotfix.enums import Channel, Locale, MessageName
from hotfix.jobs import JobPayload
from hotfix.settings import Settings
from workers.render import Renderer

log = logging.getLogger(__name__)

#: The longest preview carried in a request (the held message's text; channels trim further).
PREVIEW_MAX = 6000


def request_notice(settings: Settings, renderer: Renderer, job: JobPayload, now: datetime) -> dict[str, Any] | None:
    """The job's notice with ``preview`` and, in the approver's email only, ``links`` added (unchanged for any other
    message)."""
    notice = dict(job.notice or {})
    approval = notice.get("approval")
    if job.message is not MessageName.APPROVAL_REQUEST or not isinstance(approval, dict):
        return job.notice
    notice["preview"] = preview(renderer, job, approval, now)
    held_id = approval.get("id")
    if not job.person or not isinstance(held_id, str):
        return notice
    if job.channel is Channel.EMAIL:
        grant = ApprovalGrant(held=held_id, ticket=job.ticket, by=job.person, locale=job.locale)
        notice["links"] = links(settings, grant, now, dates.parse(approval.get("timeout_at")))
    elif settings.http.links_enabled():  # a channel others read: whoever followed a link there would decide as them
        notice["links_by_email"] = True
    return notice


def preview(renderer: Renderer, job: JobPayload, approval: dict[str, Any], now: datetime) -> str | None:
    """The held message's email text as its audience would receive it, or None if it cannot be rendered."""
    try:
        message = MessageName(approval.get("message"))
        locale = Locale(approval.get("locale") or job.locale.value)
        event, notice = approval.get("event"), approval.get("notice")
        content = renderer.email(message, locale, job.hotfix, event=event if isinstance(event, dict) else None,
                                 notice=notice if isinstance(notice, dict) else None, now=now)
    except Exception as exc:  # noqa: BLE001 - the request goes without its preview, never fails for it
        log.warning("%s: cannot preview the held %s: %s", job.ticket, approval.get("message"), type(exc).__name__)
        return None
    subject = content.subject.strip()
    text = content.text.strip().rpartition("\n--\n")[0].strip() or content.text.strip()  # without the footer
    body = f"{subject}\n\n{text}" if subject else text
    return body[:PREVIEW_MAX]

