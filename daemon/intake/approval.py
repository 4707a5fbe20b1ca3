"""The approval page of ``hotfix serve``: ``GET|POST /approval/{token}``.

An approver follows a link of an ``approval_request`` (``hotfix.approval_links``): ``GET`` shows the held
message — its audience, what it says, the free-text parts prefilled for editing — and one form whose
buttons approve as is, approve with the edited text, or decline (with a reason); ``?do=`` only
pre-selects. ``POST`` decides through ``daemon.held.settle``, the one door of a decision (the same as
``hotfix approve`` / ``decline``): the decision, its timeline entry, its counters and the released
message's jobs are committed together.

Invariants:

- nothing is decided by a ``GET``, so a mail scanner that follows links approves nothing;
- the token is checked first (403 forged or expired, nothing read), then that its approver is still an
  approver of the audience (403), then that the message is still held: a message already decided or
  superseded is answered with what became of it (409 on a post), never decided twice;
- the credential travels in the URL and the form, never a cookie; a post another site makes is refused.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from redis import Redis
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from daemon import approvals, held
from daemon.intake.link_pages import FormRefused, LinkPages
from hotfix.approval_links import ApprovalGrant, Choice, read_grant
from hotfix.dates import local
from hotfix.enums import Decision
from hotfix.settings import Settings
from hotfix.signing import TokenError
from hotfix.state import Held, HotfixState

log = logging.getLogger(__name__)


class ApprovalPage:
    """What both routes of ``/approval/{token}`` do: check a link, draw the page, take a decision."""

    def __init__(self, settings: Settings, redis: Redis) -> None:
        self.settings = settings
        self.redis = redis
        self.pages = LinkPages(settings)
        self.zone = ZoneInfo(settings.timezone)

    def lookup(self, grant: ApprovalGrant) -> tuple[HotfixState, Held | None, str]:
        """The hotfix, the held message (None when no longer held) and what became of it."""
        state = held.load(self.redis, grant.held, grant.ticket)
        try:
            return state, approvals.find(state, grant.held), ""
        except approvals.NotHeld as exc:
            return state, None, str(exc)

    async def checked(self, token: str, now: datetime) -> tuple[ApprovalGrant, HotfixState, Held | None, str] | Response:
        try:
            grant = read_grant(self.settings, token, now)
        except TokenError as exc:
            return self.pages.refused(exc.problem.value, expired_at=local(exc.expired_at, self.zone))
        try:
            state, found, fate = await run_in_threadpool(self.lookup, grant)
        except approvals.NotHeld:
            return self.pages.refused("unknown", 404, grant.locale.value)
        except RedisError as exc:
            log.warning("approval page: Redis unavailable (%s): answered 503", type(exc).__name__)
            return self.pages.refused("unavailable", 503, grant.locale.value)
        audience = found.audience if found is not None else _audience_of(state, grant.held)
        if audience is not None and grant.by not in approvals.approvers(self.settings, audience):
            return self.pages.refused("not_approver", 403, grant.locale.value, by=grant.by, audience=audience)
        return grant, state, found, fate

    def page(self, token: str, grant: ApprovalGrant, state: HotfixState, found: Held | None, *, status: int = 200,
             chosen: str = "", answer: str = "", error: str = "", values: dict[str, str] | None = None) -> Response:
        context: dict[str, Any] = {"token": token, "grant": grant, "state": state, "held": found, "answer": answer,
                                   "error": error, "values": values or {}, "locale": grant.locale.value,
                                   "chosen": chosen if chosen in {c.value for c in Choice} else ""}
        if found is not None:
            timeout = approvals.timeout_at(state, found, self.settings)
            context.update(editable=approvals.editable(found), texts={k: str((found.event or {}).get(k) or "")
                                                                      for k in approvals.EDITABLE},
                           since=local(found.since, self.zone), timeout=local(timeout, self.zone) if timeout else "",
                           approvers=approvals.approvers(self.settings, found.audience))
        return self.pages.html("approval.html.j2", status, **context)

    async def approval_page(self, request: Request, token: str) -> Response:
        now = datetime.now(UTC)
        found = await self.checked(token, now)
        if isinstance(found, Response):
            return found
        grant, state, current, fate = found
        return self.page(token, grant, state, current, chosen=request.query_params.get("do", ""), answer=fate)

    async def approval_post(self, request: Request, token: str) -> Response:
        now = datetime.now(UTC)
        found = await self.checked(token, now)
        if isinstance(found, Response):
            return found
        grant, state, current, fate = found
        try:
            form = await self.pages.form(request)
        except FormRefused as exc:
            return self.pages.refused(exc.reason, exc.status, grant.locale.value)
        if form.get("token", token) != token:
            return self.pages.refused("forged", 403, grant.locale.value)
        if current is None:
            return self.page(token, grant, state, None, status=409, answer=fate)
        choice = form.get("decision", "")
        if choice not in {c.value for c in Choice}:
            return self.page(token, grant, state, current, status=422, error="decision", values=form)
        decision = Decision.DECLINED if choice == Choice.DECLINE.value else Decision.APPROVED
        edits = {k: form[k] for k in approvals.editable(current) if k in form} if choice == Choice.EDIT.value else {}
        reason = (form.get("reason") or "").strip()[:approvals.EDIT_MAX] or None
        try:
            released = await run_in_threadpool(
                lambda: held.settle(self.redis, self.settings, grant.held, decision, by=grant.by, now=now, edits=edits,
                                    reason=reason, ticket=grant.ticket))
        except approvals.NotHeld as exc:
            return self.page(token, grant, state, None, status=409, answer=str(exc))
        except ValueError as exc:
            return self.page(token, grant, state, current, status=422, error=str(exc), values=form)
        except RedisError as exc:
            log.warning("approval page: Redis unavailable (%s): answered 503", type(exc).__name__)
            return self.pages.refused("unavailable", 503, grant.locale.value)
        log.info("%s: held %s %s by %s through its link", grant.ticket, grant.held, decision.value, grant.by)
        return self.page(token, grant, released.state, None, answer=released.answer)


def approval_router(settings: Settings, redis: Redis) -> APIRouter:
    """``GET|POST /approval/{token}`` deciding on ``redis`` with ``settings``."""
    router = APIRouter(tags=["approvals"])
    page = ApprovalPage(settings, redis)
    router.add_api_route("/approval/{token}", page.approval_page, methods=["GET"], response_class=HTMLResponse,
                         summary="The approval page of a held message")
    router.add_api_route("/approval/{token}", page.approval_post, methods=["POST"], response_class=HTMLResponse,
                         summary="Decide on a held message: approve (as is or edited) or decline")
    return router


def _audience_of(state: HotfixState, held_id: str) -> str | None:
    """The audience of a held message already decided (its record), or None."""
    return next((d.audience for d in state.decisions if d.id == held_id), None)
