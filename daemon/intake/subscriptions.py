"""The subscription pages of ``hotfix serve``: one-click unsubscribe and double opt-in.

- ``POST /unsubscribe/{token}`` — RFC 8058 one-click (body ``List-Unsubscribe=One-Click``, sent by the
  mail client) and the confirmation page's button: takes the token's address out of the token's
  audience for good, from the next message on; answers 200. ``GET`` shows that button, and changes
  nothing (a link scanner's prefetch unsubscribes nobody).
- ``GET /subscribe`` — opened with the viewer token (``?token=`` or Bearer, or the status pages' session)
  or a signed invitation (``?invite=``): one ``<form>`` with ``email`` and ``audience`` (one value per
  self-service audience it may offer). ``POST /subscribe`` notes the address ``pending`` and enqueues
  the confirmation email (``hotfix.confirmations``); it answers the same whether or not the address was
  known, so the form tells nobody who is subscribed.
- ``GET /subscribe/confirm/{token}`` — the page of the email's link: one ``<form>`` whose ``POST``
  confirms, so that mail scanners that prefetch links confirm nothing.

Invariants: every token is checked first (403 forged, expired or malformed; a token of another purpose
is forged here); an audience that is not (or no longer) ``self_service`` refuses every page (403),
whatever the token says; addresses outside ``allowed_domains`` are refused (422 naming ``email``);
counters ``unsubscribes`` and ``subscriptions`` count changes, not clicks.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from redis import Redis
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from daemon.intake import session
from daemon.intake.auth import read_body
from daemon.intake.errors import Rejected
from daemon.intake.link_pages import FORM_MAX, FormRefused, LinkPages
from daemon.intake.status import check_viewer
from hotfix import communication, subscribers
from hotfix.confirmations import Confirmation, enqueue
from hotfix.jobs import read_emails_file
from hotfix.settings import Settings
from hotfix.signing import TokenError
from hotfix.subscription_links import Membership, Purpose, confirm_url, form_token, read_membership, read_opening

log = logging.getLogger(__name__)


def self_service(settings: Settings) -> list[str]:
    """The audiences people may join and leave on their own, in configuration order."""
    return [name for name, audience in settings.audiences.items() if audience.self_service]


def subscriptions_router(settings: Settings, redis: Redis) -> APIRouter:
    """The unsubscribe and subscribe pages, reading and writing ``redis`` with ``settings``."""
    router = APIRouter(tags=["subscriptions"])
    pages = LinkPages(settings)

    def locale_of(audience: str | None) -> str:
        return settings.audience_locale(audience).value if audience else settings.locale.value

    def membership(purpose: Purpose, token: str, now: datetime) -> Membership | Response:
        """The token's address and audience, or the refusal page."""
        if not settings.http.links_enabled():
            return pages.refused("no_links", 404)
        try:
            found = read_membership(settings, purpose, token, now)
        except TokenError as exc:
            return pages.refused(exc.problem.value)
        if found.audience not in self_service(settings):
            return pages.refused("not_self_service", 403, locale_of(found.audience if found.audience in settings.audiences
                                                                    else None))
        return found

    def state_of(found: Membership) -> subscribers.SubscriptionState | None:
        entry = subscribers.entries_of(redis, found.audience, [found.address]).get(subscribers.normalize(found.address))
        return entry.state if entry is not None else None

    # -- unsubscribe -----------------------------------------------------------------------------------
    @router.get("/unsubscribe/{token}", response_class=HTMLResponse, summary="Confirm leaving a self-service audience")
    async def unsubscribe_page(token: str) -> Response:
        found = membership(Purpose.UNSUBSCRIBE, token, datetime.now(UTC))
        if isinstance(found, Response):
            return found
        try:
            state = await run_in_threadpool(state_of, found)
        except RedisError:
            return pages.refused("unavailable", 503, locale_of(found.audience))
        return pages.html("unsubscribe.html.j2", token=token, audience=found.audience, address=found.address,
                          done=state is subscribers.SubscriptionState.UNSUBSCRIBED, locale=locale_of(found.audience))

    @router.post("/unsubscribe/{token}", response_class=HTMLResponse,
                 summary="Leave a self-service audience (RFC 8058 one-click: body List-Unsubscribe=One-Click)")
    async def unsubscribe_post(request: Request, token: str) -> Response:
        now = datetime.now(UTC)
        found = membership(Purpose.UNSUBSCRIBE, token, now)
        if isinstance(found, Response):
            return found
        try:
            await read_body(request, FORM_MAX)  # List-Unsubscribe=One-Click (urlencoded or multipart): the token decides
        except Rejected as exc:
            return pages.refused("too_large", exc.status, locale_of(found.audience))

        def leave() -> bool:
            changed = subscribers.unsubscribe(redis, found.audience, found.address, now, by="link")
            if changed:
                communication.count(redis, "unsubscribes", found.audience)
            return changed

        try:
            changed = await run_in_threadpool(leave)
        except RedisError:
            return pages.refused("unavailable", 503, locale_of(found.audience))
        log.info("unsubscribe from %s through a link: %s", found.audience, "done" if changed else "already out")
        return pages.html("unsubscribe.html.j2", token=token, audience=found.audience, address=found.address,
                          done=True, locale=locale_of(found.audience))

    # -- subscribe ---------------------------------------------------------------------------------------
    def opened_for(request: Request, now: datetime) -> list[str] | Response:
        """The audiences the form may offer (invitation, or every self-service one for a viewer), or a refusal."""
        if not settings.http.links_enabled():
            return pages.refused("no_links", 404)
        open_ = self_service(settings)
        invite = request.query_params.get("invite")
        if invite:
            try:
                offered = [a for a in read_opening(settings, Purpose.INVITE, invite, now).audiences if a in open_]
            except TokenError as exc:
                return pages.refused(exc.problem.value)
            return offered or pages.refused("not_self_service", 403)
        try:
            check_viewer(settings.http, request.headers.get("authorization"), request.query_params.get("token"),
                         request.cookies.get(session.COOKIE), now)
        except Rejected:
            return pages.refused("unauthorized", 401)
        return open_ or pages.refused("no_audience", 404)

    def form_page(audiences: list[str], form: str, *, status: int = 200, error: str = "", values: dict[str, str] | None = None,
                  requested: bool = False) -> Response:
        return pages.html("subscribe.html.j2", status, audiences=audiences, form=form, error=error, values=values or {},
                          requested=requested, domains={a: settings.audiences[a].allowed_domains for a in audiences})

    @router.get("/subscribe", response_class=HTMLResponse, summary="The form to join self-service audiences")
    async def subscribe_page(request: Request) -> Response:
        now = datetime.now(UTC)
        audiences = opened_for(request, now)
        if isinstance(audiences, Response):
            return audiences
        return form_page(audiences, form_token(settings, audiences, now))

    @router.post("/subscribe", response_class=HTMLResponse, summary="Ask to join: a confirmation email goes out")
    async def subscribe_post(request: Request) -> Response:
        now = datetime.now(UTC)
        if not settings.http.links_enabled():
            return pages.refused("no_links", 404)
        try:
            form = await pages.form(request)
        except FormRefused as exc:
            return pages.refused(exc.reason, exc.status)
        try:
            opening = read_opening(settings, Purpose.FORM, form.get("form", ""), now)
        except TokenError as exc:
            return pages.refused(exc.problem.value)
        offered = [a for a in opening.audiences if a in self_service(settings)]
        if not offered:
            return pages.refused("not_self_service", 403)
        token = form.get("form", "")
        audience = form.get("audience", "") or (offered[0] if len(offered) == 1 else "")
        if audience not in offered:
            return form_page(offered, token, status=422, error="audience", values=form)
        try:
            address = subscribers.check_address(form.get("email", ""), settings.audiences[audience].allowed_domains)
        except subscribers.InvalidAddress as exc:
            return form_page(offered, token, status=422, error=f"email: {exc}", values=form)

        def ask() -> None:
            if subscribers.request(redis, settings, audience, address, now, read_emails_file):
                enqueue(redis, Confirmation(audience=audience, address=address, locale=settings.audience_locale(audience),
                                            url=confirm_url(settings, audience, address, now), asked_at=now))

        try:
            await run_in_threadpool(ask)
        except RedisError:
            return pages.refused("unavailable", 503)
        log.info("subscription to %s asked through the form", audience)
        return form_page(offered, token, values={"audience": audience}, requested=True)

    # -- confirm -----------------------------------------------------------------------------------------
    def confirm_page(token: str, found: Membership, *, done: bool, status: int = 200, **extra: Any) -> Response:
        return pages.html("subscribe_confirm.html.j2", status, token=token, audience=found.audience,
                          address=found.address, done=done, locale=locale_of(found.audience), **extra)

    def domain_allowed(found: Membership) -> bool:
        try:
            subscribers.check_address(found.address, settings.audiences[found.audience].allowed_domains)
        except subscribers.InvalidAddress:
            return False
        return True

    @router.get("/subscribe/confirm/{token}", response_class=HTMLResponse, summary="The confirmation page (a form)")
    async def confirm_get(token: str) -> Response:
        found = membership(Purpose.CONFIRM, token, datetime.now(UTC))
        if isinstance(found, Response):
            return found
        if not domain_allowed(found):
            return pages.refused("not_self_service", 403, locale_of(found.audience))
        try:
            state = await run_in_threadpool(state_of, found)
        except RedisError:
            return pages.refused("unavailable", 503, locale_of(found.audience))
        return confirm_page(token, found, done=state is subscribers.SubscriptionState.SUBSCRIBED)

    @router.post("/subscribe/confirm/{token}", response_class=HTMLResponse, summary="Confirm: the address joins")
    async def confirm_post(request: Request, token: str) -> Response:
        now = datetime.now(UTC)
        found = membership(Purpose.CONFIRM, token, now)
        if isinstance(found, Response):
            return found
        if not domain_allowed(found):
            return pages.refused("not_self_service", 403, locale_of(found.audience))
        try:
            await pages.form(request)
        except FormRefused as exc:
            return pages.refused(exc.reason, exc.status, locale_of(found.audience))

        def join() -> bool:
            changed = subscribers.confirm(redis, found.audience, found.address, now)
            if changed:
                communication.count(redis, "subscriptions", found.audience)
            return changed

        try:
            changed = await run_in_threadpool(join)
        except RedisError:
            return pages.refused("unavailable", 503, locale_of(found.audience))
        log.info("subscription to %s confirmed through its link: %s", found.audience, "joined" if changed else "already in")
        return confirm_page(token, found, done=True)

    return router
