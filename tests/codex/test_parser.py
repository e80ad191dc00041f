"""The parser: statements, every operator with its precedence and ASCII alias, spans, predicates."""

from __future__ import annotations

import pytest

from stages.codex.ast import Node, Span, call, num, ref
from stages.codex.errors import CodexErrors, CodexSyntaxError
from stages.codex.grid import GridSpec
from stages.codex.parser import parse_expr, parse_predicate, parse_sheet


def op(name: str, *args: Node, value: object = None) -> Node:
    return Node(name, tuple(args), value)  # type: ignore[arg-type]


u, v, w = ref("u"), ref("v"), ref("w")


def test_heat_and_waves_sheet(heat_source: str) -> None:
    sheet = parse_sheet(heat_source, "heat.codex")
    assert sheet.name == "heat_and_waves"
    assert sheet.grid == GridSpec(shape=(64, 64), spacing=0.02, boundary="periodic")
    assert sheet.params == {"dt": 0.0001}
    assert list(sheet.lets) == ["u", "k", "psi"]
    assert [c.id for c in sheet.cells] == ["heat", "lap", "flux", "fringe", "step"]
    assert sheet.entanglements == [["heat", "lap"]]
    heat = sheet.cells[0]
    assert heat.expr == op("add", u, op("mul", ref("dt"), op("div", op("mul", ref("k"), op("grad", u)))))
    assert heat.goal == op("lt", ref("energy"), call("energy", u))
    assert sheet.cells[3].goal == op("approx", ref("max"), num(4), num(0.1))
    step = sheet.cells[4].expr
    assert step == Node("evolve", (num(200), u, op("add", u, op("mul", ref("dt"), op("lap", u)))), "u")
    assert heat.span == Span(7, 6, "heat.codex")


@pytest.mark.parametrize(("glyph", "ascii_text"), [
    ("∇u", "grad u"), ("∇·u", "div(u)"), ("∇×u", "curl u"), ("Δu", "lap u"), ("□u", "dalembert u"),
    ("d/dt u", "ddt u"), ("⧖2 u", "delay(u, 2)"), ("¬u", "neg u"), ("u ⊗ v", "u outer v"),
    ("u • v", "u dot v"), ("u × v", "u cross v"), ("u ⊕ v", "u (+) v"), ("u ⊖ v", "u (-) v"),
    ("u → Δ", "u |> lap"), ("⟲3 u ← Δu", "repeat 3 u <- lap u"), ("∅", "empty"), ("⊤", "true"),
    ("⊥", "false"), ("u ≠ v", "u != v"), ("u ≈ 1 ± 0.1", "u ~= 1 +/- 0.1"), ("u ≤ v", "u <= v"),
    ("a ∧ b ∨ ¬(c < d)", "a and b or not c < d"), ("a ⇒ b ⇔ c", "a => b <=> c"), ("u ^ 2", "u ** 2"),
    ("u ⊗ v", "outer(u, v)"), ("u × v", "cross(u, v)"), ("u ^ 2", "u^2"),
])
def test_ascii_aliases(glyph: str, ascii_text: str) -> None:
    assert parse_expr(glyph) == parse_expr(ascii_text)


