"""What a rule may consult while it decides: the grid, operand kinds, canonical keys, enabled groups."""

from __future__ import annotations

from dataclasses import dataclass, field

from stages.codex.ast import Node
from stages.codex.grid import GridSpec
from stages.photon.kinds import Kind, KindInference, evolve_variable_kinds
from stages.photon.terms import KeyCache

# Expansion guard: a distribution or power expansion producing more terms than this is not done
# (the factored form stays an atom), so normalisation stays polynomial in the input size.
MAX_EXPANDED_TERMS = 32


@dataclass
class RewriteContext:
    """Shared, read-only facts for one normalisation run (plus memo tables)."""

    grid: GridSpec
    kinds: KindInference
    keys: KeyCache
    evolve_vars: frozenset[str]
    groups: frozenset[str] = field(default_factory=lambda: frozenset({"core"}))

    @staticmethod
    def for_expression(root: Node, grid: GridSpec, keys: KeyCache | None = None) -> RewriteContext:
        has_time = grid.time_steps is not None
        variables = evolve_variable_kinds(root, grid.rank, has_time)
        return RewriteContext(
            grid=grid,
            kinds=KindInference(grid.rank, has_time, variables),
            keys=keys or KeyCache(),
            evolve_vars=frozenset(variables),
        )

    def with_groups(self, groups: frozenset[str]) -> RewriteContext:
        return RewriteContext(self.grid, self.kinds, self.keys, self.evolve_vars, groups)

    def kind(self, node: Node) -> Kind:
        return self.kinds.of(node)

    @property
    def periodic(self) -> bool:
        return self.grid.boundary == "periodic"

    @property
    def constants_have_zero_derivative(self) -> bool:
        """Spatial differences of a constant field vanish on periodic and Neumann (mirror) grids,
        but not on Dirichlet grids (zero ghost values make the edge derivative non-zero)."""
        return self.grid.boundary in ("periodic", "neumann")
