"""The FastAPI application of ``hotfix serve`` and its uvicorn runner.

Every POST goes through the same gate, in this order: bearer token of its
source (401) → body size, by Content-Length and by the bytes actually read
(413) → JSON and payload validation (422) → the source's adapter, whose Redis
work runs in a worker thread so that the event loop stays free → 202 with the
pushed event ids once ``XADD`` succeeded, or 503 when Redis is not reachable.
"""
from __future__ import annotations

import copy
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import uvicorn
import uvicorn.config
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from redis import Redis
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from daemon.intake import alertmanager, grafana, jira, status
from daemon.intake.act import act_router
from daemon.intake.approval import approval_router
from daemon.intake.auth import check_token, read_body
from daemon.intake.errors import Invalid, Rejected, split_reason
from daemon.intake.memory import PushResult
from daemon.intake.subscriptions import subscriptions_router
from daemon.producer import push
from hotfix import communication, metrics, wire
from hotfix.addresses import parse_listen
from hotfix.connection import connect
from hotfix.enums import Locale
from hotfix.events import Event, InvalidEvent, describe_errors, parse_event
from hotfix.redaction import without_link_tokens
from hotfix.settings import Settings

log = logging.getLogger(__name__)


class Accepted(BaseModel):
    """The answer to an accepted POST: the ids of the events put on the stream (empty when nothing was new)."""

    ids: list[str]
    ticket: str | None = None
    notes: list[str] = Field(default_factory=list)


class Problem(BaseModel):
    """An error answer; ``errors`` lists each bad field of a 422, ``ids`` the valid events of its list pushed anyway."""

    detail: str
    errors: list[dict[str, Any]] | None = None
    ids: list[str] | None = None


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing or wrong bearer token, or no token configured"},
    413: {"model": Problem, "description": "body larger than [http] max_body"},
    422: {"model": Problem, "description": "invalid payload; one entry per bad field (in a list: `[i].field`, "
                                           "the list's valid events pushed all the same, their ids in `ids`)"},
    503: {"model": Problem, "description": "Redis unreachable: nothing was accepted, retry"},
}
#: A webhook adapter: (Redis, its settings section, the body, now, the locale of its texts) → what it pushed.
Receive = Callable[[Redis, Any, dict[str, Any], datetime, Locale], PushResult]
#: The webhook sources: their adapter, their settings section and the OpenAPI summary.
HOOKS: dict[str, tuple[Receive, Callable[[Settings], Any], str]] = {
    "alertmanager": (alertmanager.receive, lambda s: s.intake.alertmanager,
                     "Alertmanager webhook (version 4): one hotfix per alert group"),
    "grafana": (grafana.receive, lambda s: s.intake.grafana, "Grafana alerting webhook: one hotfix per alert group"),
    "jira": (jira.receive, lambda s: s.intake.jira, "Jira issue webhook: labelled issues are hotfixes"),
}
_JSON_OBJECT = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}}


@dataclass(frozen=True)
class Intake:
    """What every route reads: the settings, the Redis client and the clock (``app.state.intake``)."""

    settings: Settings
    redis: Redis
    clock: Callable[[], datetime]


