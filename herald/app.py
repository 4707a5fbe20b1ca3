"""The ``hotfix`` Typer app and what every command shares: options, settings loading, logging, JSON output.

Commands register on ``app`` from ``herald.commands`` (events and views), ``herald.worker_commands``
(worker, preview) and ``herald.demo``; ``herald.cli.main`` runs it.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from hotfix.config import ConfigError, load_settings
from hotfix.settings import Settings

app = typer.Typer(help="Hotfix Herald: tells the right people, on time, every time.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
console = Console()
err = Console(stderr=True, soft_wrap=True)  # an error stays one line, whatever the terminal width


class Format(str, Enum):
    TABLE = "table"
    JSON = "json"
    MD = "md"


ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="TOML config (default $HOTFIX_CONFIG, then ./config.toml)")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table (terminal), json or md")]


def settings_or_exit(config: Path | None, **overrides: Any) -> Settings:
    """Load the settings or print each bad key and exit 2."""
    try:
        return load_settings(config, **overrides)
    except ConfigError as exc:
        err.print(f"[red]configuration error[/red] in {exc.source}:", highlight=False, soft_wrap=True)
        for problem in exc.problems:
            err.print(f"  - {problem}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(2) from None


MetricsOpt = Annotated[Optional[int], typer.Option("--metrics-port", help="serve Prometheus /metrics on this port")]


def serve_metrics(port: int | None) -> None:
    """Expose this process's metrics when asked to."""
    if port is not None:
        from hotfix.metrics import start_metrics_server

        start_metrics_server(port)


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def now() -> datetime:
    return datetime.now(timezone.utc)
