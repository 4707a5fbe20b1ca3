"""``hotfix worker`` on a worker-only host: it delivers, and loads nothing of ``daemon/`` to do it."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from redis import Redis

from tests.fixtures.herald import BASE_CONFIG, drain, event, make_daemon, make_settings, merge, xadd  # noqa: F401
from tests.fixtures.processes import to_toml


def imported_modules(stderr: str) -> list[str]:
    """The modules ``python -X importtime`` reports as imported (its lines may interleave with log lines)."""
    return re.findall(r"import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)", stderr)


def test_hotfix_worker_imports_nothing_from_daemon(tmp_path: Path, redis: Redis, redis_url: str,
                                                   make_settings, make_daemon) -> None:
    """A worker that delivers a job imports workers/ and hotfix/ modules, and not one module of daemon/."""
    outbox = tmp_path / "outbox"
    config = tmp_path / "config.toml"
    config.write_text(to_toml(merge(BASE_CONFIG, {"redis": {"url": redis_url}, "outbox": {"dir": str(outbox)}})))
    xadd(redis, event("declared"))
    drain(make_daemon(make_settings(outbox={"dir": str(outbox)})))  # the daemon runs here, in the test process
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "herald.cli", "worker", "--burst",
                           "--config", str(config)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    modules = imported_modules(done.stderr)
    assert {"workers.render", "workers.retry", "workers.channels", "hotfix.jobs"} <= set(modules)  # it delivered
    assert list((outbox / "INC-1").iterdir())
    assert [m for m in modules if m == "daemon" or m.startswith("daemon.")] == []
