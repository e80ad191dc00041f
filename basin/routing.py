"""Routing strategies for a constellation: plain functions in a registry, chosen by name.

A strategy sees one ``InstanceView`` per instance and the router's state and
returns the index of the instance that handles the next beam. Strategies are
pure; the ``Router`` owns the state (the round-robin cursor, decision count)
and advances it after each decision. Ties break on fewest beams handled, then
on position, so every strategy is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class InstanceView:
    """What routing may look at: the instance's last Φ and how many beams it handled."""

    name: str
    phi: float
    handled: int


@dataclass
class RouterState:
    cursor: int = 0
    decisions: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RouterState:
        return cls(cursor=int(data.get("cursor", 0)), decisions=int(data.get("decisions", 0)))


RouteFn = Callable[[Sequence[InstanceView], RouterState], int]


def _argmin(views: Sequence[InstanceView], key: Callable[[InstanceView], float]) -> int:
    return min(range(len(views)), key=lambda i: (key(views[i]), views[i].handled, i))


def round_robin(views: Sequence[InstanceView], state: RouterState) -> int:
    """Each instance in turn."""
    return state.cursor % len(views)


def phi_min(views: Sequence[InstanceView], state: RouterState) -> int:
    """The least integrated instance (lowest Φ): spread new structure to whoever has least."""
    return _argmin(views, lambda v: v.phi)


def phi_max(views: Sequence[InstanceView], state: RouterState) -> int:
    """The most integrated instance (highest Φ): send work to the most structured state."""
    return _argmin(views, lambda v: -v.phi)


def balanced(views: Sequence[InstanceView], state: RouterState) -> int:
    """The instance whose Φ is nearest 0.5, the middle of the geometric regime."""
    return _argmin(views, lambda v: abs(v.phi - 0.5))


ROUTERS: dict[str, RouteFn] = {
    "round_robin": round_robin,
    "phi_min": phi_min,
    "phi_max": phi_max,
    "balanced": balanced,
}


def register_router(name: str, fn: RouteFn) -> None:
    """Add a strategy (plug-in point); refuses to silently replace an existing one."""
    if name in ROUTERS:
        raise ValueError(f"routing strategy {name!r} already registered")
    ROUTERS[name] = fn


class Router:
    """Applies a named strategy and keeps its state."""

    def __init__(self, strategy: str = "round_robin", state: RouterState | None = None) -> None:
        if strategy not in ROUTERS:
            raise ValueError(f"unknown routing strategy {strategy!r}; known: {', '.join(sorted(ROUTERS))}")
        self.strategy = strategy
        self.state = state or RouterState()

    def choose(self, views: Sequence[InstanceView]) -> int:
        if not views:
            raise ValueError("no instances to route to")
        index = ROUTERS[self.strategy](views, self.state)
        if not 0 <= index < len(views):
            raise ValueError(f"strategy {self.strategy!r} returned index {index} of {len(views)}")
        self.state.cursor = (self.state.cursor + 1) % len(views)
        self.state.decisions += 1
        return index

    def get_state(self) -> dict[str, Any]:
        return {"strategy": self.strategy, **self.state.to_json()}

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> Router:
        return cls(str(data.get("strategy", "round_robin")), RouterState.from_json(data))
