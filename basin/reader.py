"""What the SQI stage calls: beam → signature (64-simplex point), drift from a basin, telemetry.

``BasinReader`` wraps one kernel. ``signature`` and ``drift`` are pure functions
of (kernel config, beam result, basin), so a replay with the recorded basin id
reproduces the drift bit for bit. The only state is ``last_regime``, used for
the regime hysteresis in ``read``'s telemetry; ``signature`` ignores it.
torch is imported on first use, not on import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from basin import geometry
from basin.container import Basin
from basin.telemetry import Regime, Telemetry
from basin.tokens import encode_beam

if TYPE_CHECKING:
    from basin.kernel import FisherRaoKernel, KernelConfig, KernelOutput


class BasinReader:
    """Beam results → signatures and drift with one deterministic kernel."""

    def __init__(self, kernel: FisherRaoKernel | None = None, *, config: KernelConfig | None = None) -> None:
        if kernel is None:
            from basin.kernel import FisherRaoKernel

            kernel = FisherRaoKernel(config)
        self.kernel = kernel
        self.last_regime: Regime | None = None
        self.last_telemetry: Telemetry | None = None

    @property
    def kernel_version(self) -> str:
        return self.kernel.version

    def read(self, beam_result: Mapping[str, Any]) -> KernelOutput:
        """Signature and telemetry of one beam; updates ``last_regime`` (hysteresis across beams)."""
        out = self.kernel.forward(encode_beam(beam_result), previous_regime=self.last_regime)
        self.last_regime = out.telemetry.regime
        self.last_telemetry = out.telemetry
        return out

    def signature(self, beam_result: Mapping[str, Any]) -> NDArray[np.float64]:
        """The beam's basin signature: a float64 vector of 64 non-negative numbers summing to 1."""
        out = self.kernel.forward(encode_beam(beam_result))
        return np.asarray(out.signature, dtype=np.float64)

    def telemetry(self, beam_result: Mapping[str, Any]) -> Telemetry:
        """Telemetry of one beam without touching ``last_regime`` (plain regime thresholds)."""
        return self.kernel.forward(encode_beam(beam_result)).telemetry

    @staticmethod
    def drift(signature: Sequence[float] | NDArray[np.float64], basin: Basin | Sequence[float]) -> float:
        """Fisher–Rao distance ∈ [0, π] of a signature from a basin (a ``Basin`` or a raw point)."""
        point = basin.point if isinstance(basin, Basin) else basin
        return geometry.fisher_rao(signature, point)


@lru_cache(maxsize=1)
def default_reader() -> BasinReader:
    """The process-wide reader with the default kernel (seed 0); pure, so sharing it is safe."""
    return BasinReader()


def signature(beam_result: Mapping[str, Any]) -> list[float]:
    """basin.md's signature of a beam with the default kernel, as a plain list of 64 floats."""
    return [float(x) for x in default_reader().signature(beam_result)]


def drift(signature: Sequence[float] | NDArray[np.float64], basin: Basin | Sequence[float]) -> float:
    """Fisher–Rao drift of ``signature`` from ``basin`` (see ``BasinReader.drift``)."""
    return BasinReader.drift(signature, basin)
