"""The read-only status pages of ``hotfix serve``, behind the viewer token (or an intake token).

``GET /`` lists the open hotfixes (severity colour, SLA countdown, phase stepper,
age of the last update, team); ``GET /hotfix/{ticket}`` shows one hotfix with its
timeline and delivery receipts; ``GET /api/hotfixes`` and ``GET /api/hotfixes/{ticket}``
give the same data as JSON; ``GET /hotfix/{ticket}/postmortem`` the post-mortem draft (Markdown, or JSON),
which the post-mortem reminder links to. Every route only reads Redis, and every one needs
``[http] viewer_token`` or an intake token (``[http] token`` / ``[http] tokens``: a token that
may write may also read) as ``Authorization: Bearer`` or ``?token=`` (compared in constant
time); a page opened with ``?token=`` is traded for a session cookie and a clean URL
(``daemon.intake.session``), so no link carries the token. A ticket that fails
``keys.valid_ticket`` is a 404 before any key is built from it.
Pages are Jinja templates of ``templates/status/`` with autoescape, inline CSS and JS only
(they work offline), and refresh themselves in place; long texts are cut (``hotfix.limits``).
"""
from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from jinja2 import Environment, TemplateNotFound
from redis import Redis
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from daemon import store
from daemon.intake import session
from daemon.intake.auth import bearer, same_secret
from daemon.intake.errors import Rejected
from daemon.views import list_row, most_urgent_first, show_data
from hotfix import dates, keys, palette, postmortem
from hotfix.durations import format_clock, format_span
from hotfix.enums import Locale, Phase
from hotfix.limits import DOCUMENT_TEXT_CHARS, clip, truncation_marker
from hotfix.service_settings import HttpSettings
from hotfix.settings import SHIPPED_TEMPLATES, Settings
from hotfix.state import HotfixState
from hotfix.templating import environment

log = logging.getLogger(__name__)

#: The phases the stepper shows, in the playbook's order (a post-mortem counts as resolved).
STEPS = (Phase.TRIAGE, Phase.FIX, Phase.REVIEW, Phase.STAGING, Phase.PRODUCTION, Phase.RESOLVED)
#: Seconds between two in-place refreshes of a page, unless ``?refresh=`` says otherwise (clamped).
REFRESH_SECONDS = 15
REFRESH_RANGE = (2, 600)
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY"}


def reader_tokens(http: HttpSettings) -> list[str]:
    """The tokens that open the status pages: ``[http] viewer_token``, and every intake token (may write, may read)."""
    secrets_ = [http.viewer_token, http.token, *http.tokens.values()]
    return [s.get_secret_value() for s in secrets_ if s is not None and s.get_secret_value()]


def check_viewer(http: HttpSettings, authorization: str | None, query_token: str | None,
                 session_cookie: str | None = None, now: datetime | None = None) -> str:
    """How the request opens the pages: ``bearer``, ``session`` (the signed cookie) or ``query`` (``?token=``).

    Raises ``Rejected`` (401) unless the Bearer header, the session cookie or ``?token=`` is good.
    """
    accepted = reader_tokens(http)
    if not accepted:
        raise Rejected(401, "unauthorized",
                       "no token is configured: set [http] viewer_token (read-only) or [http] token "
                       "(HOTFIX_HTTP__VIEWER_TOKEN / HOTFIX_HTTP__TOKEN) to open the status pages")
    header = bearer(authorization)
    if not header and session.valid(session_cookie, accepted, now or datetime.now(UTC)):
        return "session"
    presented = header or query_token or ""
    # every candidate is compared (constant time each), so the answer's timing does not say which one matched
    matches = [same_secret(presented, token) for token in accepted]
    if not any(matches):
        raise Rejected(401, "unauthorized",
                       "missing or wrong token: present [http] viewer_token, or an intake token ([http] token / "
                       "[http] tokens), as Authorization: Bearer <token> or ?token=")
    return "bearer" if header else "query"


