"""How long each ``hotfix demo`` story takes, as a newcomer runs it, and write it into BENCHMARKS.md.

    python bench/demo.py [--runs 3] [--out BENCHMARKS.md]

Each run is the real command (``python -m herald.cli demo --story NAME --format json``) in an empty
folder with no configuration and no ``HOTFIX_*`` variable: embedded Redis, everything to the outbox,
the page written. Timed from process start to exit (interpreter start-up included), one story at a
time, then all five at once (what tests/e2e/test_demo.py does). The issue's target: under 20 s each
on a 2-core machine. Nothing here is asserted by a test; the figures live in BENCHMARKS.md ("Demo").
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

from bench import report  # noqa: E402
from bench.report import Target  # noqa: E402
from herald.demo.stories import STORIES  # noqa: E402

#: The issue's limit for one story, in seconds.
LIMIT = 20.0


def _env() -> dict[str, str]:
    """A fresh machine's environment: no HOTFIX_* variable, the project importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTFIX_")}
    return {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))}


def start(story: str, folder: Path) -> subprocess.Popen[str]:
    """``hotfix demo --story NAME`` started in ``folder``."""
    folder.mkdir(parents=True)
    return subprocess.Popen([sys.executable, "-m", "herald.cli", "demo", "--story", story, "--format", "json"],
                            cwd=folder, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], story: str) -> dict[str, object]:
    out, errors = proc.communicate(timeout=300)
    if proc.returncode != 0:
        raise SystemExit(f"hotfix demo --story {story} failed ({proc.returncode}): {errors.strip()[-400:]}")
    return dict(json.loads(out))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs of each story, one at a time (default 3)")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md", help="the report to update")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="herald-demo-bench-"))
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())  # the machine is shared: say how busy it was
    alone: dict[str, list[float]] = {name: [] for name in STORIES}
    played: dict[str, dict[str, object]] = {}
    for run in range(args.runs):
        for name in STORIES:
            began = time.monotonic()
            played[name] = finish(start(name, workdir / f"{name}-{run}"), name)
            alone[name].append(time.monotonic() - began)
            print(f"{name} run {run + 1}: {alone[name][-1]:.1f} s", flush=True)
    began = time.monotonic()
    running = {name: start(name, workdir / f"{name}-together") for name in STORIES}
    for name, proc in running.items():
        finish(proc, name)
    wall = time.monotonic() - began  # the slowest of the five sets it: an upper bound for each
    body = [f"Run: `python bench/demo.py --runs {args.runs}` — each story in an empty folder, no configuration "
            "(embedded Redis, outbox), timed from process start to exit.", "",
            "| story | steps | deliveries | distinct messages | alone: median s | alone: max s | target |",
            "|---|---|---|---|---|---|---|"]
    for name, times in alone.items():
        figures = played[name]
        steps = figures.get("steps")
        body.append(f"| {name} | {len(steps) if isinstance(steps, list) else '?'} | {figures.get('deliveries')} | "
                    f"{figures.get('distinct')} | {statistics.median(times):.1f} | {max(times):.1f} | "
                    f"{Target(f'< {LIMIT:.0f} s', max(times) < LIMIT).cell()} |")
    body += ["", f"All five at once on {os.cpu_count()} cores (as tests/e2e/test_demo.py plays them): {wall:.1f} s "
             f"wall clock. Load average when the run began: {load}.", ""]
    report.write(args.out, "demo", body)
    print("\n".join(body))
    print(f"wrote {args.out} (section 'demo'); runs in {workdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
