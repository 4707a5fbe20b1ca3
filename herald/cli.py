"""The ``hotfix`` console script: the daemon's commands, the worker's, and ``demo``."""
from __future__ import annotations

import herald.demo  # noqa: F401  (registers demo)
import workers.cli  # noqa: F401  (registers worker and preview)
from daemon.cli import app


def main() -> None:
    """Entry point of the ``hotfix`` command."""
    app()


if __name__ == "__main__":
    main()
