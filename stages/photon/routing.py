"""Where a normalised cell runs: QWave (JAX) for heavy cells, Photon's symbolic path otherwise.

* ``route = "qwave"`` when the flag QWAVE_EXEC_ON is set and the normal form's
  estimated flops reach COST_THRESHOLD; otherwise ``"symbolic"`` (the reference
  interpreter, in process). Decision and threshold go into the event.
* Overload: the runner may report how many qwave-routed cells are in flight as
  ``qwave_backlog`` in the flags mapping. When that backlog exceeds the flag
  QWAVE_BACKLOG_LIMIT, a heavy cell is *deferred*, never dropped: Photon emits
  ``BeamEvent(stage="deferred")`` with ``retry_after_s`` =
  ``BACKOFF_BASE_S · 2^attempt`` (capped at ``BACKOFF_MAX_S``); the host
  re-delivers the ingest beam after that delay with ``result.attempt`` increased
  by one. Light cells are never deferred (they do not use QWave).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

DEFAULT_COST_THRESHOLD = 2.0e5
DEFAULT_BACKLOG_LIMIT = 10_000
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 60.0

Route = Literal["qwave", "symbolic"]


@dataclass(frozen=True)
class RouteDecision:
    """The route, the threshold in force, and — under overload — the deferral."""

    route: Route
    threshold: float
    flops: float
    deferred: bool = False
    attempt: int = 0
    retry_after_s: float | None = None
    backlog: int = 0
    backlog_limit: int = DEFAULT_BACKLOG_LIMIT

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"route": self.route, "threshold": self.threshold, "flops": self.flops}
        if self.deferred:
            out.update(
                attempt=self.attempt, retry_after_s=self.retry_after_s, backlog=self.backlog,
                backlog_limit=self.backlog_limit,
            )
        return out


def _number(flags: Mapping[str, Any], name: str, default: float) -> float:
    value = flags.get(name, default)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def backoff_seconds(attempt: int) -> float:
    """Exponential back-off: 0.5 s, 1 s, 2 s, … capped at 60 s."""
    return float(min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, attempt)))


def decide_route(flops: float, flags: Mapping[str, Any], *, attempt: int = 0) -> RouteDecision:
    """Route a cell whose normal form costs ``flops`` under ``flags`` (module docstring)."""
    threshold = _number(flags, "COST_THRESHOLD", DEFAULT_COST_THRESHOLD)
    heavy = flops >= threshold
    if not (bool(flags.get("QWAVE_EXEC_ON", True)) and heavy):
        return RouteDecision("symbolic", threshold, flops)
    limit = int(_number(flags, "QWAVE_BACKLOG_LIMIT", DEFAULT_BACKLOG_LIMIT))
    backlog = int(_number(flags, "qwave_backlog", 0))
    if backlog > limit:
        return RouteDecision(
            "qwave", threshold, flops, deferred=True, attempt=attempt,
            retry_after_s=backoff_seconds(attempt), backlog=backlog, backlog_limit=limit,
        )
    return RouteDecision("qwave", threshold, flops, backlog=backlog, backlog_limit=limit)
