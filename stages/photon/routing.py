"""Where a normalised cell runs: QWave (JAX) for heavy cells, Photon's symbolic path otherwise.

* ``route = "qwave"`` when the flag QWAVE_EXEC_ON is set and the normal form's
  estimated flops reach COST_THRESHOLD; otherwise ``"symbolic"`` (the reference
  interpreter, in process). Decision and threshold go into the event.
* Overload: the runner reads QWave's backlog — messages on ``beamline.photon``
  not yet acknowledged by QWave's group (``Bus.lag``; Kafka: consumer lag) — into
  ``ctx.backlog["qwave"]`` (Photon declares ``watches_backlog``). When it exceeds
  the flag QWAVE_BACKLOG_LIMIT, a heavy cell is *deferred*, never dropped: Photon
  emits ``BeamEvent(stage="deferred")`` with ``retry_after_s`` =
  QWAVE_BACKOFF_S · 2^attempt (capped at ``BACKOFF_MAX_S``), and the runner hands
  the same input back after that delay with ``ctx.deferrals`` one higher
  (``bus.batches``). After ``MAX_DEFERRALS`` deferrals a cell is routed whatever
  the backlog, so a QWave that never drains cannot hold a cell forever. An unknown
  backlog (a bus that cannot report lag) never defers. Light cells are never
  deferred (they do not use QWave). The backlog counts every message on
  ``beamline.photon`` QWave has not acknowledged, deferred beams included (QWave
  acknowledges those at once, but not while it is busy), so it errs towards deferring.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

DEFAULT_COST_THRESHOLD = 2.0e5
DEFAULT_BACKLOG_LIMIT = 10_000
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 60.0
MAX_DEFERRALS = 8

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


def backoff_seconds(attempt: int, base_s: float = BACKOFF_BASE_S) -> float:
    """Exponential back-off: base, 2·base, 4·base, … capped at 60 s (0.5 s, 1 s, 2 s, … by default)."""
    return float(min(BACKOFF_MAX_S, max(0.0, base_s) * 2 ** max(0, attempt)))


def decide_route(flops: float, flags: Mapping[str, Any], *, backlog: int | None = None,
                 attempt: int = 0) -> RouteDecision:
    """Route a cell whose normal form costs ``flops`` under ``flags`` with QWave's ``backlog``
    (None: unknown) after ``attempt`` earlier deferrals (module docstring)."""
    threshold = _number(flags, "COST_THRESHOLD", DEFAULT_COST_THRESHOLD)
    heavy = flops >= threshold
    if not (bool(flags.get("QWAVE_EXEC_ON", True)) and heavy):
        return RouteDecision("symbolic", threshold, flops)
    limit = int(_number(flags, "QWAVE_BACKLOG_LIMIT", DEFAULT_BACKLOG_LIMIT))
    if backlog is not None and backlog > limit and attempt < MAX_DEFERRALS:
        delay = backoff_seconds(attempt, _number(flags, "QWAVE_BACKOFF_S", BACKOFF_BASE_S))
        return RouteDecision(
            "qwave", threshold, flops, deferred=True, attempt=attempt,
            retry_after_s=delay, backlog=backlog, backlog_limit=limit,
        )
    return RouteDecision("qwave", threshold, flops, backlog=backlog or 0, backlog_limit=limit)