@dataclass(frozen=True)
class StatusPages:
    """What the status routes read (``app.state.status``): the settings, Redis, their templates, the time zone."""

    settings: Settings
    redis: Redis
    env: Environment
    zone: ZoneInfo

    @classmethod
    def build(cls, settings: Settings, redis: Redis) -> StatusPages:
        return cls(settings, redis, page_environment(settings), ZoneInfo(settings.timezone))


router = APIRouter(tags=["status"])


@router.get("/", response_class=HTMLResponse, summary="Status page: the open hotfixes")
async def overview_page(request: Request) -> Response:
    async def work(pages: StatusPages) -> Response:
        now = datetime.now(UTC)
        rows = await run_in_threadpool(open_rows, pages.redis, pages.settings, now)
        return _page(pages, request, "index.html.j2", rows=rows, now_ms=_ms(now), shown_at=_local(now, pages.zone))
    return await _guarded(request, work, html=True)


@router.get("/hotfix/{ticket}", response_class=HTMLResponse, summary="Status page of one hotfix")
async def hotfix_page(request: Request, ticket: str) -> Response:
    async def work(pages: StatusPages) -> Response:
        now = datetime.now(UTC)
        state, receipts = await run_in_threadpool(_load_with_receipts, pages.redis, ticket)
        nonce = secrets.token_urlsafe(16)
        html = render_hotfix_page(pages.settings, state, receipts, now, refresh=_refresh(request), nonce=nonce,
                                  env=pages.env)
        return HTMLResponse(html, headers=_HEADERS | _csp(nonce))
    return await _guarded(request, work, html=True, ticket=ticket)


def render_hotfix_page(settings: Settings, state: HotfixState, receipts: list[dict[str, Any]], now: datetime, *,
                       refresh: int = REFRESH_SECONDS, nonce: str = "", env: Environment | None = None) -> str:
    """The status page of one hotfix (``GET /hotfix/TICKET``) as HTML: pure, from the state and its receipts."""
    zone = ZoneInfo(settings.timezone)
    return (env or page_environment(settings)).get_template("hotfix.html.j2").render(
        nonce=nonce, refresh=refresh, timezone=settings.timezone, h=hotfix_view(state, settings, now), state=state,
        now_ms=_ms(now), shown_at=_local(now, zone), timeline=_timeline(state, zone),
        receipts=[_receipt(r, zone) for r in receipts])


@router.get("/hotfix/{ticket}/postmortem", summary="The post-mortem draft of one hotfix (Markdown; ?format=json, ?locale=en)")
async def postmortem_draft(request: Request, ticket: str) -> Response:
    async def work(pages: StatusPages) -> Response:
        now = datetime.now(UTC)
        state, receipts = await run_in_threadpool(_load_with_receipts, pages.redis, ticket)
        draft = postmortem.build(state, receipts, pages.settings, now)
        if request.query_params.get("format") == "json":
            return JSONResponse(draft.model_dump(mode="json"), headers=_HEADERS)
        asked = request.query_params.get("locale", "")
        locale = Locale(asked) if asked in {loc.value for loc in Locale} else None
        return PlainTextResponse(postmortem.render_md(draft, pages.settings, locale), headers=_HEADERS)
    return await _guarded(request, work, html=True, ticket=ticket)


@router.get("/api/hotfixes", summary="The open hotfixes as JSON (viewer token)")
async def overview_json(request: Request) -> Response:
    async def work(pages: StatusPages) -> Response:
        now = datetime.now(UTC)
        rows = await run_in_threadpool(open_rows, pages.redis, pages.settings, now)
        return JSONResponse({"now": now.isoformat(), "timezone": pages.settings.timezone, "hotfixes": rows},
                            headers=_HEADERS)
    return await _guarded(request, work, html=False)


@router.get("/api/hotfixes/{ticket}", summary="One hotfix as JSON, like `hotfix show --format json`")
async def hotfix_json(request: Request, ticket: str) -> Response:
    async def work(pages: StatusPages) -> Response:
        now = datetime.now(UTC)
        state, receipts = await run_in_threadpool(_load_with_receipts, pages.redis, ticket)
        return JSONResponse(show_data(state, receipts, now) | hotfix_view(state, pages.settings, now), headers=_HEADERS)
    return await _guarded(request, work, html=False, ticket=ticket)


