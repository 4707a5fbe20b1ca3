"""Redis round trips and commands per delivery job, counted in one process (no sampling, no noise).

    python bench/roundtrips.py [--jobs 200]
    PYTHONSAFEPATH=1 PYTHONPATH=OTHER_TREE python bench/roundtrips.py      # the same on another tree

A daemon (in this process) enqueues ``jobs`` P0 announcement jobs, half email, half Teams (loopback
sinks in this process); then Herald's own RQ worker (``workers.worker.make_worker``) runs them in
burst mode while every request redis-py sends is counted (a pipeline or a MULTI/EXEC is one round
trip) and MONITOR counts the commands. Uses the bench's Redis database (``$HOTFIX_BENCH_REDIS_DB``,
default 10), flushed before and after.
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import threading
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200)
    jobs = parser.parse_args().jobs
    import redis.connection as connection
    from aiosmtpd.controller import Controller
    from redis import Redis

    import workers
    from daemon.consumer import Daemon
    from hotfix import keys
    from hotfix.settings import Settings
    from tests.fixtures.herald import BASE_CONFIG, drain, event, merge, xadd
    from tests.fixtures.smtp_server import RecordingHandler, free_port
    from tests.fixtures.teams_server import FakeTeams
    from workers import runtime
    from workers.worker import make_worker

    db = int(os.environ.get("HOTFIX_BENCH_REDIS_DB", "10"))
    if db in (0, 13):
        raise SystemExit(f"refusing to use Redis db {db}")
    print(f"tree: {Path(workers.__file__).resolve().parent.parent}")
    redis = Redis(db=db)
    redis.flushdb()
    teams, handler, port = FakeTeams(), RecordingHandler(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = Settings(**merge(BASE_CONFIG, {
            "redis": {"url": f"redis://127.0.0.1:6379/{db}"}, "outbox": {"dir": "/tmp/herald-roundtrips-outbox"},
            "smtp": {"host": "127.0.0.1", "port": port, "security": "none", "sender": "B <b@bench.test>"},
            "teams": {"hook": {"url": teams.url("/hook"), "rate": 100000.0}},
            "audiences": {"p0": {"teams": ["hook"], "emails": ["oncall@bench.test"]}},
            "severity": {"P0": {"announce": ["p0"], "updates": ["p0"], "resolution": ["p0"]}}}))
        runtime.configure(settings, redis).renderer.preload()
        daemon = Daemon(redis, settings, block_ms=None)
        daemon.ensure_group()
        xadd(redis, *[event("declared", ticket=f"RTT-{i}") for i in range(jobs // 2 + 1)])
        drain(daemon)
        worker = make_worker(redis, list(keys.QUEUE_NAMES))
        worker.work(burst=True, max_jobs=2)  # warm: connections, templates
        counted = [0]
        target = connection.AbstractConnection
        original = target.send_packed_command

        def counting(self: object, command: object, check_health: bool = True) -> None:
            counted[0] += 1
            original(self, command, check_health)  # type: ignore[arg-type]

        commands: collections.Counter[str] = collections.Counter()
        stop, ready = threading.Event(), threading.Event()

        def monitor() -> None:
            with Redis(db=db).monitor() as watched:
                ready.set()
                for item in watched.listen():
                    if stop.is_set():
                        return
                    if item.get("db") == db:
                        commands[str(item["command"]).split(" ")[0].upper()] += 1

        threading.Thread(target=monitor, daemon=True).start()
        ready.wait(5)
        time.sleep(0.2)
        target.send_packed_command = counting  # type: ignore[method-assign]
        try:
            worker.work(burst=True)
        finally:
            target.send_packed_command = original  # type: ignore[method-assign]
        time.sleep(0.5)
        stop.set()
        ran = jobs
        top = ", ".join(f"{k} {v / ran:.1f}" for k, v in commands.most_common(8))
        print(f"{ran} jobs: {counted[0] / ran:.1f} round trips per job, {sum(commands.values()) / ran:.1f} "
              f"Redis commands per job ({top})")
    finally:
        controller.stop()
        teams.close()
        redis.flushdb()
    return 0


if __name__ == "__main__":
    sys.exit(main())
