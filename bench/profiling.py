"""Profile the daemon's ingest and the worker's delivery with pyinstrument (``pip install pyinstrument``).

    python bench/profiling.py [--events 4000] [--jobs 300] [--out DIR]
    python bench/profiling.py --per-job [--jobs 300] [--tree DIR]   # worker CPU ms and Redis commands per job

``--per-job`` runs the delivery without a profiler and reports what one job costs the worker: CPU
time (user + system, from ``getrusage`` of the reaped ``hotfix worker --burst``: unlike wall time it
barely moves when other processes load the machine) and Redis commands (MONITOR while it runs).
``--tree DIR`` runs another tree's Herald (e.g. ``git archive <commit>``): alternate the two in one sitting.

Ingest: events are pushed first, then ``hotfix daemon`` runs under pyinstrument until
the group's lag is 0 (then SIGINT, which the daemon takes as a clean stop). Delivery:
a daemon enqueues P0 announcements (Teams + email) with no worker running, then
``hotfix worker --burst`` runs under pyinstrument until the queues are empty.
Text reports land in ``--out`` (default: a temporary folder), and the ingest and
delivery rates measured under the profiler are printed (the profiler slows them).
"""
from __future__ import annotations

import argparse
import resource
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.latency import declared  # noqa: E402
from bench.stack import BENCH_DB, bench_redis, current_tree, drained, flush, herald, sinks, tree_of, use_tree, xadd_many  # noqa: E402
from bench.throughput import QUIET, ingest_events, timed_drain  # noqa: E402
from hotfix import keys  # noqa: E402
from tests.fixtures.processes import wait_until  # noqa: E402


@contextmanager
def counting() -> Iterator[Counter[str]]:
    """Count the Redis commands sent to the bench database meanwhile (MONITOR, filtered on the bench db)."""
    counts: Counter[str] = Counter()
    stop = threading.Event()
    ready = threading.Event()

    def listen() -> None:
        with bench_redis().monitor() as monitor:
            ready.set()
            for item in monitor.listen():
                if stop.is_set():
                    return
                if item.get("db") == BENCH_DB:
                    counts[str(item.get("command", "")).split(" ")[0].upper()] += 1

    threading.Thread(target=listen, daemon=True).start()
    ready.wait(5)
    try:
        yield counts
    finally:
        time.sleep(0.5)
        stop.set()


def pyinstrument(out: Path) -> list[str]:
    return ["-m", "pyinstrument", "--interval", "0.0005", "-r", "text", "-o", str(out)]


