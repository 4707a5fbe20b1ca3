"""The ``hotfix`` commands of stakeholder communication: ``postmortem``, ``subscribers``, ``approvals``, ``approve``,
``decline``."""
from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from herald.app import ConfigOpt, Format, FormatOpt, LocaleOpt, app, console, emit_json, err, fail, now, settings_or_exit
from herald.commands import open_hotfix
from hotfix import communication, subscribers
from hotfix.connection import connect
from hotfix.enums import Decision
from hotfix.jobs import read_emails_file
from hotfix.postmortem import build, render_md
from hotfix.settings import Settings


@app.command()
def postmortem(ticket: str, config: ConfigOpt = None, format_: FormatOpt = Format.MD, locale: LocaleOpt = None) -> None:
    """The post-mortem draft of one hotfix: phases, rollbacks, golden rules and communication figures (md or json)."""
    hotfix = open_hotfix(config, ticket)
    draft = build(hotfix.state, hotfix.receipts, hotfix.settings, now())
    if format_ is Format.JSON:
        emit_json(draft.model_dump(mode="json"))
    else:
        typer.echo(render_md(draft, hotfix.settings, locale), nl=False)


@app.command("subscribers")
def subscribers_(audience: str, config: ConfigOpt = None, format_: FormatOpt = Format.TABLE,
                 remove: Annotated[Optional[str], typer.Option("--remove", help="take this address out of the audience for good")] = None,
                 invite: Annotated[bool, typer.Option("--invite", help="print a signed link to the subscription form of this "
                                                      "self-service audience (valid [http] invite_ttl)")] = False) -> None:
    """The addresses of an audience with their origin (config, file, self) and state (subscribed, pending, unsubscribed)."""
    settings = settings_or_exit(config)
    if audience not in settings.audiences:
        fail(f"unknown audience {audience!r} (configured: {', '.join(sorted(settings.audiences)) or 'none'})")
    if invite:
        _invite(settings, audience)
        return
    redis = connect(settings, fail_fast=True)
    changes = subscribers.entries(redis, audience)
    rows = subscribers.roster(settings, audience, changes, read_emails_file)
    if remove is not None:
        key = subscribers.normalize(remove)
        if key not in {subscribers.normalize(r.address) for r in rows}:
            err.print(f"{remove!r} is not an address of {audience}", markup=False, highlight=False)
            raise typer.Exit(1)
        if subscribers.unsubscribe(redis, audience, key, now(), by="operator"):
            communication.count(redis, "unsubscribes", audience)
            console.print(f"{key} removed from {audience}: it receives nothing more of it", highlight=False, markup=False)
        else:
            console.print(f"{key} had already left {audience}", highlight=False, markup=False)
        return
    if format_ is Format.JSON:
        emit_json([subscribers.dump(r) for r in rows])
        return
    table = Table("address", "origin", "state", "since")
    for row in rows:
        table.add_row(row.address, row.origin.value, row.state.value, row.at.isoformat(timespec="seconds") if row.at else "—")
    console.print(table if rows else f"{audience} has no address")


def _invite(settings: Settings, audience: str) -> None:
    """Print the invitation link of a self-service audience, or say in one line why there is none."""
    from hotfix.subscription_links import invite_url

    if not settings.audiences[audience].self_service:
        fail(f"audiences.{audience} is not self_service: nobody can join it from a link")
    if not settings.http.links_enabled():
        fail("links are off: set [http] public_url and signing_key to invite")
    typer.echo(invite_url(settings, [audience], now()))


@app.command()
def approvals(config: ConfigOpt = None, format_: FormatOpt = Format.TABLE) -> None:
    """Messages held for approval: id, ticket, message, audience, since (oldest first)."""
    from daemon.held import pending

    settings = settings_or_exit(config)
    rows = pending(connect(settings, fail_fast=True), settings)
    if format_ is Format.JSON:
        emit_json(rows)
        return
    table = Table("id", "ticket", "message", "audience", "held since", "approvers", "goes out unapproved at")
    for row in rows:
        table.add_row(row["id"], row["ticket"], row["message"], row["audience"], row["since"],
                      ", ".join(row["approvers"]), row["timeout_at"] or "never (waits)")
    console.print(table if rows else "no message is waiting for approval")


def _settle(config: ConfigOpt, held_id: str, decision: Decision, by: str, reason: str | None,
            edits: dict[str, str] | None = None) -> None:
    from daemon.approvals import NotHeld
    from daemon.held import settle

    settings = settings_or_exit(config)
    try:
        released = settle(connect(settings, fail_fast=True), settings, held_id, decision, by=by, now=now(), reason=reason, edits=edits)
    except NotHeld as exc:  # a lookup that found nothing: exit 1
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(1) from None
    except ValueError as exc:  # a bad id or edit: a usage error, exit 2
        fail(str(exc))
    console.print(released.answer, markup=False, highlight=False)


def _operator() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "operator"


@app.command()
def approve(held_id: Annotated[str, typer.Argument(metavar="ID", help="as `hotfix approvals` lists it")],
            by: Annotated[Optional[str], typer.Option("--by", help="who approves (default: your user name)")] = None,
            message: Annotated[Optional[str], typer.Option(help="send with this text instead")] = None,
            next_step: Annotated[Optional[str], typer.Option(help="send with this next step instead")] = None,
            config: ConfigOpt = None) -> None:
    """Approve a held message: it goes to its audience now, with the hotfix as it is (and your wording)."""
    edits = {k: v for k, v in (("message", message), ("next_step", next_step)) if v}
    _settle(config, held_id, Decision.APPROVED, by or _operator(), None, edits)


@app.command()
def decline(held_id: Annotated[str, typer.Argument(metavar="ID", help="as `hotfix approvals` lists it")],
            reason: Annotated[str, typer.Option("--reason", help="why it must not go out")],
            by: Annotated[Optional[str], typer.Option("--by", help="who declines (default: your user name)")] = None,
            config: ConfigOpt = None) -> None:
    """Decline a held message: its audience never receives it (a later message is held again)."""
    _settle(config, held_id, Decision.DECLINED, by or _operator(), reason)
