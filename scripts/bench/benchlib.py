"""Shared helpers of the bench scripts: spreads of samples, correctness checks, the JSON line.

Every bench script prints one JSON object on its last stdout line (``emit``) and
checks what it timed with ``check`` — an explicit raise, not ``assert``, so that
``python -O`` cannot turn the checks off and a fast wrong answer cannot pass.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any


class BenchCheckFailed(AssertionError):
    """A benchmark's result differs from its reference: its timings mean nothing."""


def check(condition: object, message: str) -> None:
    if not condition:
        raise BenchCheckFailed(message)


def spread(samples: Iterable[float], digits: int = 4) -> dict[str, Any]:
    """Median, min, max and number of samples (the figures BENCHMARKS.md shows)."""
    values = [float(v) for v in samples]
    if not values:
        raise ValueError("no samples")
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits), "runs": len(values)}


def percentile(samples: Iterable[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0–100)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError):
        pass
    return None


def machine() -> dict[str, Any]:
    return {"cores": os.cpu_count(), "cpu_model": cpu_model(), "memory_gib": memory_gib(),
            "python": platform.python_version()}


def emit(report: dict[str, Any]) -> None:
    """The report as one JSON line (run_all.py reads the last stdout line)."""
    print(json.dumps(report, default=float), flush=True)
