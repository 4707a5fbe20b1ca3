"""The ``hotfix`` commands of the event side: daemon, serve, push, list, show, dead-letters, check-config."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from redis import Redis
from rich.markup import escape
from rich.table import Column, Table

from daemon import store
from daemon.producer import push as push_events
from daemon.views import list_row, most_urgent_first, show_data
from herald.app import (
    ConfigOpt,
    Format,
    FormatOpt,
    LocaleOpt,
    MetricsOpt,
    app,
    console,
    emit_json,
    err,
    fail,
    now,
    serve_metrics,
    settings_or_exit,
    setup_logging,
)
from hotfix import keys, wire
from hotfix.connection import connect
from hotfix.durations import format_span
from hotfix.enums import EventType, Locale, Phase, Severity
from hotfix.events import ROLES, InvalidEvent, parse_event
from hotfix.limits import SUBJECT_CHARS, clip
from hotfix.settings import Settings
from hotfix.state import HotfixState


@app.command()
def daemon(config: ConfigOpt = None, name: Annotated[Optional[str], typer.Option(help="consumer name")] = None,
           batch: int = 250, claim_idle: Annotated[float, typer.Option(help="seconds before reclaiming a stalled consumer's entries")] = 30.0,
           metrics_port: MetricsOpt = None, verbose: bool = False) -> None:
    """Consume hotfix events from the stream and enqueue deliveries."""
    from daemon.consumer import Daemon

    setup_logging(verbose)
    from hotfix import communication

    settings = settings_or_exit(config)
    redis = connect(settings)
    communication.install(redis)  # the communication figures every process counts, on this port too
    serve_metrics(metrics_port)
    Daemon(redis, settings, name=name, batch=batch, claim_idle_ms=int(claim_idle * 1000)).run()


@app.command()
def serve(config: ConfigOpt = None, verbose: bool = False) -> None:
    """The HTTP intake: /events, /hooks/alertmanager, /hooks/grafana, /hooks/jira, status pages."""
    from daemon.intake.app import serve as run_server

    setup_logging(verbose)
    run_server(settings_or_exit(config))


def _flag_event(type_: EventType, ticket: str, values: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {"type": type_.value, "ticket": ticket}
    team = {k: values.pop(k) for k in ROLES if values.get(k)}
    fix = {k: values.pop(k) for k in ("pr", "commit", "fix_description") if values.get(k)}
    checks = values.pop("check") or []
    actions = [_action(text) for text in values.pop("action", None) or []]
    for k in (*ROLES, "pr", "commit", "fix_description"):
        values.pop(k, None)
    data.update({k: (v.value if isinstance(v, Enum) else v) for k, v in values.items() if v not in (None, [], "")})
    if team:
        data["team"] = team
    if fix:
        data["fix"] = {("description" if k == "fix_description" else k): v for k, v in fix.items()}
    if checks:
        data["checks"] = {c: True for c in checks}
    if actions:
        data["actions"] = actions
    return data


def _action(text: str) -> dict[str, str]:
    """``--action "title|owner|ticket"`` (owner and ticket optional) as a post-mortem action."""
    parts = [p.strip() for p in text.split("|", 2)]
    return {k: v for k, v in zip(("title", "owner", "ticket"), parts, strict=False) if v} or {"title": ""}


@app.command()
def push(
    type_: Annotated[Optional[EventType], typer.Argument(metavar="[TYPE]", help="declared|updated|resolved|rolled_back|cancelled|postmortem")] = None,
    file: Annotated[Optional[str], typer.Option("--file", help="JSON object or JSON lines; - for stdin")] = None,
    ticket: Optional[str] = None, title: Optional[str] = None, severity: Optional[Severity] = None,
    impact: Optional[str] = None, users_affected: Optional[str] = None, message: Optional[str] = None,
    next_step: Optional[str] = None, eta: Optional[str] = None, phase: Optional[Phase] = None,
    reason: Optional[str] = None,
    next_approach: Annotated[Optional[str], typer.Option(help="rolled_back: what the next attempt will do")] = None,
    service_restored: Annotated[Optional[bool], typer.Option("--service-restored/--service-degraded",
                                                             help="rolled_back: whether the rollback restored the service")] = None,
    root_cause: Optional[str] = None, postmortem_at: Optional[str] = None,
    started_at: Annotated[Optional[str], typer.Option(help="triage: since when (ISO time with zone)")] = None,
    reproducible: Annotated[Optional[bool], typer.Option("--reproducible/--not-reproducible", help="triage")] = None,
    impact_confirmed: Annotated[Optional[bool], typer.Option("--impact-confirmed/--impact-unconfirmed", help="triage")] = None,
    needs_access: Annotated[Optional[str], typer.Option(help="the specific access needed: escalates to the access audiences")] = None,
    customer_impact: Annotated[Optional[bool], typer.Option("--customer-impact/--no-customer-impact",
                                                            help="major customer impact: tells the customer_impact audiences")] = None,
    summary: Annotated[Optional[str], typer.Option(help="postmortem: what happened, in short")] = None,
    root_cause_analysis: Annotated[Optional[str], typer.Option(help="postmortem: the root cause analysis")] = None,
    why_not_caught: Annotated[Optional[str], typer.Option(help="postmortem: why it was not caught before")] = None,
    prevention: Annotated[Optional[str], typer.Option(help="postmortem: how to avoid it in the future")] = None,
    action: Annotated[Optional[list[str]], typer.Option(help="postmortem: a corrective action \"title|owner|ticket\" "
                                                           "(owner, ticket optional); repeatable")] = None,
    follow_up: Annotated[Optional[str], typer.Option(help="postmortem: the follow-up ticket")] = None,
    coordinator: Optional[str] = None, diagnostician: Optional[str] = None, developer: Optional[str] = None, reviewer: Optional[str] = None,
    devops: Optional[str] = None, pr: Optional[str] = None, commit: Optional[str] = None,
    fix_description: Optional[str] = None,
    check: Annotated[Optional[list[str]], typer.Option(help="a verification done (review, smoke_test, …); repeatable")] = None,
    id_: Annotated[Optional[str], typer.Option("--id", help="idempotency key")] = None,
    by: Annotated[Optional[str], typer.Option(help="who reports it (a role holder's name acknowledges the role)")] = None,
    config: ConfigOpt = None, format_: FormatOpt = Format.TABLE,
) -> None:
    """Push events: from a file / stdin (one JSON object or JSON lines), or one from flags."""
    settings = settings_or_exit(config)
    payloads: list[tuple[str, Any]] = []
    if file is not None:
        payloads = _read_events(file)
    elif type_ is not None:
        if not ticket:
            fail("ticket: required (--ticket)")
        values = dict(title=title, severity=severity, impact=impact, users_affected=users_affected, message=message,
                      next_step=next_step, eta=eta, phase=phase, reason=reason, next_approach=next_approach,
                      service_restored=service_restored, root_cause=root_cause, postmortem_at=postmortem_at,
                      started_at=started_at, reproducible=reproducible, impact_confirmed=impact_confirmed,
                      needs_access=needs_access, customer_impact=customer_impact, summary=summary,
                      root_cause_analysis=root_cause_analysis, why_not_caught=why_not_caught, prevention=prevention,
                      action=action, follow_up=follow_up, coordinator=coordinator, diagnostician=diagnostician,
                      developer=developer, reviewer=reviewer,
                      devops=devops, pr=pr, commit=commit, fix_description=fix_description, check=check, id=id_,
                      by=by, source="cli")
        payloads.append(("flags", _flag_event(type_, ticket, values)))
    else:
        fail("give an event TYPE with flags, or --file PATH (- for stdin)")
    events, bad = [], 0
    for where, payload in payloads:
        try:
            events.append(parse_event(payload, now=now()))
        except InvalidEvent as exc:
            bad += 1
            err.print(f"event {where}: {exc.reason.removeprefix('event: ')}", markup=False, highlight=False)
    ids = push_events(connect(settings, fail_fast=True), events) if events else []
    if format_ is Format.JSON:
        emit_json({"pushed": ids, "rejected": bad})
    else:
        console.print(f"pushed {len(ids)} event(s)" + (f", rejected {bad}" if bad else ""), highlight=False)
    if bad:
        raise typer.Exit(1 if ids else 2)


def _read_events(file: str) -> list[tuple[str, Any]]:
    """(where, payload) of each event of ``--file``: one JSON object, a JSON array, or JSON lines; ``fail`` else."""
    name = "stdin" if file == "-" else file
    try:
        data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except IsADirectoryError:
        fail(f"--file {name}: is a directory, not a file")
    except FileNotFoundError:
        fail(f"--file {name}: no such file")
    except OSError as exc:
        fail(f"--file {name}: cannot read ({exc.strerror or exc})")
    try:
        text = wire.decode(data).strip()
    except wire.WireError as exc:
        fail(f"--file {name}: {exc}")
    if not text:
        fail(f"--file {name}: empty (expected a JSON object, a JSON array of objects, or JSON lines)")
    if text.startswith("["):
        try:
            items = wire.loads(text)
        except wire.WireError as exc:
            fail(f"--file {name}: {exc}")
        return [(str(i + 1), item) for i, item in enumerate(items)]
    if text.startswith("{") and "\n{" not in text:
        return [("1", text)]
    return [(str(i + 1), line) for i, line in enumerate(text.splitlines()) if line.strip()]


@app.command("list")
def list_(config: ConfigOpt = None, format_: FormatOpt = Format.TABLE,
          all_: Annotated[bool, typer.Option("--all", help="closed hotfixes too")] = False) -> None:
    """Open hotfixes, most severe first."""
    settings = settings_or_exit(config)
    redis = connect(settings, fail_fast=True)
    tickets = store.all_tickets(redis) if all_ else store.open_tickets(redis)
    states = most_urgent_first(s for s in store.load_many(redis, tickets) if s.declared)
    rows = [list_row(s, now()) for s in states]
    if format_ is Format.JSON:
        emit_json(rows)
        return
    # tickets, states and times never wrap (a ticket cut in two cannot be copied); the title takes what is left
    table = Table(Column("ticket", no_wrap=True), Column("sev", no_wrap=True), Column("status", no_wrap=True),
                  Column("phase", no_wrap=True), Column("title", ratio=1), Column("time left", no_wrap=True),
                  Column("coordinator"))
    for row in rows:
        left = row["time_left_s"]
        shown = "—" if left is None else (format_span(left, Locale.EN) if left >= 0
                                          else f"[red]overdue {format_span(left, Locale.EN)}[/red]")
        table.add_row(row["ticket"], row["severity"] or "—", row["status"], row["phase"],
                      escape(clip(row["title"], SUBJECT_CHARS)), shown, escape(row["coordinator"] or "—"))
    console.print(table if rows else "no open hotfix")


@dataclass(frozen=True)
class OpenedHotfix:
    """A declared hotfix as a command reads it: the settings, Redis, its state and its delivery receipts."""

    settings: Settings
    redis: Redis
    state: HotfixState
    receipts: list[dict[str, Any]]


def open_hotfix(config: Path | None, ticket: str) -> OpenedHotfix:
    """The configuration loaded, Redis reached, and ``ticket``'s declared state with its receipts (else exit)."""
    settings = settings_or_exit(config)
    redis = connect(settings, fail_fast=True)
    return OpenedHotfix(settings, redis, declared_or_exit(redis, ticket), store.receipts(redis, ticket))


