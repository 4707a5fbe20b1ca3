"""The ``hotfix`` console script: every command registered on one Typer app."""
from __future__ import annotations

import herald.commands  # noqa: F401  (registers daemon, serve, push, list, show, dead-letters, check-config)
import herald.demo  # noqa: F401  (registers demo)
import herald.stakeholder_commands  # noqa: F401  (registers postmortem)
import herald.worker_commands  # noqa: F401  (registers worker and preview)
from herald.app import app


def main() -> None:
    """Entry point of the ``hotfix`` command."""
    app()


if __name__ == "__main__":
    main()
