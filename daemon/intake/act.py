"""The signed action page of ``hotfix serve``: ``GET|POST /act/{token}``.

A responder follows a link from a card or an email; the signed token (``hotfix.actions``) is the
credential: no viewer token, no cookie, no session. ``GET`` shows the hotfix's state and one form;
``POST`` (url-encoded, the token again in a hidden input) pushes one ordinary event on the stream,
with ``source: "link"`` and ``by`` the token's person or audience, then answers 303 back to the page.

Invariants:

- every request checks the token's signature and expiry first, then that its hotfix exists and is
  open; a refusal is a 403 page that says why, and it pushes nothing;
- CSRF-safe: the credential travels in the URL and the form body, never in a cookie, so a page of
  another site cannot make a browser act; a request whose ``Origin`` or ``Sec-Fetch-Site`` names
  another site is refused anyway, and the page's CSP lets its form post only to itself;
- a form posted twice pushes one event: the event id derives from the token, the form's id and its
  fields, and is remembered (``SET NX``) before the ``XADD``;
- the token never reaches a log line (``hotfix.redaction.without_link_tokens`` cleans the access log) nor another
  site (``Referrer-Policy: no-referrer``).
"""
from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from redis import Redis
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from daemon import store
from daemon.intake.errors import Rejected
from daemon.intake.link_pages import FormRefused, LinkPages
from daemon.intake.status import _HEADERS, hotfix_view
from daemon.lifecycle import LINK_SOURCE
from daemon.producer import push
from hotfix import keys
from hotfix.actions import Grant, LinkAction, read_grant
from hotfix.dates import local
from hotfix.enums import Phase
from hotfix.events import ROLES, InvalidEvent, parse_event
from hotfix.settings import Settings
from hotfix.signing import TokenError
from hotfix.state import KNOWN_CHECKS, HotfixState

log = logging.getLogger(__name__)

#: The largest form accepted (a few texts: far below ``[http] max_body``).
FORM_MAX = 64 * 1024
#: How long a pushed form post is remembered (a double click, a re-sent form).
POST_MEMORY = timedelta(days=2)
#: Phases an update can move to (resolving is its own action).
PHASES = (Phase.TRIAGE, Phase.FIX, Phase.REVIEW, Phase.STAGING, Phase.PRODUCTION)
_TEXT_FIELDS = ("message", "next_step", "eta", "phase", "root_cause", "pr", "role", "name", "action")


class FormError(ValueError):
    """A form field that cannot become an event: ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def read_form(fields: list[tuple[str, str]]) -> dict[str, Any]:
    """The form's known fields, stripped: one value each, ``checks`` a list."""
    out: dict[str, Any] = {"checks": []}
    for key, value in fields:
        if key == "checks":
            out["checks"].append(value)
        elif key in _TEXT_FIELDS or key in ("token", "form_id"):
            out[key] = value.strip()
    return out


def parse_eta(value: str, zone: ZoneInfo, now: datetime) -> str | None:
    """An ETA typed in the form: ``YYYY-MM-DDTHH:MM`` (local), ``HH:MM`` (the next one), or ISO with a zone."""
    if not value:
        return None
    try:
        if len(value) <= 5 and ":" in value:
            hour, minute = (int(p) for p in value.split(":"))
            local = now.astimezone(zone).replace(hour=hour, minute=minute, second=0, microsecond=0)
            when = local if local > now else local + timedelta(days=1)
        else:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            when = when if when.tzinfo else when.replace(tzinfo=zone)
    except ValueError:
        raise FormError("eta", "expected a date and time, e.g. 2026-11-25T10:30, or a time such as 10:30") from None
    return when.astimezone(UTC).isoformat()