def create_app(settings: Settings, redis: Redis | None = None, *,
               clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> FastAPI:
    """The intake application; ``redis`` defaults to a client on ``[redis] url``; ``clock`` bounds event dates."""
    client = redis if redis is not None else connect(settings, fail_fast=True)  # an outage answers 503, never hangs
    communication.install(client)
    app = FastAPI(title="Hotfix Herald intake", version="1",
                  description="Hotfix events and monitoring/ticket webhooks in; the Redis stream hotfix:events out.")
    app.state.intake = Intake(settings, client, clock)
    app.include_router(router)
    app.state.status = status.StatusPages.build(settings, client)
    app.include_router(status.router)
    app.include_router(act_router(settings, client))
    app.include_router(approval_router(settings, client))
    app.include_router(subscriptions_router(settings, client))
    _openapi_components(app)
    return app


def _event_body() -> dict[str, Any]:
    """The request body of ``POST /events`` for the OpenAPI schema: an event or a list of events."""
    schema = TypeAdapter(Event | list[Event]).json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


router = APIRouter()


def _intake(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


async def _gate(request: Request, source: str) -> Any:
    """Token, size, JSON: the parsed body, or ``Rejected``."""
    http = _intake(request).settings.http
    metrics.intake_received.labels(source).inc()
    check_token(http, source, request.headers.get("authorization"))
    body = await read_body(request, http.max_body)
    try:
        return wire.loads(body)
    except wire.WireError as exc:
        raise Invalid([{"field": "body", "message": str(exc)}]) from None


async def _answer(source: str, request: Request, work: Callable[[Intake, Any], Awaitable[Accepted]]) -> Response:
    """Gate the request, run ``work`` on its body: 202 with what was accepted, or the refusal."""
    try:
        data = await _gate(request, source)
        answer = await work(_intake(request), data)
    except Rejected as exc:
        return _refuse(source, exc)
    except RedisError as exc:
        log.warning("%s: Redis unavailable (%s): answered 503", source, type(exc).__name__)
        return _refuse(source, Rejected(503, "unavailable", "Redis is not reachable: nothing was accepted, retry",
                                        headers={"Retry-After": "5"}))
    return JSONResponse(answer.model_dump(exclude_none=True), status_code=202)


async def _push_events(intake: Intake, data: Any) -> Accepted:
    """Push every valid event; a bad one costs its neighbours nothing (422 naming it, with the ids pushed)."""
    events, errors = _parse_events(data, intake.clock())
    ids = await run_in_threadpool(push, intake.redis, events) if events else []
    for event in events:
        metrics.intake_events_pushed.labels("events", event.type.value).inc()
    if errors:
        raise Invalid(errors, accepted=ids if isinstance(data, list) else None)
    return Accepted(ids=ids)


async def _push_hook(source: str, intake: Intake, data: Any) -> Accepted:
    if not isinstance(data, dict):
        raise Invalid([{"field": "body", "message": "expected a JSON object"}])
    receive, section, _doc = HOOKS[source]
    try:
        pushed = await run_in_threadpool(receive, intake.redis, section(intake.settings), data, intake.clock(),
                                         intake.settings.locale)
    except ValidationError as exc:
        raise Invalid(split_reason(describe_errors(exc, drop_first=False))) from None
    except InvalidEvent as exc:
        raise Invalid(split_reason(exc.reason)) from None
    _count(source, pushed)
    return Accepted(ids=pushed.ids, ticket=pushed.ticket, notes=pushed.notes)


@router.post("/events", status_code=202, response_model=Accepted, responses=_ERRORS,
             openapi_extra=_event_body(), summary="Push one event or a list of events")
async def post_events(request: Request) -> Response:
    return await _answer("events", request, _push_events)


def _hook_route(source: str) -> Callable[[Request], Awaitable[Response]]:
    async def post_hook(request: Request) -> Response:
        return await _answer(source, request, lambda intake, data: _push_hook(source, intake, data))
    return post_hook


for _source, (_receive, _section, _summary) in HOOKS.items():
    router.add_api_route(f"/hooks/{_source}", _hook_route(_source), methods=["POST"], status_code=202,
                         response_model=Accepted, responses=_ERRORS, summary=_summary, openapi_extra=_JSON_OBJECT)


@router.get("/healthz", responses={503: {"model": Problem}}, summary="Ready when Redis answers")
async def healthz(request: Request) -> Response:
    try:
        await run_in_threadpool(_intake(request).redis.ping)
    except RedisError as exc:
        return JSONResponse({"status": "unavailable", "detail": f"Redis: {type(exc).__name__}"}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def get_metrics() -> Response:
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)


def _parse_events(data: Any, now: datetime) -> tuple[list[Event], list[dict[str, Any]]]:
    """One event or a list: the valid events, and each bad field of the others (``[i].field`` in a list)."""
    items = data if isinstance(data, list) else [data]
    if not items:
        raise Invalid([{"field": "body", "message": "an empty list: expected at least one event"}])
    events: list[Event] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        prefix = f"[{index}]." if isinstance(data, list) else ""
        if not isinstance(item, dict):
            errors.append({"field": prefix + "event", "message": "expected a JSON object"})
            continue
        try:
            events.append(parse_event(item, now=now))
        except InvalidEvent as exc:
            errors.extend(split_reason(exc.reason, prefix))
    return events, errors


def _count(source: str, outcome: PushResult) -> None:
    for event in outcome.events:
        metrics.intake_events_pushed.labels(source, event.type.value).inc()
    if outcome.duplicate:
        metrics.intake_duplicates.labels(source).inc()
    elif not outcome.ids:
        metrics.intake_ignored.labels(source).inc()


def _refuse(source: str, exc: Rejected) -> Response:
    metrics.intake_rejected.labels(source, exc.reason).inc()
    log.info("%s: refused with %d: %s", source, exc.status, exc.detail)
    headers = dict(exc.headers)
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def _openapi_components(app: FastAPI) -> None:
    """Add the event models' schemas to the components that ``_event_body`` refers to."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = base()
            defs = TypeAdapter(Event | list[Event]).json_schema(
                ref_template="#/components/schemas/{model}").get("$defs", {})
            schema.setdefault("components", {}).setdefault("schemas", {}).update(defs)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def serve(settings: Settings) -> None:
    """Run the intake with uvicorn on ``[http] listen`` until interrupted."""
    host, port = parse_listen(settings.http.listen)  # the settings refused a listen this cannot parse
    app = create_app(settings)
    if not settings.http.token and not settings.http.tokens:
        log.warning("[http] token is not set: every POST will be refused with 401")
    log.info("hotfix intake listening on %s:%d", host, port)
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False, proxy_headers=False,
                log_config=log_config())


class Redact(logging.Filter):
    """Cleans link tokens and ``?token=`` values out of a log record (the access log prints every path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(without_link_tokens(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = without_link_tokens(record.msg)
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging, with every handler passing records through ``Redact``."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": Redact}
    for handler in config.get("handlers", {}).values():
        handler.setdefault("filters", []).append("redact")
    return config
