"""The ``hotfix`` console script: every command registered on one Typer app.

The delivery side loads alone: ``hotfix worker`` and ``hotfix preview`` register only
``herald.worker_commands``, so a worker-only host imports nothing of ``daemon/`` (a test runs
``python -X importtime -m herald.cli worker`` and checks). Any other command, and ``from herald.cli
import app``, registers them all.
"""
from __future__ import annotations

import importlib
import sys
from typing import Any

import typer

#: The commands of the delivery side, served by ``herald.worker_commands`` alone.
DELIVERY_SIDE = frozenset({"worker", "preview"})
#: The delivery side's module, and every module that registers commands on ``herald.app.app`` (in help order).
DELIVERY_MODULE = "herald.worker_commands"
COMMAND_MODULES = ("herald.commands", "herald.demo.command", "herald.stakeholder_commands", DELIVERY_MODULE)


def load(command: str | None = None) -> typer.Typer:
    """The app with its commands registered: only the delivery side's when ``command`` is one of them."""
    modules = (DELIVERY_MODULE,) if command in DELIVERY_SIDE else COMMAND_MODULES
    for module in modules:
        importlib.import_module(module)
    from herald.app import app

    return app


def __getattr__(name: str) -> Any:
    """``from herald.cli import app``: the app with every command."""
    if name == "app":
        return load()
    raise AttributeError(name)


def main() -> None:
    """Entry point of the ``hotfix`` command."""
    load(sys.argv[1] if len(sys.argv) > 1 else None)()


if __name__ == "__main__":
    main()
