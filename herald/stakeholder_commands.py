"""The ``hotfix`` commands of stakeholder communication: ``postmortem``."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from daemon import store
from herald.app import ConfigOpt, Format, FormatOpt, app, emit_json, err, now, settings_or_exit
from hotfix.connection import connect
from hotfix.enums import Locale
from hotfix.postmortem import build, render_md


@app.command()
def postmortem(ticket: str, config: ConfigOpt = None, format_: FormatOpt = Format.MD,
               locale: Annotated[Optional[Locale], typer.Option(help="fr or en (default: the configured locale)")] = None) -> None:
    """The post-mortem draft of one hotfix: phases, rollbacks, golden rules and communication figures (md or json)."""
    settings = settings_or_exit(config)
    redis = connect(settings)
    try:
        state = store.load(redis, ticket)
    except ValueError as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(2) from None
    if state is None or not state.declared:
        err.print(f"no hotfix {ticket!r}", markup=False)
        raise typer.Exit(1)
    draft = build(state, store.receipts(redis, ticket), settings, now())
    if format_ is Format.JSON:
        emit_json(draft.model_dump(mode="json"))
    else:
        typer.echo(render_md(draft, settings, locale), nl=False)
