"""The Photon AST adapters round-trip every Codex tree exactly."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from stages.codex.ast import Node
from stages.photon.adapters import codex_to_photon_ast, photon_to_codex_ast

from .helpers import expr

OPS = ["add", "sub", "mul", "oplus", "grad", "div", "lap", "neg", "delay", "lt", "not", "approx", "tuple",
       "call", "evolve", "num", "ref", "str", "bool", "empty", "attr", "mystery"]
VALUES = st.one_of(st.none(), st.integers(-5, 5), st.floats(allow_nan=False, width=32), st.booleans(),
                   st.text(max_size=6))


def nodes() -> st.SearchStrategy[Node]:
    leaf = st.builds(lambda op, value: Node(op, value=value), st.sampled_from(OPS), VALUES)
    return st.recursive(
        leaf,
        lambda children: st.builds(
            lambda op, args, value, kw: Node(op, args=tuple(args), value=value, kw=tuple(kw)),
            st.sampled_from(OPS), st.lists(children, max_size=3), VALUES,
            st.lists(st.tuples(st.sampled_from(["k", "seed", "width"]), children), max_size=2),
        ),
        max_leaves=12,
    )


@settings(max_examples=300, deadline=None)
@given(nodes())
def test_round_trip_is_exact_for_any_tree(tree: Node) -> None:
    photon = codex_to_photon_ast(tree)
    back = photon_to_codex_ast(photon)
    assert back == tree
    assert back.to_json() == tree.to_json()


def test_photon_form_is_glyph_level() -> None:
    photon = codex_to_photon_ast(expr("∇·∇u + 2 * u").replace())
    assert photon[0] == "+"
    assert photon[1][0] == "∇·" and photon[1][1][0] == "∇"
    assert photon[2][0] == "*" and photon[2][1] == ("#", 2)
    assert photon[1][1][1] == ("ƒ", "random", (), (("seed", ("#", 1)),))


def test_evolve_and_empty_have_their_glyphs() -> None:
    loop = Node("evolve", args=(Node("num", value=2), Node("empty"), Node("ref", value="s")), value="s")
    assert codex_to_photon_ast(loop) == ("⟲", "s", ("#", 2), ("∅",), ("@", "s"))
    assert photon_to_codex_ast(codex_to_photon_ast(loop)) == loop
