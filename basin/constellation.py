"""N kernel instances sharing one basin geometry, with routing and vicarious sync.

Every instance runs the same deterministic kernel (same config ⇒ same weights),
so their signatures live in one coordinate system; what differs is what each
has seen (its basin) and its last telemetry (Φ, κ, regime), which routing uses.

``step(beam)``:
1. the router picks the active instance from the instances' last Φ;
2. the active instance reads the beam and absorbs the signature into its basin;
3. *vicarious update*: every other (observer) instance moves its basin toward
   the active one along the Fisher–Rao geodesic by ``sync_weight`` (0.05–0.1),
   so d(observer', active) = (1 − w)·d(observer, active);
4. the reference basin (the "Ocean") is frozen and only measured against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from basin import geometry
from basin.container import Basin
from basin.reader import BasinReader
from basin.routing import InstanceView, Router
from basin.telemetry import Regime, Telemetry

if TYPE_CHECKING:
    from basin.kernel import FisherRaoKernel, KernelConfig

SYNC_WEIGHT_RANGE = (0.05, 0.1)


@dataclass
class Instance:
    """One kernel instance: its reader (kernel + regime memory), basin and last telemetry."""

    name: str
    reader: BasinReader
    basin: Basin
    phi: float = 0.0
    kappa: float = 0.0
    regime: Regime | None = None
    handled: int = 0

    def view(self) -> InstanceView:
        return InstanceView(self.name, self.phi, self.handled)


@dataclass(frozen=True)
class StepReport:
    """What one routed beam did; distances are Fisher–Rao from each instance's basin to the active one."""

    step: int
    active: int
    active_name: str
    strategy: str
    telemetry: Telemetry
    drift: float
    distances_before: tuple[float, ...]
    distances_after: tuple[float, ...]
    reference_distance: float | None = None
    phis: tuple[float, ...] = field(default=())


class Constellation:
    """Instances + router + frozen reference. Not thread-safe; one step at a time."""

    def __init__(
        self,
        instances: Sequence[Instance],
        *,
        reference: Basin | None = None,
        strategy: str = "round_robin",
        sync_weight: float = 0.08,
    ) -> None:
        low, high = SYNC_WEIGHT_RANGE
        if not low <= sync_weight <= high:
            raise ValueError(f"sync_weight must be in [{low}, {high}], got {sync_weight}")
        if not instances:
            raise ValueError("a constellation needs at least one instance")
        if reference is not None and not reference.frozen:
            raise ValueError("the reference basin must be frozen")
        names = [i.name for i in instances]
        if len(set(names)) != len(names):
            raise ValueError("instance names must be unique")
        self.instances = list(instances)
        self.reference = reference
        self.router = Router(strategy)
        self.sync_weight = sync_weight
        self.steps = 0

    @classmethod
    def create(
        cls,
        count: int,
        container_id: str,
        *,
        kernel: FisherRaoKernel | None = None,
        config: KernelConfig | None = None,
        reference: Basin | None = None,
        strategy: str = "round_robin",
        sync_weight: float = 0.08,
        timestamp: str = "",
    ) -> Constellation:
        """``count`` instances named ``i0``… sharing one kernel, each starting from an empty basin."""
        if kernel is None:
            from basin.kernel import FisherRaoKernel

            kernel = FisherRaoKernel(config)
        instances = [
            Instance(
                name=f"i{k}",
                reader=BasinReader(kernel),
                basin=Basin.empty(container_id, source=f"i{k}", kernel_version=kernel.version, timestamp=timestamp),
            )
            for k in range(count)
        ]
        return cls(instances, reference=reference, strategy=strategy, sync_weight=sync_weight)

    def route(self) -> int:
        return self.router.choose([i.view() for i in self.instances])

    def distances_to(self, index: int) -> tuple[float, ...]:
        target = self.instances[index].basin.point
        return tuple(geometry.fisher_rao(i.basin.point, target) for i in self.instances)

    def distance_matrix(self) -> list[list[float]]:
        return [list(self.distances_to(k)) for k in range(len(self.instances))]

    def step(self, beam_result: Mapping[str, Any], *, timestamp: str = "") -> StepReport:
        """Route one beam, absorb it into the active basin, pull observers toward it."""
        index = self.route()
        active = self.instances[index]
        out = active.reader.read(beam_result)
        drift = geometry.fisher_rao(out.signature, active.basin.point)
        active.basin = active.basin.absorb(out.signature, out.telemetry, timestamp=timestamp)
        active.phi, active.kappa, active.regime = out.telemetry.phi, out.telemetry.kappa, out.telemetry.regime
        active.handled += 1
        before = self.distances_to(index)
        for k, observer in enumerate(self.instances):
            if k == index:
                continue
            moved = geometry.slerp(observer.basin.point, active.basin.point, self.sync_weight)
            observer.basin = observer.basin.moved_to(moved, **({"timestamp": timestamp} if timestamp else {}))
        after = self.distances_to(index)
        self.steps += 1
        ref = geometry.fisher_rao(self.reference.point, active.basin.point) if self.reference else None
        return StepReport(
            step=self.steps, active=index, active_name=active.name, strategy=self.router.strategy,
            telemetry=out.telemetry, drift=drift, distances_before=before, distances_after=after,
            reference_distance=ref, phis=tuple(i.phi for i in self.instances),
        )

    def get_state(self) -> dict[str, Any]:
        """JSON-able state (router + per-instance basin and telemetry) for checkpoints."""
        return {
            "router": self.router.get_state(),
            "sync_weight": self.sync_weight,
            "steps": self.steps,
            "instances": [
                {"name": i.name, "phi": i.phi, "kappa": i.kappa, "regime": i.regime, "handled": i.handled,
                 "basin": i.basin.to_json()}
                for i in self.instances
            ],
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore what ``get_state`` produced (instance names must match)."""
        saved = list(state["instances"])
        if [s["name"] for s in saved] != [i.name for i in self.instances]:
            raise ValueError("saved constellation has different instances")
        for inst, data in zip(self.instances, saved, strict=True):
            inst.basin = Basin.model_validate(data["basin"])
            inst.phi, inst.kappa, inst.handled = float(data["phi"]), float(data["kappa"]), int(data["handled"])
            inst.regime = data["regime"]
            inst.reader.last_regime = inst.regime
        self.router = Router.from_state(dict(state["router"]))
        self.steps = int(state["steps"])
