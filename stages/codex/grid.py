"""The grid every field of a sheet lives on (shared by parser, interpreter, cost model, QWave)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Boundary = Literal["periodic", "neumann", "dirichlet"]
BOUNDARIES: tuple[str, ...] = ("periodic", "neumann", "dirichlet")


@dataclass(frozen=True, slots=True)
class GridSpec:
    """Spatial shape (1-3 axes), uniform spacing h, boundary rule, optional time axis.

    Coordinates are x_i = i*h along each axis; a time axis has ``time_steps`` points
    t_n = n*dt and is the leading array axis of time-dependent fields.
    """

    shape: tuple[int, ...] = (64,)
    spacing: float = 1.0 / 64
    boundary: Boundary = "periodic"
    time_steps: int | None = None
    dt: float | None = None

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def points(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    def to_json(self) -> dict[str, Any]:
        time = {"steps": self.time_steps, "dt": self.dt} if self.time_steps is not None else None
        return {"shape": list(self.shape), "spacing": self.spacing, "boundary": self.boundary, "time": time}

    @staticmethod
    def from_json(data: dict[str, Any]) -> GridSpec:
        time = data.get("time")
        boundary = data.get("boundary", "periodic")
        if boundary not in BOUNDARIES:
            raise ValueError(f"unknown boundary {boundary!r}")
        return GridSpec(
            shape=tuple(int(s) for s in data["shape"]),
            spacing=float(data["spacing"]),
            boundary=boundary,
            time_steps=int(time["steps"]) if time else None,
            dt=float(time["dt"]) if time else None,
        )
