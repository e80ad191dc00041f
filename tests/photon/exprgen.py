"""Random CodexLang expressions on a 2-D grid for Photon's property tests (hypothesis strategies)."""

from __future__ import annotations

from hypothesis import strategies as st

from stages.codex.ast import EMPTY, Node, call, num

SCALAR_LEAVES = (
    call("random", seed=num(1)),
    call("random", seed=num(2)),
    call("gaussian", center=Node("tuple", args=(num(0.5), num(0.5))), width=num(0.2)),
    Node("ref", value="x"),
)


def _op(op: str, *args: Node) -> Node:
    return Node(op, args=tuple(args))


def fields(max_leaves: int = 10) -> st.SearchStrategy[Node]:
    """Scalar-field expressions: + − * ⊕ ⊖ ¬, small powers, numbers, ∅, Δ, ∇·∇, and vector
    sub-expressions (∇, vector sums and scalings, •, ∇·, ∇×) that come back to a scalar."""
    number = st.integers(-3, 3).map(num)
    scalar: st.SearchStrategy[Node] = st.deferred(lambda: st.one_of(
        st.sampled_from(SCALAR_LEAVES), st.just(EMPTY), compound_scalar))
    vector: st.SearchStrategy[Node] = st.deferred(lambda: st.one_of(
        scalar.map(lambda s: _op("grad", s)),
        st.tuples(vector, vector).map(lambda t: _op("add", *t)),
        st.tuples(vector, vector).map(lambda t: _op("sub", *t)),
        st.tuples(number, vector).map(lambda t: _op("mul", *t)),
        st.tuples(scalar, vector).map(lambda t: _op("mul", *t)),
    ))
    binary = st.sampled_from(["add", "sub", "mul", "oplus", "ominus"])
    compound_scalar = st.one_of(
        st.tuples(binary, scalar, scalar).map(lambda t: _op(t[0], t[1], t[2])),
        st.tuples(number, scalar).map(lambda t: _op("mul", *t)),
        st.tuples(scalar, number).map(lambda t: _op("add", *t)),
        scalar.map(lambda c: _op("neg", c)),
        scalar.map(lambda c: _op("lap", c)),
        st.tuples(scalar, st.integers(1, 3)).map(lambda t: _op("pow", t[0], num(t[1]))),
        vector.map(lambda v: _op("div", v)),
        vector.map(lambda v: _op("curl", v)),
        st.tuples(vector, vector).map(lambda t: _op("dot", *t)),
    )
    return scalar.filter(lambda n: sum(1 for _ in n.walk()) <= max_leaves * 3 and well_typed(n))


def well_typed(node: Node) -> bool:
    """Accepted by Codex's type rules (what an ingest beam carries): the cost model types it."""
    from stages.codex.cost import estimate_cost
    from stages.codex.errors import CodexError
    from stages.codex.grid import GridSpec

    try:
        estimate_cost(node, GridSpec(shape=(16, 16), spacing=1.0 / 16))
    except CodexError:
        return False
    return True


def shuffled(node: Node, turns: list[int]) -> Node:
    """``node`` with the operands of every commutative + * ⊕ and • rotated (amounts from ``turns``)."""
    amounts = iter(turns * 64)

    def visit(n: Node) -> Node:
        args = tuple(visit(a) for a in n.args)
        if n.op in ("add", "mul", "oplus", "dot") and len(args) > 1:
            k = next(amounts, 0) % len(args)
            args = args[k:] + args[:k]
        return n.replace(args=args)

    return visit(node)