async def _guarded(request: Request, work: Callable[[StatusPages], Awaitable[Response]], *, html: bool,
                   ticket: str | None = None) -> Response:
    """The token (and the ticket's shape) checked, then ``work``; a refusal or a Redis outage as a page or JSON."""
    pages: StatusPages = request.app.state.status
    try:
        how = check_viewer(pages.settings.http, request.headers.get("authorization"), request.query_params.get("token"),
                           request.cookies.get(session.COOKIE))
        if ticket is not None and not keys.valid_ticket(ticket):
            raise Rejected(404, "not_found", "no such hotfix")
        if how == "query" and html:  # trade the token in the URL for a session cookie
            return session.open_session(request, reader_tokens(pages.settings.http), datetime.now(UTC))
        return await work(pages)
    except Rejected as exc:
        return _refused(pages, exc, html=html)
    except RedisError as exc:
        log.warning("status page: Redis unavailable (%s): answered 503", type(exc).__name__)
        return _refused(pages, Rejected(503, "unavailable", "Redis is not reachable: retry in a moment",
                                        headers={"Retry-After": "5"}), html=html)


def _page(pages: StatusPages, request: Request, name: str, **context: Any) -> Response:
    """A page of ``templates/status`` with its own script nonce (its links never carry a token)."""
    nonce = secrets.token_urlsafe(16)
    html = pages.env.get_template(name).render(nonce=nonce, refresh=_refresh(request),
                                               timezone=pages.settings.timezone, **context)
    return HTMLResponse(html, headers=_HEADERS | _csp(nonce))


def _refused(pages: StatusPages, exc: Rejected, *, html: bool) -> Response:
    headers = {**_HEADERS, **exc.headers}
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if not html:
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)
    nonce = secrets.token_urlsafe(16)
    page = pages.env.get_template("error.html.j2").render(status=exc.status, detail=exc.detail, nonce=nonce)
    return HTMLResponse(page, status_code=exc.status, headers=headers | _csp(nonce))