@pytest.mark.parametrize(("text", "tree"), [
    ("u + v * w", op("add", u, op("mul", v, w))),
    ("u * v ^ w ^ 2", op("mul", u, op("pow", v, op("pow", w, num(2))))),
    ("∇u ^ 2", op("pow", op("grad", u), num(2))),
    ("-u ^ 2", op("neg", op("pow", u, num(2)))),
    ("-3 * u", op("mul", num(-3), u)),
    ("u - -3", op("sub", u, num(-3))),
    ("u ⊗ v * w", op("outer", u, op("mul", v, w))),
    ("u • v ⊗ w", op("dot", u, op("outer", v, w))),
    ("u × v • w", op("cross", u, op("dot", v, w))),
    ("u + v × w", op("add", u, op("cross", v, w))),
    ("u ⊕ v + w", op("oplus", u, op("add", v, w))),
    ("u - v - w", op("sub", op("sub", u, v), w)),
    ("u ⊕ v → norm", call("norm", op("oplus", u, v))),
    ("u → Δ → norm", call("norm", op("lap", u))),
    ("u → sample(10)", call("sample", u, num(10))),
    ("u → ⧖2", op("delay", u, num(2))),
    ("Δ∇·∇u", op("lap", op("div", op("grad", u)))),
    ("¬¬u", op("neg", op("neg", u))),
    ("¬(u < 1)", op("not", op("lt", u, num(1)))),
    ("¬finite", op("not", ref("finite"))),
    ("¬u < 1", op("lt", op("neg", u), num(1))),
    ("not u < 1 ∧ v", op("and", op("not", op("lt", u, num(1))), v)),
    ("a ⇒ b ⇒ c", op("implies", ref("a"), op("implies", ref("b"), ref("c")))),
    ("a ∨ b ∧ c", op("or", ref("a"), op("and", ref("b"), ref("c")))),
    ("energy <-1", op("lt", ref("energy"), num(-1))),
    ("⟲3 u ← u + 1 < 2", op("lt", Node("evolve", (num(3), u, op("add", u, num(1))), "u"), num(2))),
    ("⟲n (u = zeros()) ← Δu", Node("evolve", (ref("n"), call("zeros"), op("lap", u)), "u")),
    ("d/dt u", op("ddt", u)),
    ("d / dt", op("truediv", ref("d"), ref("dt"))),
    ("d/dt(u)", op("ddt", u)),
    ("lap", ref("lap")),
    ("lap * 2", op("mul", ref("lap"), num(2))),
    ("lap - 1", op("sub", ref("lap"), num(1))),
    ("grad lap", op("grad", ref("lap"))),
    ("score.qscore >= 0.5", op("ge", Node("attr", value="score.qscore"), num(0.5))),
    ('load("a \\"b\\".npy")', call("load", Node("str", value='a "b".npy'))),
    ("f(b=1, a=(1, 2))", call("f", a=Node("tuple", (num(1), num(2))), b=num(1))),
    ("(1,)", Node("tuple", (num(1),))),
    ("1e-4 + .5 + 2.", op("add", op("add", num(0.0001), num(0.5)), num(2.0))),
    ("u  # a comment", u),
])
def test_precedence_and_forms(text: str, tree: Node) -> None:
    assert parse_expr(text) == tree


def test_every_node_has_a_span() -> None:
    tree = parse_expr("u + dt * ∇·(k * ∇u)", "f")
    assert all(n.span is not None and n.span.file == "f" for n in tree.walk())
    assert tree.span == Span(1, 3, "f")  # binary nodes sit at their operator
    assert tree.args[1].args[1].span == Span(1, 10, "f")


def test_multi_line_expressions_and_predicates() -> None:
    assert parse_expr("u +\n  v") == op("add", u, v)
    assert parse_predicate("cost.bytes > cap\n ∧ score.qscore < 0.35") == op(
        "and", op("gt", Node("attr", value="cost.bytes"), ref("cap")),
        op("lt", Node("attr", value="score.qscore"), num(0.35)))


def test_predicates_must_be_predicates() -> None:
    with pytest.raises(CodexSyntaxError, match="expected a predicate"):
        parse_predicate("u + 1")
    assert parse_predicate("finite") == ref("finite")


def test_grid_statement_forms() -> None:
    sheet = parse_sheet("grid 16x8x4 boundary neumann spacing 0.5 time 10 step 0.1\n")
    assert sheet.grid == GridSpec((16, 8, 4), 0.5, "neumann", 10, 0.1)
    assert parse_sheet("grid 32\n").grid == GridSpec((32,), 1 / 32)
    assert parse_sheet("cell a : x\n").grid == GridSpec()


def test_param_let_cell_options() -> None:
    sheet = parse_sheet("param n = -3\nlet a = 1\ncell c : a precision bf16 goal: norm < 1\n")
    assert sheet.params == {"n": -3}
    cell = sheet.cells[0]
    assert (cell.precision, cell.goal) == ("bf16", op("lt", ref("norm"), num(1)))


def test_entanglement_chains_and_ascii() -> None:
    sheet = parse_sheet("cell a : x\ncell b : x\ncell c : x\na <-> b ↔ c\n")
    assert sheet.entanglements == [["a", "b", "c"]]


def test_a_cell_may_be_named_like_an_operator_word() -> None:
    sheet = parse_sheet("cell lap : Δx\ncell b : lap * 2 + lap u\nlap ↔ b\n")
    assert sheet.cells[1].expr == op("add", op("mul", ref("lap"), num(2)), op("lap", u))


def test_statement_errors_are_all_collected() -> None:
    with pytest.raises(CodexErrors) as info:
        parse_sheet("cell a x\nlet = 3\nparam p = u\nbogus\ngrid 2x2\ngrid 4\n")
    assert [e.line for e in info.value.errors] == [1, 2, 3, 4, 6]


def test_bytes_sources_must_be_utf8() -> None:
    assert parse_sheet("cell a : Δx\n".encode()).cells[0].expr == op("lap", ref("x"))
    with pytest.raises(CodexSyntaxError) as info:
        parse_sheet(b"cell a : x\ncell b : \xff\n", "b.codex")
    assert (info.value.line, info.value.col, info.value.code) == (2, 10, "encoding")
