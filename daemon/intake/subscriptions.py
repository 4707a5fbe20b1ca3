"""The subscription pages of ``hotfix serve``: one-click unsubscribe and double opt-in.

- ``POST /unsubscribe/{token}`` — RFC 8058 one-click (body ``List-Unsubscribe=One-Click``, sent by the
  mail client) and the confirmation page's button: takes the token's address out of the token's
  audience for good, from the next message on; answers 200. ``GET`` shows that button, and changes
  nothing (a link scanner's prefetch unsubscribes nobody).
- ``GET /subscribe`` — opened with the viewer token (``?token=``, traded like the status pages' for the
  session cookie and a clean URL; or Bearer, or that session) or a signed invitation (``?invite=``): one
  ``<form>`` with ``email`` and ``audience`` (one value per self-service audience it may offer).
  ``POST /subscribe`` notes the address ``pending`` and enqueues the confirmation email
  (``hotfix.confirmations``); it answers the same whether or not the address was known, so the form tells
  nobody who is subscribed. An audience takes ``subscribers.REQUESTS_PER_HOUR`` requests an hour; then 429
  (each request mails an address of the requester's choosing).
- ``GET /subscribe/confirm/{token}`` — the page of the email's link: one ``<form>`` whose ``POST``
  confirms, so that mail scanners that prefetch links confirm nothing. It confirms a request still
  pending only: an address that left since it asked (one click, ``hotfix subscribers --remove``) is
  refused (409) and stays out until it asks again.

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
from daemon.intake.status import check_viewer, reader_tokens
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


class SubscriptionPages:
    """The unsubscribe, subscribe and confirmation pages of one configuration, on ``redis``."""

    def __init__(self, settings: Settings, redis: Redis) -> None:
        self.settings = settings
        self.redis = redis
        self.pages = LinkPages(settings)

    def locale_of(self, audience: str | None) -> str:
        return self.settings.audience_locale(audience).value if audience else self.settings.locale.value

    def membership(self, purpose: Purpose, token: str, now: datetime) -> Membership | Response:
        """The token's address and audience, or the refusal page."""
        if not self.settings.http.links_enabled():
            return self.pages.refused("no_links", 404)
        try:
            found = read_membership(self.settings, purpose, token, now)
        except TokenError as exc:
            return self.pages.refused(exc.problem.value)
        if found.audience not in self_service(self.settings):
            known = found.audience if found.audience in self.settings.audiences else None
            return self.pages.refused("not_self_service", 403, self.locale_of(known))
        return found

    def state_of(self, found: Membership) -> subscribers.SubscriptionState | None:
        entry = subscribers.entries_of(self.redis, found.audience, [found.address]).get(subscribers.normalize(found.address))
        return entry.state if entry is not None else None

    # -- unsubscribe -----------------------------------------------------------------------------------
    async def unsubscribe_page(self, token: str) -> Response:
        found = self.membership(Purpose.UNSUBSCRIBE, token, datetime.now(UTC))
        if isinstance(found, Response):
            return found
        try:
            state = await run_in_threadpool(self.state_of, found)
        except RedisError:
            return self.pages.refused("unavailable", 503, self.locale_of(found.audience))
        return self.pages.html("unsubscribe.html.j2", token=token, audience=found.audience, address=found.address,
                          done=state is subscribers.SubscriptionState.UNSUBSCRIBED, locale=self.locale_of(found.audience))

    async def unsubscribe_post(self, request: Request, token: str) -> Response:
        now = datetime.now(UTC)
        found = self.membership(Purpose.UNSUBSCRIBE, token, now)
        if isinstance(found, Response):
            return found
        try:
            await read_body(request, FORM_MAX)  # List-Unsubscribe=One-Click (urlencoded or multipart): the token decides
        except Rejected as exc:
            return self.pages.refused("too_large", exc.status, self.locale_of(found.audience))

        def leave() -> bool:
            changed = subscribers.unsubscribe(self.redis, found.audience, found.address, now, by="link")
            if changed:
                communication.count(self.redis, "unsubscribes", found.audience)
            return changed

        try:
            changed = await run_in_threadpool(leave)
        except RedisError:
            return self.pages.refused("unavailable", 503, self.locale_of(found.audience))
        log.info("unsubscribe from %s through a link: %s", found.audience, "done" if changed else "already out")
        return self.pages.html("unsubscribe.html.j2", token=token, audience=found.audience, address=found.address,
                          done=True, locale=self.locale_of(found.audience))

    # -- subscribe ---------------------------------------------------------------------------------------
    def opened_for(self, request: Request, now: datetime) -> list[str] | Response:
        """The audiences the form may offer (invitation, or every self-service one for a viewer), or a refusal."""
        if not self.settings.http.links_enabled():
            return self.pages.refused("no_links", 404)
        open_ = self_service(self.settings)
        invite = request.query_params.get("invite")
        if invite:
            try:
                offered = [a for a in read_opening(self.settings, Purpose.INVITE, invite, now).audiences if a in open_]
            except TokenError as exc:
                return self.pages.refused(exc.problem.value)
            return offered or self.pages.refused("not_self_service", 403)
        try:
            how = check_viewer(self.settings.http, request.headers.get("authorization"), request.query_params.get("token"),
                               request.cookies.get(session.COOKIE), now)
        except Rejected:
            return self.pages.refused("unauthorized", 401)
        if how == "query":  # like the status pages: the token in the URL is traded for the session cookie
            return session.open_session(request, reader_tokens(self.settings.http), now)
        return open_ or self.pages.refused("no_audience", 404)

    def form_page(self, audiences: list[str], form: str, *, status: int = 200, error: str = "", values: dict[str, str] | None = None,
                  requested: bool = False) -> Response:
        return self.pages.html("subscribe.html.j2", status, audiences=audiences, form=form, error=error, values=values or {},
                          requested=requested, domains={a: self.settings.audiences[a].allowed_domains for a in audiences})

    async def subscribe_page(self, request: Request) -> Response:
        now = datetime.now(UTC)
        audiences = self.opened_for(request, now)
        if isinstance(audiences, Response):
            return audiences
        return self.form_page(audiences, form_token(self.settings, audiences, now))

    async def subscribe_post(self, request: Request) -> Response:
        now = datetime.now(UTC)
        if not self.settings.http.links_enabled():
            return self.pages.refused("no_links", 404)
        try:
            form = await self.pages.form(request)
        except FormRefused as exc:
            return self.pages.refused(exc.reason, exc.status)
        try:
            opening = read_opening(self.settings, Purpose.FORM, form.get("form", ""), now)
        except TokenError as exc:
            return self.pages.refused(exc.problem.value)
        offered = [a for a in opening.audiences if a in self_service(self.settings)]
        if not offered:
            return self.pages.refused("not_self_service", 403)
        token = form.get("form", "")
        audience = form.get("audience", "") or (offered[0] if len(offered) == 1 else "")
        if audience not in offered:
            return self.form_page(offered, token, status=422, error="audience", values=form)
        try:
            address = subscribers.check_address(form.get("email", ""), self.settings.audiences[audience].allowed_domains)
        except subscribers.InvalidAddress as exc:
            return self.form_page(offered, token, status=422, error=f"email: {exc}", values=form)

        def ask() -> None:
            if subscribers.request(self.redis, self.settings, audience, address, now, read_emails_file):
                enqueue(self.redis, Confirmation(audience=audience, address=address, locale=self.settings.audience_locale(audience),
                                            url=confirm_url(self.settings, audience, address, now), asked_at=now))

        try:
            await run_in_threadpool(ask)
        except subscribers.TooManyRequests:
            log.warning("subscription to %s refused: %d requests this hour already", audience, subscribers.REQUESTS_PER_HOUR)
            return self.pages.refused("too_many", 429, self.locale_of(audience))
        except RedisError:
            return self.pages.refused("unavailable", 503)
        log.info("subscription to %s asked through the form", audience)
        return self.form_page(offered, token, values={"audience": audience}, requested=True)

    # -- confirm -----------------------------------------------------------------------------------------
    def confirm_page(self, token: str, found: Membership, *, done: bool, status: int = 200, **extra: Any) -> Response:
        return self.pages.html("subscribe_confirm.html.j2", status, token=token, audience=found.audience,
                          address=found.address, done=done, locale=self.locale_of(found.audience), **extra)

    def domain_allowed(self, found: Membership) -> bool:
        try:
            subscribers.check_address(found.address, self.settings.audiences[found.audience].allowed_domains)
        except subscribers.InvalidAddress:
            return False
        return True

    async def confirm_get(self, token: str) -> Response:
        found = self.membership(Purpose.CONFIRM, token, datetime.now(UTC))
        if isinstance(found, Response):
            return found
        if not self.domain_allowed(found):
            return self.pages.refused("not_self_service", 403, self.locale_of(found.audience))
        try:
            state = await run_in_threadpool(self.state_of, found)
        except RedisError:
            return self.pages.refused("unavailable", 503, self.locale_of(found.audience))
        if state not in (subscribers.SubscriptionState.PENDING, subscribers.SubscriptionState.SUBSCRIBED):
            return self.pages.refused("not_pending", 409, self.locale_of(found.audience))
        return self.confirm_page(token, found, done=state is subscribers.SubscriptionState.SUBSCRIBED)

    async def confirm_post(self, request: Request, token: str) -> Response:
        now = datetime.now(UTC)
        found = self.membership(Purpose.CONFIRM, token, now)
        if isinstance(found, Response):
            return found
        if not self.domain_allowed(found):
            return self.pages.refused("not_self_service", 403, self.locale_of(found.audience))
        try:
            await self.pages.form(request)
        except FormRefused as exc:
            return self.pages.refused(exc.reason, exc.status, self.locale_of(found.audience))

        def join() -> bool:
            changed = subscribers.confirm(self.redis, found.audience, found.address, now)
            if changed:
                communication.count(self.redis, "subscriptions", found.audience)
            return changed

        try:
            changed = await run_in_threadpool(join)
        except subscribers.NotPending:
            return self.pages.refused("not_pending", 409, self.locale_of(found.audience))
        except RedisError:
            return self.pages.refused("unavailable", 503, self.locale_of(found.audience))
        log.info("subscription to %s confirmed through its link: %s", found.audience, "joined" if changed else "already in")
        return self.confirm_page(token, found, done=True)


def subscriptions_router(settings: Settings, redis: Redis) -> APIRouter:
    """The unsubscribe and subscribe pages, reading and writing ``redis`` with ``settings``."""
    router = APIRouter(tags=["subscriptions"])
    pages = SubscriptionPages(settings, redis)
    for path, method, endpoint, summary in (
        ("/unsubscribe/{token}", "GET", pages.unsubscribe_page, "Confirm leaving a self-service audience"),
        ("/unsubscribe/{token}", "POST", pages.unsubscribe_post,
         "Leave a self-service audience (RFC 8058 one-click: body List-Unsubscribe=One-Click)"),
        ("/subscribe", "GET", pages.subscribe_page, "The form to join self-service audiences"),
        ("/subscribe", "POST", pages.subscribe_post, "Ask to join: a confirmation email goes out"),
        ("/subscribe/confirm/{token}", "GET", pages.confirm_get, "The confirmation page (a form)"),
        ("/subscribe/confirm/{token}", "POST", pages.confirm_post, "Confirm: the address joins"),
    ):
        router.add_api_route(path, endpoint, methods=[method], response_class=HTMLResponse, summary=summary)
    return router