def form_event(grant: Grant, form: dict[str, Any], zone: ZoneInfo, now: datetime) -> dict[str, Any]:
    """The event a form post asks for (not validated yet: ``parse_event`` does that); raises ``FormError``."""
    action_text = form.get("action") or LinkAction.UPDATE.value
    try:
        action = LinkAction(action_text)
    except ValueError:
        raise FormError("action", f"expected one of {', '.join(a.value for a in LinkAction)}") from None
    if action not in grant.actions:
        raise Rejected(403, "forbidden", "not_allowed")
    checks = list(dict.fromkeys(form.get("checks") or []))
    unknown = [c for c in checks if c not in KNOWN_CHECKS]
    if unknown:
        raise FormError("checks", f"unknown check {unknown[0][:40]!r} (one of {', '.join(KNOWN_CHECKS)})")
    event: dict[str, Any] = {"ticket": grant.ticket, "source": LINK_SOURCE, "by": grant.by}
    text = {k: form.get(k) or None for k in ("message", "next_step", "root_cause", "pr")}
    if text["message"]:
        event["message"] = text["message"]
    if checks:
        event["checks"] = {c: True for c in checks}
    if text["pr"]:
        event["fix"] = {"pr": text["pr"]}
    if action is LinkAction.RESOLVE:
        event.update(type="resolved", root_cause=text["root_cause"])
    elif action is LinkAction.TAKE_ROLE:
        role = grant.role or form.get("role") or ""
        if role not in ROLES:
            raise FormError("role", f"choose a role ({', '.join(ROLES)})")
        name = grant.by if grant.person else (form.get("name") or "")
        if not name:
            raise FormError("name", "say who takes the role")
        event.update(type="updated", team={role: name})
    else:
        phase = form.get("phase") or None
        if phase is not None and phase not in {p.value for p in PHASES}:
            raise FormError("phase", f"expected one of {', '.join(p.value for p in PHASES)}")
        event.update(type="updated", next_step=text["next_step"], eta=parse_eta(form.get("eta") or "", zone, now),
                     phase=phase)
        if not any(event.get(k) for k in ("message", "next_step", "eta", "phase", "checks", "fix")):
            raise FormError("message", "nothing to post: write what happened, or tick a check")
    return {k: v for k, v in event.items() if v is not None}


def post_id(token: str, form: dict[str, Any]) -> str:
    """The identity of one form post: the same token, form and fields give the same id."""
    fields = sorted((k, str(v)) for k, v in form.items() if k != "token")
    return hashlib.sha256(repr((token, fields)).encode("utf-8")).hexdigest()[:32]


