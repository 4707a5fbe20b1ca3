"""The ``hotfix`` Typer app and what every command shares: options, settings loading, logging, JSON output, errors.

Commands register on ``app`` from ``herald.commands`` (events and views), ``herald.worker_commands``
(worker, preview) and ``herald.demo``; ``herald.cli.main`` runs it.

Exit codes: 0 done; 1 a lookup found nothing, or ``push`` refused some events and pushed the others;
2 an error — one line on stderr naming the cause (``error_line``), never a traceback: bad usage, bad
configuration, unreadable input, Redis unreachable, anything unexpected.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer
from rich.console import Console

from hotfix.config import ConfigError, load_settings
from hotfix.enums import Locale
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
LocaleOpt = Annotated[Optional[Locale], typer.Option("--locale", "-l", help="fr or en (default: the configured locale)")]


class CommandError(Exception):
    """A command cannot go on; ``str()`` is the one line that says why (exit 2)."""


def fail(message: str) -> NoReturn:
    """End the command: ``hotfix: <message>`` on one line of stderr, exit code 2."""
    err.print(f"hotfix: {' '.join(message.split())}", markup=False, highlight=False)
    raise typer.Exit(2)


#: The settings the running command loaded (to name the Redis it could not reach).
loaded: list[Settings] = []


def settings_or_exit(config: Path | None, **overrides: Any) -> Settings:
    """Load the settings or print the bad key (one line), or each bad key under the file's name, and exit 2."""
    try:
        settings = load_settings(config, **overrides)
    except ConfigError as exc:
        if len(exc.problems) == 1:
            err.print(f"hotfix: configuration error in {exc.source}: {exc.problems[0]}", highlight=False, markup=False)
        else:
            err.print(f"hotfix: configuration error in {exc.source}:", highlight=False, markup=False)
            for problem in exc.problems:
                err.print(f"  - {problem}", highlight=False, markup=False)
        raise typer.Exit(2) from None
    loaded[:] = [settings]
    return settings


def error_line(exc: BaseException) -> str:
    """The one line ``hotfix`` prints for an error that ended a command."""
    from redis.exceptions import AuthenticationError, RedisError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    from hotfix.connection import safe_url

    if isinstance(exc, CommandError):
        return str(exc)
    where = f" at {safe_url(loaded[0].redis.url)}" if loaded else ""
    if isinstance(exc, AuthenticationError):  # a ConnectionError to redis-py, but Redis is there: the password is wrong
        return f"Redis{where} refused the credentials ({exc}): check the password in [redis] url (HOTFIX_REDIS__URL)"
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
        return f"Redis is not reachable{where} ({exc}); is it running? ([redis] url, HOTFIX_REDIS__URL)"
    if isinstance(exc, RedisError):
        return f"Redis{where} refused: {type(exc).__name__}: {exc}"
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return f"unexpected {type(exc).__name__}: {exc}"


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
