"""The ``hotfix`` console script: every command registered on one Typer app.

Long-running processes load only the module of their command: ``hotfix worker`` and ``hotfix preview``
register only ``herald.worker_commands``, so a worker-only host imports nothing of ``daemon/``; ``hotfix
daemon`` and ``hotfix serve`` register only ``herald.commands``, so a daemon carries neither the demo's nor
the workers' imports (25 MiB of its resident memory). Tests run ``python -X importtime -m herald.cli …``
and check. Any other command, and ``from herald.cli import app``, registers them all.
"""
from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import typer
import typer.main

#: The delivery side's module, and every module that registers commands on ``herald.app.app`` (in help order).
DELIVERY_MODULE = "herald.worker_commands"
COMMAND_MODULES = ("herald.commands", "herald.demo.command", "herald.stakeholder_commands", DELIVERY_MODULE)
#: The long-running commands, each served by the one module that registers it.
PROCESS_HOMES = {"worker": DELIVERY_MODULE, "preview": DELIVERY_MODULE,
                 "daemon": "herald.commands", "serve": "herald.commands"}


def load(command: str | None = None) -> typer.Typer:
    """The app with its commands registered: only its own module's when ``command`` is a long-running one."""
    home = PROCESS_HOMES.get(command or "")
    modules = (home,) if home else COMMAND_MODULES
    for module in modules:
        importlib.import_module(module)
    from herald.app import app

    return app


def __getattr__(name: str) -> Any:
    """``from herald.cli import app``: the app with every command."""
    if name == "app":
        return load()
    raise AttributeError(name)


def _usage_error(exc: Exception) -> tuple[str, int] | None:
    """(message, exit code) of a command-line error of Typer's (vendored) click, or None for any other exception."""
    if type(exc).__name__ == "Abort":
        return "aborted", 130
    exit_code, format_message = getattr(exc, "exit_code", None), getattr(exc, "format_message", None)
    if not isinstance(exit_code, int) or not callable(format_message):
        return None
    ctx = getattr(exc, "ctx", None)
    where = getattr(ctx, "command_path", "") or "hotfix"
    text = str(format_message()).strip()
    if not text:  # e.g. no command at all: the help was printed
        sys.exit(exit_code)
    return f"{text} (see {where} --help)" if exit_code == 2 else text, exit_code or 2


def main() -> None:
    """Entry point of the ``hotfix`` command: every error ends as one line on stderr and exit code 2."""
    from herald.app import err, error_line

    command = typer.main.get_command(load(sys.argv[1] if len(sys.argv) > 1 else None))
    try:
        code = command.main(args=sys.argv[1:], prog_name="hotfix", standalone_mode=False)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback (HOTFIX_TRACEBACK=1 shows it)
        if os.environ.get("HOTFIX_TRACEBACK"):
            raise
        message, code = _usage_error(exc) or (error_line(exc), 2)
    else:
        sys.exit(code if isinstance(code, int) else 0)
    err.print(f"hotfix: {' '.join(message.split())}", markup=False, highlight=False)
    sys.exit(code)


if __name__ == "__main__":
    main()
