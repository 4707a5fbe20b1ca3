"""Daemon ingest rate, email fan-out to a large audience, and memory per open hotfix (scenarios 3-5)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from redis import Redis

from bench.stack import Herald, Sinks, drained, flush, group_info, herald, xadd_event, xadd_many
from bench.stats import rss_mb
from hotfix import keys


@dataclass
class Figures:
    """A scenario's named figures (already formatted) and notes."""

    name: str
    values: dict[str, str] = field(default_factory=dict)
    raw: dict[str, float] = field(default_factory=dict)


#: A P2 policy that sends little: one email for the announcement, nothing for updates.
QUIET = {
    "audiences": {"quiet": {"emails": ["quiet@bench.test"]}},
    "severity": {"P2": {"announce": ["quiet"], "updates": [], "resolution": ["quiet"]}},
}


def ingest_events(tickets: int, per_ticket: int) -> list[dict[str, Any]]:
    """Per ticket: a P2 declaration, then updates (phase, message, next step)."""
    now = datetime.now(timezone.utc).isoformat()
    out: list[dict[str, Any]] = []
    phases = ["triage", "fix", "review", "staging"]
    for i in range(tickets):
        ticket = f"ING-{i:05d}"
        out.append({"type": "declared", "ticket": ticket, "id": f"{ticket}-d", "severity": "P2",
                    "title": "Export is slow", "impact": "CSV export takes minutes", "at": now,
                    "team": {"coordinator": "Alice", "developer": "Bob"}})
        out += [{"type": "updated", "ticket": ticket, "id": f"{ticket}-u{j}", "message": f"progress {j}",
                 "next_step": "keep going", "phase": phases[min(j // 3, 3)], "at": now}
                for j in range(1, per_ticket)]
    return out


def timed_drain(redis: Redis, h: Herald, total: int, timeout: float) -> tuple[float, float]:
    """From the first entry read to lag 0 and nothing pending; returns (seconds, events/s)."""
    deadline = time.monotonic() + timeout
    first: float | None = None
    while time.monotonic() < deadline:
        info = group_info(redis)
        if first is None and info and int(info.get("entries-read") or 0) > 0:
            first = time.monotonic()
        if first is not None and drained(redis):
            elapsed = time.monotonic() - first
            return elapsed, total / elapsed if elapsed > 0 else float("nan")
        h.check_alive()
        time.sleep(0.01)
    raise TimeoutError(f"the daemon did not drain {total} events in {timeout:.0f}s: {group_info(redis)}")


def ingest(redis: Redis, s: Sinks, workdir: Path, tickets: int, per_ticket: int = 10) -> Figures:
    """Scenario 3: events pushed first, then one daemon started; time until XINFO GROUPS says lag 0."""
    result = Figures("Ingest")
    flush(redis)
    events = ingest_events(tickets, per_ticket)
    with herald(s, workdir / "ingest", QUIET) as h:
        redis.xgroup_create(keys.EVENTS_STREAM, keys.CONSUMER_GROUP, id="0", mkstream=True)
        xadd_many(redis, events)
        h.daemon()
        elapsed, rate = timed_drain(redis, h, len(events), timeout=600)
        jobs = sum(redis.llen(f"rq:queue:{q}") for q in keys.QUEUE_NAMES)
    result.raw["rate"] = rate
    result.values["events"] = f"{len(events)} ({tickets} tickets: declared + {per_ticket - 1} updates, P2)"
    result.values["jobs enqueued"] = str(jobs)
    result.values["drain time"] = f"{elapsed:.2f} s"
    result.values["events/s (one daemon)"] = f"{rate:,.0f}"
    return result


def fan_out(redis: Redis, s: Sinks, workdir: Path, recipients: int, workers: int = 2,
            batch_size: int = 100) -> Figures:
    """Scenario 4: one P0 announcement to an ``emails_file`` audience; until the last RCPT is accepted."""
    result = Figures("Fan-out")
    flush(redis)
    path = workdir / "fanout" / "customers.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"customer{i:05d}@bench.test\n" for i in range(recipients)), encoding="utf-8")
    config = {"smtp": {"batch_size": batch_size}, "audiences": {"customers": {"emails_file": str(path)}},
              "severity": {"P0": {"announce": ["customers"], "updates": [], "resolution": []}}}
    with herald(s, workdir / "fanout", config) as h:
        h.daemon()
        for _ in range(workers):
            h.worker()
        h.wait_workers(redis)
        before = s.handler.rcpt_accepted
        start = time.monotonic()
        xadd_event(redis, {"type": "declared", "ticket": "FAN-1", "id": "FAN-1-d", "severity": "P0",
                           "title": "Payments broken", "at": datetime.now(timezone.utc).isoformat()})
        deadline = start + 300
        while s.handler.rcpt_accepted - before < recipients and time.monotonic() < deadline:
            h.check_alive()
            time.sleep(0.05)
        got = s.handler.rcpt_accepted - before
        elapsed = s.handler.last_rcpt - start
    result.raw["seconds"] = elapsed
    result.values["recipients accepted"] = f"{got}/{recipients}"
    result.values["batch_size / jobs"] = f"{batch_size} / {-(-recipients // batch_size)}"
    result.values["workers"] = f"{workers} (SimpleWorker)"
    result.values["XADD → last RCPT accepted"] = f"{elapsed:.2f} s"
    result.values["recipients/s"] = f"{got / elapsed:,.0f}" if elapsed > 0 else "n/a"
    return result


def memory(redis: Redis, s: Sinks, workdir: Path, hotfixes: int) -> Figures:
    """Scenario 5: daemon RSS and Redis bytes per hotfix with ``hotfixes`` open (declared + 1 update each)."""
    result = Figures("Memory")
    flush(redis)
    config: dict[str, Any] = {"severity": {"P2": {"announce": [], "updates": [], "resolution": []}}}
    events = ingest_events(hotfixes, 2)
    with herald(s, workdir / "memory", config) as h:
        daemon = h.daemon()
        redis.xgroup_create(keys.EVENTS_STREAM, keys.CONSUMER_GROUP, id="0", mkstream=True)
        time.sleep(1.0)
        idle_rss = rss_mb(daemon.proc.pid)
        base = int(redis.info("memory")["used_memory"])
        xadd_many(redis, events)
        timed_drain(redis, h, len(events), timeout=600)
        time.sleep(0.5)
        loaded_rss = rss_mb(daemon.proc.pid)
        redis.delete(keys.EVENTS_STREAM, keys.DEAD_LETTERS)
        after = int(redis.info("memory")["used_memory"])
        open_count = int(redis.scard(keys.OPEN_SET))
        state_keys = [keys.hotfix(f"ING-{i:05d}") for i in range(min(hotfixes, 500))]
        sample = [int(redis.memory_usage(k, samples=0) or 0) for k in state_keys]
        shared = sum(int(redis.memory_usage(k, samples=0) or 0) for k in (keys.OPEN_SET, keys.ALL_SET, keys.TIMERS))
    per_state = sum(sample) / len(sample) if sample else float("nan")
    result.raw["rss"] = loaded_rss
    result.raw["bytes_per_hotfix"] = (after - base) / max(open_count, 1)
    result.values["open hotfixes"] = str(open_count)
    result.values["daemon RSS idle → with them"] = f"{idle_rss:.1f} MiB → {loaded_rss:.1f} MiB"
    result.values["MEMORY USAGE of one state key (mean of sample)"] = f"{per_state:,.0f} B"
    result.values["open/all sets + timers, per hotfix"] = f"{shared / max(open_count, 1):,.0f} B"
    result.values["INFO used_memory delta / hotfix (stream deleted)"] = f"{(after - base) / max(open_count, 1):,.0f} B"
    return result
