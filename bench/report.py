"""Writing a run's figures into BENCHMARKS.md, in the section of its label (``before`` / ``after``).

Only the text between ``<!-- bench:LABEL:start -->`` and ``<!-- bench:LABEL:end -->``
is replaced; everything else in the file (the profile analysis, the notes) is kept.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from bench.latency import LatencyResult
from bench.stats import Summary
from bench.throughput import Figures
from bench.versus import Side

TEMPLATE = """# Benchmarks

Command: `python bench/run.py` (full, ~15 min) or `python bench/run.py --quick` (reduced sizes, < 3 min).
Add `--label after` to fill the "after" section without touching "before"; `--only ingest,fanout` runs some.
Everything runs on 127.0.0.1: a local HTTP server stands in for Teams (`tests/fixtures/teams_server.py`),
aiosmtpd for SMTP (`tests/fixtures/smtp_server.py`), Redis database 10; Herald runs as the real
`hotfix daemon` / `hotfix worker` / `hotfix serve` processes.

## Before

<!-- bench:before:start -->
(not run yet)
<!-- bench:before:end -->

## After

<!-- bench:after:start -->
(to be filled by `python bench/run.py --label after` once the proposed changes are applied)
<!-- bench:after:end -->
"""


@dataclass
class Target:
    """A goal and whether a figure meets it."""

    text: str
    met: bool | None

    def cell(self) -> str:
        mark = "n/a" if self.met is None else ("✅" if self.met else "❌")
        return f"{self.text} {mark}"


def _ok(value: float, limit: float, below: bool = True) -> bool | None:
    if math.isnan(value):
        return None
    return value <= limit if below else value >= limit


def latency_table(result: LatencyResult, targets: dict[str, tuple[float, float]]) -> list[str]:
    """One row per channel; ``targets`` maps a channel-label prefix to (p50, p99) limits in ms."""
    lines = [f"### {result.name}", "", "| series | arrived | p50 ms | p95 ms | p99 ms | max ms | target |",
             "|---|---|---|---|---|---|---|"]
    for label, summary in result.channels.items():
        limit = next((v for k, v in targets.items() if label.startswith(k)), None)
        lines.append(f"| {label} | {summary.row()} | {_latency_target(summary, limit)} |")
    lines.append("")
    lines += [f"- {k}: {v}" for k, v in result.notes.items()]
    return lines + [""]


def _latency_target(summary: Summary, limit: tuple[float, float] | None) -> str:
    if limit is None:
        return ""
    p50, p99 = limit
    parts = []
    if p50 > 0:
        parts.append(Target(f"p50 ≤ {p50:g}", _ok(summary.p50, p50)).cell())
    if p99 > 0:
        parts.append(Target(f"p99 ≤ {p99:g}", _ok(summary.p99, p99)).cell())
    if summary.count < summary.expected:
        parts.append("(missing arrivals ❌)")
    return ", ".join(parts)


def figures_table(result: Figures, target: Target | None) -> list[str]:
    lines = [f"### {result.name}", "", "| figure | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in result.values.items()]
    if target is not None:
        lines.append(f"| target | {target.cell()} |")
    return lines + [""]


def versus_table(am: Side, hf: Side) -> list[str]:
    lines = ["### Side by side with Alertmanager", "",
             "| | notifications | notifications/s | p50 ms | p99 ms | notes |", "|---|---|---|---|---|---|"]
    for side in (am, hf):
        lat = side.latency
        p50 = f"{lat.p50:.0f}" if lat else "n/a"
        p99 = f"{lat.p99:.0f}" if lat else "n/a"
        notes = "; ".join(f"{k}: {v}" for k, v in side.notes.items())
        lines.append(f"| {side.name} | {side.delivered}/{side.expected} | {side.rate:,.0f} | {p50} | {p99} | {notes} |")
    ratio = hf.rate / am.rate if am.rate and not math.isnan(am.rate) else float("nan")
    p99_ratio = (hf.latency.p99 / am.latency.p99) if hf.latency and am.latency and am.latency.p99 else float("nan")
    lines += ["", f"- Herald/Alertmanager rate: **{ratio:.2f}×** (target ≥ 2× "
                  f"{Target('', _ok(ratio, 2.0, below=False)).cell().strip()}); "
                  f"p99 ratio Herald/Alertmanager: **{p99_ratio:.2f}** (target < 1 "
                  f"{Target('', _ok(p99_ratio, 0.999)).cell().strip()})", ""]
    return lines


def write(path: Path, label: str, body: list[str]) -> None:
    """Replace the ``label`` section of ``path`` (created from the template if absent)."""
    text = path.read_text(encoding="utf-8") if path.exists() else TEMPLATE
    start, end = f"<!-- bench:{label}:start -->", f"<!-- bench:{label}:end -->"
    if start not in text or end not in text:
        text = text.rstrip("\n") + f"\n\n## {label.capitalize()}\n\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(head + start + "\n" + "\n".join(body).rstrip("\n") + "\n" + end + tail, encoding="utf-8")
