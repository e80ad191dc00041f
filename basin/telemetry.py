"""Kernel telemetry that needs no torch: running coupling, regimes, the observer gain.

Φ itself is computed from attention matrices in ``basin.kernel`` (formula there);
this module turns numbers into the derived quantities so routers, basins and the
sync code can use them without importing the kernel.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Regime = Literal["linear", "geometric", "breakdown"]
REGIMES: tuple[Regime, ...] = ("linear", "geometric", "breakdown")

LINEAR_MAX = 0.45
"""Φ below this: attention is close to uniform mixing (weakly coupled, mean-field-like)."""
GEOMETRIC_MAX = 0.80
"""Φ at or above this: each token couples to very few others (frozen, over-coupled)."""
HYSTERESIS = 0.05

KAPPA_0 = 64.0
"""Reference coupling κ₀ at scale T₀ (the value the observer gain g(κ) is centred on)."""
BETA = 0.44
"""Slope of the running coupling in ln T."""
T_0 = 32.0
"""Reference sequence length (tokens) at which κ_eff = κ₀."""


def running_coupling(length: int, kappa0: float = KAPPA_0, beta: float = BETA, t0: float = T_0) -> float:
    """κ_eff = κ₀·(1 + β·ln(T/T₀)), clamped to ≥ 0 (short inputs decouple rather than invert)."""
    if length < 1:
        raise ValueError("sequence length must be ≥ 1")
    return max(0.0, kappa0 * (1.0 + beta * math.log(length / t0)))


def _plain_regime(phi: float) -> Regime:
    if phi < LINEAR_MAX:
        return "linear"
    if phi < GEOMETRIC_MAX:
        return "geometric"
    return "breakdown"


_BOUNDS: dict[Regime, tuple[float, float]] = {
    "linear": (-math.inf, LINEAR_MAX),
    "geometric": (LINEAR_MAX, GEOMETRIC_MAX),
    "breakdown": (GEOMETRIC_MAX, math.inf),
}


def classify_regime(phi: float, previous: Regime | None = None, hysteresis: float = HYSTERESIS) -> Regime:
    """linear < 0.45 ≤ geometric < 0.80 ≤ breakdown, sticky by ``hysteresis``.

    Without a previous regime the plain thresholds apply. With one, the system
    stays in it while Φ is within its band widened by ``hysteresis`` on both
    sides, so Φ hovering at a boundary does not flap between regimes.
    """
    if not math.isfinite(phi):
        raise ValueError("Φ must be finite")
    if previous is not None:
        low, high = _BOUNDS[previous]
        if low - hysteresis <= phi < high + hysteresis:
            return previous
    return _plain_regime(phi)


def coupling_gain(kappa: float, centre: float = KAPPA_0, width2: float = 200.0) -> float:
    """g(κ) = exp(−(κ − 64)²/200): how much a basin at coupling κ is trusted by observers."""
    return math.exp(-((kappa - centre) ** 2) / width2)


def observer_step(phi_source: float, kappa_source: float, kappa_target: float) -> float:
    """Fraction of the geodesic an observer moves: 0.3·(Φ/0.85)·g(κₛ)·g(κₜ), clamped to [0, 1]."""
    raw = 0.3 * (phi_source / 0.85) * coupling_gain(kappa_source) * coupling_gain(kappa_target)
    return min(1.0, max(0.0, raw))


@dataclass(frozen=True)
class Telemetry:
    """What one kernel pass measured. ``phi_trace`` holds Φ after each recursion pass."""

    phi: float
    kappa: float
    regime: Regime
    depth: int
    length: int
    converged: bool
    phi_trace: tuple[float, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["phi_trace"] = list(self.phi_trace)
        return data
