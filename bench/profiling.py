"""Profile the daemon's ingest and the worker's delivery with pyinstrument (``pip install pyinstrument``).

    python bench/profiling.py [--events 4000] [--jobs 300] [--out DIR]

Ingest: events are pushed first, then ``hotfix daemon`` runs under pyinstrument until
the group's lag is 0 (then SIGINT, which the daemon takes as a clean stop). Delivery:
a daemon enqueues P0 announcements (Teams + email) with no worker running, then
``hotfix worker --burst`` runs under pyinstrument until the queues are empty.
Text reports land in ``--out`` (default: a temporary folder), and the ingest and
delivery rates measured under the profiler are printed (the profiler slows them).
"""
from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.latency import declared  # noqa: E402
from bench.stack import bench_redis, drained, flush, herald, sinks, xadd_many  # noqa: E402
from bench.throughput import QUIET, ingest_events, timed_drain  # noqa: E402
from hotfix import keys  # noqa: E402
from tests.fixtures.processes import wait_until  # noqa: E402


@contextmanager
def counting() -> Iterator[Counter[str]]:
    """Count the Redis commands sent to the bench database meanwhile (MONITOR, filtered on db 6)."""
    counts: Counter[str] = Counter()
    stop = threading.Event()
    ready = threading.Event()

    def listen() -> None:
        with bench_redis().monitor() as monitor:
            ready.set()
            for item in monitor.listen():
                if stop.is_set():
                    return
                if item.get("db") == 6:
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


def profile_delivery(out: Path, jobs: int, fork: bool = False, profile: bool = True) -> float:
    redis = bench_redis()
    flush(redis)
    with sinks() as s:
        config: dict[str, Any] = {
            "teams": {"hook": {"url": s.teams.url("/hook"), "rate": 100000.0}},
            "audiences": {"p0": {"teams": ["hook"], "emails": ["oncall@bench.test"]}},
            "severity": {"P0": {"announce": ["p0"], "updates": ["p0"], "resolution": ["p0"]}}}
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
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="herald-profile-"))
    out.mkdir(parents=True, exist_ok=True)
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
