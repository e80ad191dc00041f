"""Random CodexLang expressions for Photon's property tests and benchmark (hypothesis strategies)."""

from __future__ import annotations

from hypothesis import strategies as st

from stages.codex.ast import EMPTY, Node, call, num

LEAVES = (
    call("random", seed=num(1)),
    call("random", seed=num(2)),
    call("gaussian", center=Node("tuple", args=(num(0.5), num(0.5))), width=num(0.2)),
    Node("ref", value="x"),
)


def _op(op: str, *args: Node) -> Node:
    return Node(op, args=tuple(args))


def scalar_fields(max_leaves: int = 12) -> st.SearchStrategy[Node]:
    """Scalar-field expressions on a 2-D grid: + − * ⊕ ¬, small powers, numbers, ∅, Δ, ∇·∇."""
    leaf = st.one_of(st.sampled_from(LEAVES), st.just(EMPTY))
    number = st.integers(-3, 3).map(num)

    def extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        binary = st.sampled_from(["add", "sub", "mul", "oplus", "ominus"])
        return st.one_of(
            st.tuples(binary, children, children).map(lambda t: _op(t[0], t[1], t[2])),
            st.tuples(children, number).map(lambda t: _op("mul", t[1], t[0])),
            st.tuples(children, number).map(lambda t: _op("add", t[0], t[1])),
            children.map(lambda c: _op("neg", c)),
            children.map(lambda c: _op("lap", c)),
            children.map(lambda c: _op("div", _op("grad", c))),
            st.tuples(children, st.integers(1, 3)).map(lambda t: _op("pow", t[0], num(t[1]))),
        )

    return st.recursive(leaf, extend, max_leaves=max_leaves)


def shuffled(node: Node, order: list[int]) -> Node:
    """``node`` with the operands of every commutative + * ⊕ reordered (rotated by ``order`` entries)."""
    counter = iter(order * 64)
    def visit(n: Node) -> Node:
        args = tuple(visit(a) for a in n.args)
        if n.op in ("add", "mul", "oplus") and len(args) > 1:
            k = next(counter, 0) % len(args)
            args = args[k:] + args[:k]
        return n.replace(args=args)
    return visit(node)
