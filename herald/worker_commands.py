"""The ``hotfix`` commands of the delivery side: ``worker`` and ``preview``."""
from __future__ import annotations

import json
import signal
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from herald.app import ConfigOpt, MetricsOpt, app, fail, serve_metrics, settings_or_exit, setup_logging
from hotfix import keys
from hotfix.connection import connect, wait_for
from hotfix.enums import Channel, Locale, MessageName, Severity
from workers import jobs, runtime
from workers.worker import run

#: What RQ runs (``workers.jobs.deliver``…), imported now rather than by RQ at the first job (~75 ms then).
JOB_FUNCTIONS = jobs


@app.command()
def worker(config: ConfigOpt = None,
           burst: Annotated[bool, typer.Option(help="exit when the queues are empty")] = False,
           queues: Annotated[str, typer.Option(help="comma-separated, most urgent first")] = ",".join(keys.QUEUE_NAMES),
           fork: Annotated[bool, typer.Option(help="fork a process per job (isolation) instead of running in-process")] = False,
           p0_workers: Annotated[int, typer.Option(
               min=0, max=16, help="P0-only workers run beside this one (threads), so a P0 job never waits for the "
                                   "job in hand; 0 for none; none with --burst or --queues hotfix-p0")] = 1,
           name: Optional[str] = None, metrics_port: MetricsOpt = None, verbose: bool = False) -> None:
    """Deliver messages: take jobs from hotfix-p0, then hotfix-p1, then hotfix-p2 (and hotfix-p0 alone beside)."""
    setup_logging(verbose)
    settings = settings_or_exit(config)
    names = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = [q for q in names if q not in keys.QUEUE_NAMES]
    if unknown:
        raise typer.BadParameter(f"unknown queue(s) {', '.join(unknown)}; known: {', '.join(keys.QUEUE_NAMES)}")
    serve_metrics(metrics_port)
    redis = connect(settings)
    runtime.configure(settings, redis, keep_connections=not fork).renderer.preload()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if not wait_for(redis, settings.redis.url, stop):  # like the daemon: wait for Redis rather than die at start
        return
    try:
        run(redis, names, fork=fork, name=name, burst=burst, p0_workers=p0_workers,
            logging_level="DEBUG" if verbose else "INFO")
    finally:
        runtime.close()


@app.command()
def preview(message: MessageName,
            channel: Annotated[Channel, typer.Option(help="teams or email")] = Channel.EMAIL,
            severity: Severity = Severity.P0, locale: Optional[Locale] = None,
            part: Annotated[str, typer.Option(help="email: html|text|subject; teams: json|html")] = "",
            out: Annotated[Optional[Path], typer.Option(help="write to this file instead of stdout")] = None,
            case: Annotated[Optional[str], typer.Option(help="another text of the message, e.g. escalation: at_risk, "
                                                             "needs_access; postmortem: overdue, report "
                                                             "(--case list names them)")] = None,
            config: ConfigOpt = None) -> None:
    """Render a message from sample data, as it would be sent (--case: another of its texts)."""
    from workers.cards import card_to_html
    from workers.render import Renderer
    from workers.samples import CASES, sample_case

    settings = settings_or_exit(config)
    now = datetime.now(timezone.utc)
    renderer = Renderer(settings.templates_path(), settings.timezone, settings.mentionable(),
                        settings.resolve_within())
    if case == "list":
        typer.echo(" ".join(CASES.get(message, ("default",))))
        return
    try:
        hotfix, event, notice = sample_case(message, case, severity, now=now)
    except ValueError as exc:
        fail(f"--case: {exc}")
    # links as they would be sent, but never a working credential: the token is a placeholder
    link = f"{settings.http.public_url}/act/PREVIEW" if settings.http.links_enabled() and hotfix.is_open else None
    person = (notice or {}).get("person")
    loc = locale or settings.locale
    text: str | None
    if channel is Channel.TEAMS:
        content = renderer.teams(message, loc, hotfix, event=event, notice=notice, now=now, person=person,
                                  act_url=link)
        text = card_to_html(content.card) if part == "html" else json.dumps(content.card, ensure_ascii=False, indent=2)
    else:
        mail = renderer.email(message, loc, hotfix, event=event, notice=notice, now=now, person=person,
                              act_url=link)
        chosen = part or ("html" if out is not None and out.suffix in (".html", ".htm") else "text")
        text = {"html": mail.html, "text": f"Subject: {mail.subject}\n\n{mail.text}", "subject": mail.subject}.get(chosen)
        if text is None:
            raise typer.BadParameter("--part for email is html, text or subject")
    if out is not None:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")
    else:
        typer.echo(text)
