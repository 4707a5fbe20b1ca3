"""The ``hotfix`` console script: the daemon's commands, the worker's, and ``demo``."""
from __future__ import annotations

from daemon.cli import app
import workers.cli  # noqa: F401  (registers worker and preview)
import herald.demo  # noqa: F401  (registers demo)


def main() -> None:
    """Entry point of the ``hotfix`` command."""
    app()


if __name__ == "__main__":
    main()