def declared_or_exit(redis: Redis, ticket: str) -> HotfixState:
    """The state of a declared hotfix, or a one-line error and exit 2 (a bad ticket) or 1 (no such hotfix)."""
    try:
        state = store.load(redis, ticket)
    except ValueError as exc:
        fail(str(exc))
    if state is None or not state.declared:
        err.print(f"no hotfix {ticket!r}" + (" (events are waiting for its declaration)" if state else ""),
                  markup=False)
        raise typer.Exit(1)
    return state


@app.command()
def show(ticket: str, config: ConfigOpt = None, format_: FormatOpt = Format.MD, locale: LocaleOpt = None) -> None:
    """The coordination document of one hotfix (md), or all its data (json)."""
    hotfix = open_hotfix(config, ticket)
    if format_ is Format.JSON:
        emit_json(show_data(hotfix.state, hotfix.receipts, now()))
    else:
        from daemon.document import document_md  # Jinja: a daemon (this module) has no use for it

        typer.echo(document_md(hotfix.state, hotfix.receipts, hotfix.settings, now(), locale))


@app.command("dead-letters")
def dead_letters(config: ConfigOpt = None, format_: FormatOpt = Format.TABLE,
                 replay: Annotated[Optional[str], typer.Option(help="put this dead letter back")] = None,
                 deliveries: Annotated[bool, typer.Option("--deliveries", help="failed deliveries instead of events")] = False) -> None:
    """Invalid events (or failed deliveries) with their reasons; --replay ID puts one back."""
    from daemon.deadletters import list_dead, replay_delivery, replay_event

    settings = settings_or_exit(config)
    redis = connect(settings, fail_fast=True)
    stream = keys.DELIVERY_DEAD_LETTERS if deliveries else keys.DEAD_LETTERS
    if replay is not None:
        done = replay_delivery(redis, replay, settings) if deliveries else replay_event(redis, replay)
        if not done:
            err.print(f"no dead letter {replay!r}", markup=False)
            raise typer.Exit(1)
        console.print(f"replayed {replay}", highlight=False)
        return
    rows = list_dead(redis, stream)
    if format_ is Format.JSON:
        emit_json(rows)
        return
    table = Table("id", "error", "raw")
    for row in rows:
        table.add_row(row["id"], row["error"], row["raw"][:80])
    console.print(table if rows else "no dead letters")


@app.command("check-config")
def check_config(config: ConfigOpt = None, format_: FormatOpt = Format.TABLE,
                 explain: Annotated[Optional[Severity], typer.Option(help="print who is told what, and when, for this severity")] = None) -> None:
    """Validate the configuration; exit non-zero naming each bad key."""
    from daemon.explain import explain_policy, summary

    settings = settings_or_exit(config)
    if explain is not None:
        text = explain_policy(settings, explain)
        emit_json(text) if format_ is Format.JSON else typer.echo(text["text"])
        return
    info = summary(settings)
    if format_ is Format.JSON:
        emit_json(info)
    else:
        typer.echo(info["text"])