def profile_ingest(out: Path, events: int, profile: bool = True) -> float:
    redis = bench_redis()
    flush(redis)
    with sinks() as s, herald(s, out / "ingest-run", QUIET) as h:
        redis.xgroup_create(keys.EVENTS_STREAM, keys.CONSUMER_GROUP, id="0", mkstream=True)
        xadd_many(redis, ingest_events(events // 10, 10))
        proc = h.start("daemon", prefix=pyinstrument(out / "daemon-ingest.txt") if profile else None)
        _, rate = timed_drain(redis, h, events, timeout=600)
        proc.stop(signal.SIGINT, timeout=60)
    flush(redis)
    return rate


@dataclass
class PerJob:
    """What ``jobs`` delivery jobs cost one ``hotfix worker --burst``."""

    jobs: int
    wall: float
    cpu: float
    commands: Counter[str]

    def line(self) -> str:
        total = sum(self.commands.values())
        top = ", ".join(f"{k} {v / self.jobs:.1f}" for k, v in self.commands.most_common(12))
        return (f"{self.jobs} jobs in {self.wall:.2f} s wall; worker CPU {self.cpu * 1000 / self.jobs:.2f} ms/job; "
                f"Redis {total / self.jobs:.1f} commands/job ({top})")


def _burst(h: Any) -> tuple[float, float, Counter[str]]:
    """Run one ``hotfix worker --burst`` to the end: (wall s, CPU s, Redis commands)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with counting() as commands:
        started = time.monotonic()
        proc = h.start("worker", "--burst")
        proc.proc.wait(timeout=600)
        wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    commands.pop("FLUSHDB", None)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), commands


def per_job(out: Path, jobs: int) -> PerJob:
    """Enqueue ``jobs`` P0 announcement jobs (half email, half Teams), then time one worker draining them.

    A first ``--burst`` on empty queues measures start-up and shut-down (imports, templates, RQ
    registration), taken off the second's figures.
    """
    redis = bench_redis()
    flush(redis)
    with sinks() as s:
        config = _one_hook(s)
        with herald(s, out / "per-job-run", config) as h:
            daemon = h.daemon()
            wait_until(lambda: bool(redis.exists(keys.EVENTS_STREAM)), timeout=30, message="the consumer group")
            daemon.stop()
            idle_wall, idle_cpu, idle_commands = _burst(h)
            daemon = h.daemon()
            xadd_many(redis, [declared(f"LAT-{i:05d}") for i in range(jobs // 2)])
            wait_until(lambda: drained(redis), timeout=300, message="the daemon to enqueue")
            daemon.stop()
            wall, cpu, commands = _burst(h)
            done = len(s.teams.requests("/hook")) + len(s.handler.messages)
    flush(redis)
    commands.subtract(idle_commands)
    return PerJob(done, wall - idle_wall, cpu - idle_cpu, +commands)


def _one_hook(s: Any) -> dict[str, Any]:
    """P0 to one unthrottled Teams hook and one inbox of the sinks ``s``: the per-job profiles' configuration."""
    return {"teams": {"hook": {"url": s.teams.url("/hook"), "rate": 100000.0}},
            "audiences": {"p0": {"teams": ["hook"], "emails": ["oncall@bench.test"]}},
            "severity": {"P0": {"announce": ["p0"], "updates": ["p0"], "resolution": ["p0"]}}}


def profile_delivery(out: Path, jobs: int, fork: bool = False, profile: bool = True) -> float:
    redis = bench_redis()
    flush(redis)
    with sinks() as s:
        config = _one_hook(s)
        with herald(s, out / "delivery-run", config) as h:
            daemon = h.daemon()
            wait_until(lambda: bool(redis.exists(keys.EVENTS_STREAM)), timeout=30, message="the consumer group")
            xadd_many(redis, [declared(f"LAT-{i:05d}") for i in range(jobs // 2)])
            wait_until(lambda: drained(redis), timeout=300, message="the daemon to enqueue")
            daemon.stop()
            name = "worker-delivery-fork.txt" if fork else "worker-delivery.txt"
            args = ["worker", "--burst"] + (["--fork"] if fork else [])
            started = time.monotonic()
            proc = h.start(*args, prefix=pyinstrument(out / name) if profile else None)
            proc.proc.wait(timeout=600)
            elapsed = time.monotonic() - started
            done = len(s.teams.requests("/hook")) + len(s.handler.messages)
    flush(redis)
    return done / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--count-commands", action="store_true", help="count Redis commands per event / per job")
    parser.add_argument("--per-job", action="store_true", help="worker CPU and Redis commands per delivery job")
    parser.add_argument("--tree", type=Path, default=None, help="run the Herald processes of this tree (default: this one)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="herald-profile-"))
    out.mkdir(parents=True, exist_ok=True)
    if args.per_job:
        tree = tree_of(args.tree.resolve(), str(args.tree)) if args.tree else current_tree()
        with use_tree(tree):
            print(f"{tree.path}: {per_job(out, args.jobs).line()}")
        return 0
    if args.count_commands:
        with counting() as ingest:
            profile_ingest(out, 500, profile=False)
        print("Redis commands per ingested event:", _per(ingest, 500))
        with counting() as deliver:
            profile_delivery(out, 100, profile=False)
        print("Redis commands of 50 P0 ingests + 100 delivery jobs, per job:", _per(deliver, 100))
        return 0
    print(f"ingest under the profiler: {profile_ingest(out, args.events):,.0f} events/s", flush=True)
    print(f"delivery under the profiler (SimpleWorker, incl. start-up): "
          f"{profile_delivery(out, args.jobs):,.1f} jobs/s", flush=True)
    print(f"reports in {out}")
    return 0


def _per(counts: Counter[str], n: int) -> str:
    total = sum(counts.values()) - counts["FLUSHDB"]
    top = ", ".join(f"{k} {v / n:.1f}" for k, v in counts.most_common(14) if k != "FLUSHDB")
    return f"{total / n:.1f} ({top})"


if __name__ == "__main__":
    raise SystemExit(main())
