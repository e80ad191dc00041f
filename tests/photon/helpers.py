"""Shared test material for Photon: grids, named inputs, expression builder."""

from __future__ import annotations

from stages.codex.ast import Node, call, num
from stages.codex.grid import GridSpec
from stages.codex.parser import parse_expr

GRID2 = GridSpec(shape=(16, 16), spacing=1.0 / 16)
GRID3 = GridSpec(shape=(8, 8, 8), spacing=1.0 / 8)
GRID_T = GridSpec(shape=(16, 16), spacing=1.0 / 16, time_steps=6, dt=0.1)
GRID_DIRICHLET = GridSpec(shape=(16, 16), spacing=1.0 / 16, boundary="dirichlet")

# Names usable in test sources: smooth scalar fields (initialisers, so verification varies them).
SCALARS = {
    "u": call("random", seed=num(1)),
    "v": call("random", seed=num(2)),
    "w": call("gaussian", center=Node("tuple", args=(num(0.5), num(0.5))), width=num(0.2)),
}


def expr(source: str, **extra: Node) -> Node:
    """Parse ``source`` and replace the names u v w (and ``extra``) by field expressions.

    ``A``/``B`` are vector fields ∇u, ∇v (gradients: curl-free); ``C``/``D`` are vector
    fields v·∇u, w·∇v, which are not gradients (∇×(v∇u) = ∇v×∇u ≠ 0), so a wrong curl
    rule shows up on them; ``ut``/``vt`` are time-dependent fields t·u, t·v.
    """
    names: dict[str, Node] = dict(SCALARS)
    names["A"] = Node("grad", args=(SCALARS["u"],))
    names["B"] = Node("grad", args=(SCALARS["v"],))
    names["C"] = Node("mul", args=(SCALARS["v"], Node("grad", args=(SCALARS["u"],))))
    names["D"] = Node("mul", args=(SCALARS["w"], Node("grad", args=(SCALARS["v"],))))
    names["ut"] = Node("mul", args=(Node("ref", value="t"), SCALARS["u"]))
    names["vt"] = Node("mul", args=(Node("ref", value="t"), SCALARS["v"]))
    names.update(extra)

    def substitute(node: Node) -> Node:
        if node.op == "ref" and node.value in names:
            return names[str(node.value)]
        if not node.args and not node.kw:
            return node
        return node.replace(
            args=tuple(substitute(a) for a in node.args),
            kw=tuple((k, substitute(v)) for k, v in node.kw),
        )

    return substitute(parse_expr(source))
