"""Run the chaos, fuzz and security suites and write their figures into docs/RELIABILITY.md.

    python bench/chaos.py --full      # the long variants (10 daemon kills, 2,000 events, 60 s dead webhook, ...)
    python bench/chaos.py             # the short variants (what `python -m pytest -q` runs)

Uses the tests' Redis (``HOTFIX_TEST_REDIS_DB``, default 7 here) and only loopback addresses.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "RELIABILITY.md"
BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"
SUITES = ["tests/chaos", "tests/fuzz", "tests/security"]


def run(full: bool, extra: list[str]) -> tuple[int, list[dict[str, Any]], float, str]:
    """Run the suites; return pytest's exit code, the recorded figures, the duration and the summary line."""
    with tempfile.NamedTemporaryFile("w+", suffix=".jsonl", delete=False) as handle:
        figures_path = handle.name
    env = {**os.environ, "HOTFIX_CHAOS_FIGURES": figures_path}
    env.setdefault("HOTFIX_TEST_REDIS_DB", "7")
    if full:
        env["HOTFIX_CHAOS"] = "full"
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "timeout=1800", *SUITES, *extra]
    started = time.monotonic()
    proc = subprocess.run(args, cwd=ROOT, env=env, text=True, capture_output=True)
    took = time.monotonic() - started
    sys.stdout.write(proc.stdout[-6000:])
    sys.stderr.write(proc.stderr[-3000:])
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    summary = lines[-1] if lines else ""
    rows = [json.loads(line) for line in Path(figures_path).read_text().splitlines() if line.strip()]
    Path(figures_path).unlink(missing_ok=True)
    return proc.returncode, rows, took, summary


def table(rows: list[dict[str, Any]]) -> str:
    out = ["| scenario | variant | figures |", "|---|---|---|"]
    for row in rows:
        rest = {k: v for k, v in row.items() if k not in ("scenario", "variant")}
        shown = ", ".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in sorted(rest.items()))
        out.append(f"| {row['scenario']} | {row['variant']} | {shown} |")
    return "\n".join(out)


def write_doc(rows: list[dict[str, Any]], full: bool, took: float, summary: str) -> None:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    block = (f"{BEGIN}\nLast {'full' if full else 'short'} run: {when}, {took:.0f} s, pytest: `{summary}`\n\n"
             f"{table(rows)}\n{END}")
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else f"# Reliability\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(head + block + tail, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the long variants (HOTFIX_CHAOS=full)")
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave docs/RELIABILITY.md alone")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    ns = parser.parse_args()
    code, rows, took, summary = run(ns.full, ns.pytest_args)
    print(table(rows))
    if not ns.no_write:
        write_doc(rows, ns.full, took, summary)
        print(f"figures written to {DOC.relative_to(ROOT)}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
