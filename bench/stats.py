"""Percentiles, process memory, and a description of the machine the figures come from."""
from __future__ import annotations

import math
import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version


@dataclass(frozen=True)
class Summary:
    """Latencies of one series, in milliseconds."""

    count: int
    expected: int
    p50: float
    p95: float
    p99: float
    max: float

    def row(self) -> str:
        got = f"{self.count}/{self.expected}"
        return f"{got} | {self.p50:.1f} | {self.p95:.1f} | {self.p99:.1f} | {self.max:.1f}"


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (``q`` in 0..100) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(latencies_s: list[float], expected: int) -> Summary:
    """p50/p95/p99/max in ms of latencies given in seconds."""
    ms = [v * 1000 for v in latencies_s]
    return Summary(len(ms), expected, percentile(ms, 50), percentile(ms, 95), percentile(ms, 99),
                   max(ms) if ms else math.nan)


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MiB (from /proc)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


def _pkg(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    with open("/proc/meminfo", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return math.nan


def _redis_version(info: dict[str, object]) -> str:
    return str(info.get("redis_version", "?"))


def _alertmanager_version() -> str:
    try:
        out = subprocess.run(["/usr/bin/prometheus-alertmanager", "--version"], capture_output=True, text=True,
                             timeout=10)
        first = (out.stdout or out.stderr).splitlines()[0]
        return first.split("version", 1)[1].split()[0] if "version" in first else first
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "absent"


def machine(redis_info: dict[str, object]) -> dict[str, str]:
    """What the figures were measured on."""
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "ram": f"{_ram_gib():.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "redis server": _redis_version(redis_info),
        "redis-py": _pkg("redis"),
        "rq": _pkg("rq"),
        "aiosmtplib": _pkg("aiosmtplib"),
        "aiosmtpd (sink)": _pkg("aiosmtpd"),
        "httpx": _pkg("httpx"),
        "alertmanager": _alertmanager_version(),
    }