def open_rows(redis: Redis, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """The open hotfixes, most urgent first (severity, then deadline), as the status page shows them."""
    states = most_urgent_first(s for s in store.load_many(redis, store.open_tickets(redis)) if s.is_open)
    return [hotfix_view(s, settings, now) for s in states]


def hotfix_view(state: HotfixState, settings: Settings, now: datetime) -> dict[str, Any]:
    """``hotfix list``'s row plus what the page draws: colour, SLA, stepper, update age, team."""
    zone = ZoneInfo(settings.timezone)
    row = list_row(state, now)
    severity = state.severity
    policy = settings.policy(severity) if severity is not None else None
    total = policy.resolve_within.total_seconds() if policy is not None else None
    left = row["time_left_s"]
    since = state.last_update_at or state.declared_at
    age = int((now - since).total_seconds()) if since is not None else None
    every = policy.update_every.total_seconds() if policy is not None and policy.update_every else None
    current = STEPS.index(state.phase) if state.phase in STEPS else len(STEPS)
    row.update({
        "url": f"/hotfix/{quote(state.ticket, safe='')}",
        "colour": palette.css(palette.of(severity)),
        "is_open": state.is_open,
        "sla_total_s": int(total) if total else None,
        "sla_fraction": max(0.0, min(1.0, left / total)) if left is not None and total else None,
        "overdue": left is not None and left < 0,
        "sla_text": _sla_text(left),
        "sla_clock": format_clock(left) if left is not None else "",
        "deadline_local": _local(state.deadline, zone),
        "eta_local": _local(state.eta, zone),
        "declared_local": _local(state.declared_at, zone),
        "closed_local": _local(state.closed_at, zone),
        "update_since": since.isoformat() if since is not None else None,
        "update_since_ms": _ms(since),
        "deadline_ms": _ms(state.deadline),
        "update_since_local": _local(since, zone),
        "update_age_s": age,
        "update_age_text": f"{format_clock(age)} ago" if age is not None else "—",
        "update_age_clock": format_clock(age) if age is not None else "—",
        "update_every_s": int(every) if every else None,
        "update_overdue": age is not None and every is not None and age > every,
        "steps": [{"phase": p.value, "state": "done" if i < current or (i == current and p is Phase.RESOLVED)
                   else "current" if i == current else "todo"} for i, p in enumerate(STEPS)],
        "team": state.team.roles(),
        "on_it": {role: _local(ack.at, zone) for role in state.team.roles() if (ack := state.acknowledged(role))},
    })
    return row


def _load_with_receipts(redis: Redis, ticket: str) -> tuple[HotfixState, list[dict[str, Any]]]:
    """The state and receipts of a declared hotfix, or a 404."""
    state = store.load(redis, ticket)
    if state is None or not state.declared:
        raise Rejected(404, "not_found", "no such hotfix")
    return state, store.receipts(redis, ticket)


def _timeline(state: HotfixState, zone: ZoneInfo) -> list[dict[str, Any]]:
    return [{"at": e.at.isoformat(), "at_local": _local(e.at, zone), "type": e.type, "id": e.id,
             "summary": e.summary, "phase": e.phase.value if e.phase else "", "late": e.late, "by": e.by or "",
             "what": e.what}
            for e in sorted(state.timeline, key=lambda e: e.at)]


def _receipt(raw: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    at = raw.get("at")
    when = dates.parse(at)
    out = {k: raw.get(k) or "" for k in ("message", "audience", "channel", "recipient", "status", "reason", "via")}
    out["at"] = at or ""
    out["at_local"] = _local(when, zone) if when is not None and when.tzinfo else (at or "—")
    return out


def _ms(value: datetime | None) -> int | None:
    """Epoch milliseconds, what the page's JS counts with."""
    return dates.epoch_ms(value)


def _local(value: datetime | None, zone: ZoneInfo) -> str:
    return dates.local(value, zone)


def _sla_text(left: int | None) -> str:
    if left is None:
        return "no deadline"
    return f"{format_clock(left)} left" if left >= 0 else f"overdue by {format_clock(left)}"


def _refresh(request: Request) -> int:
    raw = request.query_params.get("refresh", "")
    value = int(raw) if re.fullmatch(r"[0-9]{1,6}", raw) else REFRESH_SECONDS  # not str.isdigit: '²' is a digit
    return max(REFRESH_RANGE[0], min(REFRESH_RANGE[1], value))


def _csp(nonce: str) -> dict[str, str]:
    """Nothing from outside; only this response's own inline script."""
    return {"Content-Security-Policy": (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; connect-src 'self'; "
        "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")}


def page_environment(settings: Settings) -> Environment:
    """Templates of ``<templates_dir>/status`` first (an operator's copy), then the shipped ones; autoescaped.

    The templates' root folders come last, so a page can import a locale's labels (``fr/_labels.j2``).
    """
    folders = list(dict.fromkeys([settings.templates_path() / "status", SHIPPED_TEMPLATES / "status",
                                  settings.templates_path(), SHIPPED_TEMPLATES]))  # the root: <locale>/_labels.j2
    env = environment(*folders, trim_blocks=True, lstrip_blocks=True)
    env.filters["clip"] = lambda value, ticket, limit=DOCUMENT_TEXT_CHARS: clip(
        str(value), limit, truncation_marker(settings.locale.value, ticket))
    env.globals["locale"] = settings.locale.value  # the pages' words: <locale>/_status.j2
    env.globals["span"] = lambda seconds: format_span(seconds, settings.locale)
    env.globals["palette"] = {**{s.value.lower(): palette.css(c) for s, c in palette.SEVERITY.items()},
                              "ok": palette.css(palette.GOOD)}
    try:
        env.get_template("index.html.j2")
    except TemplateNotFound:  # e.g. a wheel install without templates/ and no templates_dir
        log.error("status page templates not found in %s: set templates_dir (HOTFIX_TEMPLATES_DIR) to a copy "
                  "of templates/; the status pages will answer 500", " or ".join(str(f) for f in folders))
    return env
