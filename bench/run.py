"""Run Herald's benchmarks on loopback sinks and write BENCHMARKS.md.

    python bench/run.py [--quick] [--label before|after] [--only p0,isolation,ingest,fanout,memory,versus]
    python bench/run.py --compare DIR [--compare-label TEXT]   # each scenario on DIR's Herald, then on this one

``--compare`` measures before and after side by side in one sitting: every scenario runs first with the
Herald processes of the tree in DIR (e.g. ``git archive <commit> | tar -x -C DIR``), then with this
tree's, on the same sinks and Redis database, and both tables go into the "compare" section. Each table
says the machine's load average when it started and ended: on a shared machine, compare the two
figures of one scenario, not figures of different sittings.

Real ``hotfix`` processes, a local HTTP server as Teams, aiosmtpd as SMTP, Redis db 10 (`$HOTFIX_BENCH_REDIS_DB`)
(flushed per scenario). ``--quick`` uses reduced sizes (< 3 minutes); the full run
takes ~6 minutes on 2 cores. Loops are bounded in count and time; nothing leaves 127.0.0.1.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the project and its test fixtures importable
    sys.path.insert(0, str(ROOT))

from bench import latency, report, throughput, versus  # noqa: E402
from bench.report import Target  # noqa: E402
from bench.stack import Tree, bench_redis, current_tree, flush, sinks, tree_of, use_tree  # noqa: E402
from bench.stats import machine  # noqa: E402

SCENARIOS = ("p0", "isolation", "ingest", "fanout", "memory", "versus")


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is."""

    p0_email: int
    p0_teams: int
    storm_tickets: int
    isolation_p0: int
    ingest_tickets: int
    fanout: int
    memory: int
    alerts: int


FULL = Sizes(p0_email=200, p0_teams=200, storm_tickets=1000, isolation_p0=60, ingest_tickets=2000,
             fanout=10_000, memory=10_000, alerts=1000)
QUICK = Sizes(p0_email=60, p0_teams=30, storm_tickets=200, isolation_p0=15, ingest_tickets=400,
              fanout=2000, memory=2000, alerts=200)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="reduced sizes, a smoke check (< 3 min)")
    parser.add_argument("--label", default=None,
                        help="the BENCHMARKS.md section to write: before (default), after; --quick: quick")
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated among {', '.join(SCENARIOS)}")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md", help="the report to update")
    parser.add_argument("--workdir", type=Path, default=None, help="where configs and process logs go")
    parser.add_argument("--compare", type=Path, default=None,
                        help="a Herald tree to run each scenario with first (before), then this tree (after)")
    parser.add_argument("--compare-label", default=None, help="how the report names the --compare tree")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    sizes = QUICK if args.quick else FULL
    label = args.label or ("compare" if args.compare else "quick" if args.quick else "before")
    trees = [current_tree()]
    if args.compare is not None:
        trees = [tree_of(args.compare.resolve(), args.compare_label or f"before ({args.compare})"),
                 Tree(current_tree().path, "after (this tree)", current_tree().companions)]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="herald-bench-"))
    redis = bench_redis()
    began = time.monotonic()
    body = [f"Run: `python bench/run.py{' --quick' if args.quick else ''}`"
            f"{'' if chosen == list(SCENARIOS) else ' --only ' + ','.join(chosen)}"
            f"{' --compare ' + str(args.compare) if args.compare else ''}", "",
            "| machine | |", "|---|---|"]
    body += [f"| {k} | {v} |" for k, v in machine(redis.info("server")).items()]
    body.append("")
    print(f"herald bench: {'quick' if args.quick else 'full'} run, logs in {workdir}", flush=True)
    try:
        for name in chosen:
            for tree in trees:
                t = time.monotonic()
                print(f"-- {name} ({tree.label}) …", flush=True)
                load = os.getloadavg()[0]
                with use_tree(tree):
                    lines = run_one(name, redis, workdir / tree.label.split()[0], sizes)
                if len(trees) > 1:
                    lines[0] = f"{lines[0]} — {tree.label}"
                body += lines[:-1] + [f"- load average (1 min) at start → end: {load:.1f} → {os.getloadavg()[0]:.1f} "
                                      f"(2 cores; other processes' load is noise)", ""]
                print(f"   {name} ({tree.label}) done in {time.monotonic() - t:.0f}s", flush=True)
    finally:
        flush(redis)
    body.append(f"Total run time: {time.monotonic() - began:.0f} s.")
    report.write(args.out, label, body)
    print("\n".join(body))
    print(f"wrote {args.out} (section {label!r})")
    return 0


def run_one(name: str, redis, workdir: Path, sizes: Sizes) -> list[str]:  # type: ignore[no-untyped-def]
    if name == "versus":
        am, hf = versus.compare(redis, workdir / "versus", sizes.alerts)
        return versus_lines(am, hf, sizes)
    with sinks() as s:
        if name == "p0":
            result = latency.time_to_announce(redis, s, workdir, sizes.p0_email, sizes.p0_teams)
            return report.latency_table(result, {"email @ 20/s": (0, 120), "email @ 3/s": (30, 0), "teams": (10, 50)})
        if name == "isolation":
            result = latency.isolation(redis, s, workdir, sizes.storm_tickets, sizes.isolation_p0)
            return report.latency_table(result, {"": (0, 1000)})
        if name == "ingest":
            fig = throughput.ingest(redis, s, workdir, sizes.ingest_tickets)
            return report.figures_table(fig, Target("≥ 5,000 events/s", fig.raw["rate"] >= 5000))
        if name == "fanout":
            fig = throughput.fan_out(redis, s, workdir, sizes.fanout)
            return report.figures_table(fig, Target(f"≤ 30 s for 10,000 with 2 workers (ran {sizes.fanout})",
                                                    fig.raw["seconds"] * 10_000 / sizes.fanout <= 30))
        fig = throughput.memory(redis, s, workdir, sizes.memory)
        return report.figures_table(fig, Target("daemon RSS ≤ 80 MB", fig.raw["rss"] * 1.048576 <= 80))


def versus_lines(am: versus.Side, hf: versus.Side, sizes: Sizes) -> list[str]:
    lines = versus.__doc__.strip().splitlines()[2:] if versus.__doc__ else []
    return report.versus_table(am, hf) + [f"- burst: {sizes.alerts} alerts, each its own group; "
                                          "one email + one webhook POST per group", *lines, ""]


if __name__ == "__main__":
    raise SystemExit(main())