class ActionPage:
    """What both routes of ``/act/{token}`` do: check a link, draw the page, take a post."""

    def __init__(self, settings: Settings, redis: Redis) -> None:
        self.settings = settings
        self.redis = redis
        self.pages = LinkPages(settings)
        self.zone = ZoneInfo(settings.timezone)

    def refused(self, reason: str, status: int = 403, grant: Grant | None = None, **details: Any) -> Response:
        """The refusal page, in the link's language when the link could be read."""
        locale = grant.locale if grant is not None else self.settings.locale
        return self.pages.refused(reason, status, locale.value, **details)

    def _at(self, value: datetime | None) -> str:
        """A time as the page shows it (local, to the minute); "" for none."""
        return local(value, self.zone, "%Y-%m-%d %H:%M %Z", empty="")

    def _grant_and_state(self, token: str, now: datetime) -> tuple[Grant, HotfixState]:
        grant = read_grant(self.settings, token, now)
        state = store.load(self.redis, grant.ticket)
        if state is None or not state.declared:
            raise LookupError(grant)
        return grant, state

    async def checked(self, token: str, now: datetime) -> tuple[Grant, HotfixState] | Response:
        """The link's grant and its open hotfix, or the 403/404/503 page saying why not."""
        try:
            grant, state = await run_in_threadpool(self._grant_and_state, token, now)
        except TokenError as exc:
            return self.refused(exc.problem.value, expired_at=self._at(exc.expired_at))
        except LookupError as exc:
            return self.refused("unknown", 404, exc.args[0])
        except RedisError as exc:
            log.warning("action page: Redis unavailable (%s): answered 503", type(exc).__name__)
            return self.refused("unavailable", 503)
        if not state.is_open:
            return self.refused("closed", 403, grant, ticket=state.ticket, hotfix_status=state.status.value,
                                closed_at=self._at(state.closed_at))
        return grant, state

    def form_page(self, token: str, grant: Grant, state: HotfixState, now: datetime, *, status: int = 200,
                  chosen: str = "", sent: bool = False, error: FormError | None = None,
                  values: dict[str, Any] | None = None) -> Response:
        """The hotfix as it stands and the form (refilled with ``values`` and naming ``error`` after a bad post)."""
        view = hotfix_view(state, self.settings, now)
        acks = {role: self._at(a.at) for role in state.team.roles() if (a := state.acknowledged(role))}
        return self.pages.html(
            "act.html.j2", status, token=token, grant=grant, state=state, h=view, locale=grant.locale.value,
            form_id=uuid.uuid4().hex, chosen=chosen if chosen in {a.value for a in grant.actions} else "",
            sent=sent, error=error, values=values or {}, checks=KNOWN_CHECKS, phases=[p.value for p in PHASES],
            roles=ROLES, acks=acks, eta_value=_local_input(state.eta, self.zone))

    async def post(self, request: Request, token: str, now: datetime) -> Response:
        """One event on the stream for a valid post (once, however often it is sent), then 303 back to the page."""
        found = await self.checked(token, now)
        if isinstance(found, Response):
            return found
        grant, state = found
        form: dict[str, Any] = {}
        try:
            form = read_form(await self.pages.fields(request, FORM_MAX))
            if form.get("token", token) != token:
                return self.refused("forged", 403)
            event = form_event(grant, form, self.zone, now)
            pid = post_id(token, form)
            event["id"] = f"link-{pid}"
            parsed = parse_event(event)
        except FormRefused as exc:
            return self.refused(exc.reason, exc.status, grant)
        except Rejected as exc:
            return self.refused(exc.detail if exc.status == 403 else "invalid", exc.status, grant)
        except FormError as exc:
            return self.form_page(token, grant, state, now, status=422, error=exc, values=form)
        except InvalidEvent as exc:
            field, _, problem = exc.reason.partition(": ")
            return self.form_page(token, grant, state, now, status=422, error=FormError(field, problem or exc.reason),
                                  values=form)
        try:
            first = await run_in_threadpool(_push_once, self.redis, pid, parsed)
        except RedisError as exc:
            log.warning("action page: Redis unavailable (%s): answered 503", type(exc).__name__)
            return self.refused("unavailable", 503, grant)
        log.info("%s: %s through an action link (%s)", grant.ticket, parsed.type.value,
                 "pushed" if first else "already pushed")
        return RedirectResponse(f"{token}?sent=1", status_code=303, headers=_HEADERS)


def act_router(settings: Settings, redis: Redis) -> APIRouter:
    """``GET|POST /act/{token}`` reading and writing ``redis`` with ``settings``."""
    router = APIRouter(tags=["actions"])
    page = ActionPage(settings, redis)

    @router.get("/act/{token}", response_class=HTMLResponse, summary="The action page of a signed link")
    async def act_page(request: Request, token: str) -> Response:
        now = datetime.now(UTC)
        found = await page.checked(token, now)
        if isinstance(found, Response):
            return found
        grant, state = found
        return page.form_page(token, grant, state, now, chosen=request.query_params.get("do", ""),
                              sent=request.query_params.get("sent") == "1")

    @router.post("/act/{token}", response_class=HTMLResponse, status_code=303,
                 summary="Post the action form: one event on the stream, then 303 back to the page")
    async def act_post(request: Request, token: str) -> Response:
        return await page.post(request, token, datetime.now(UTC))

    return router


def _push_once(redis: Redis, pid: str, event: Any) -> bool:
    """Push ``event`` unless this post was pushed already; True when it was pushed now."""
    key = keys.link_post(pid)
    if not redis.set(key, event.event_id, nx=True, ex=int(POST_MEMORY.total_seconds())):
        return False
    try:
        push(redis, [event])
    except RedisError:
        redis.delete(key)
        raise
    return True


def _local_input(value: datetime | None, zone: ZoneInfo) -> str:
    """A time as a ``datetime-local`` input shows it."""
    return value.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if value is not None else ""
