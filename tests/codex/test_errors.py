"""Error messages users see for typical mistakes, checked verbatim (codexlang.md "Errors")."""

from __future__ import annotations

import pytest

from stages.codex.checker import compile_sheet
from stages.codex.errors import CodexError, CodexErrors, CodexSyntaxError, CodexTypeError


def rendered(text: str) -> str:
    with pytest.raises(CodexError) as info:
        compile_sheet(text, "sheet.codex")
    return info.value.render(text)


def test_spec_example_divergence_of_a_scalar() -> None:
    text = "sheet s\ngrid 64x64\nlet u = gaussian()\n\n\n\ncell heat : u + ∇·u\n"
    assert rendered(text) == (
        "sheet.codex:7:19: type error: ∇· expects a vector field, got a scalar field (u)\n"
        "    cell heat : u + ∇·u\n"
        "                      ^\n"
        "hint: did you mean Δu (= ∇·∇u)?"
    )


CASES = [
    (  # a misspelt name
        "let u = gaussian()\ncell a : uu + 1\n",
        "sheet.codex:2:10: name error: unknown name 'uu'\n"
        "    cell a : uu + 1\n"
        "             ^\n"
        "hint: did you mean u?",
    ),
    (  # a misspelt function
        "let u = gaussian()\ncell b : nrm(u)\n",
        "sheet.codex:2:10: name error: unknown function 'nrm'\n"
        "    cell b : nrm(u)\n"
        "             ^\n"
        "hint: did you mean norm?",
    ),
    (  # the same id twice: both places named
        "let u = gaussian()\ncell b : u\ncell b : Δu\n",
        "sheet.codex:3:6: name error: duplicate name 'b': already defined as a cell at sheet.codex:2:6\n"
        "    cell b : Δu\n"
        "         ^\n"
        "hint: params, lets and cells share one namespace; rename one of them",
    ),
    (  # mixing a scalar and a vector field
        "grid 8x8\nlet u = gaussian()\ncell c : u + ∇u\n",
        "sheet.codex:3:12: type error: + cannot combine a scalar field (u) with a vector field (∇u)\n"
        "    cell c : u + ∇u\n"
        "               ^\n"
        "hint: reduce the vector first (∇·, • or a component-free form)",
    ),
    (  # '=' instead of ':'
        "cell d = x\n",
        "sheet.codex:1:8: syntax error: expected ':' after the cell id d, found '='\n"
        "    cell d = x\n"
        "           ^\n"
        "hint: cells are written cell d : EXPR",
    ),
    (  # an unclosed parenthesis
        "cell e : (x + 1\n",
        "sheet.codex:1:16: syntax error: expected ')' to close the '(' at column 10, found end of line\n"
        "    cell e : (x + 1\n"
        "                   ^\n"
        "hint: add the missing ')'",
    ),
    (  # a time derivative on a field without a time axis
        "cell f : □x\n",
        "sheet.codex:1:11: type error: □ needs a field with a time axis, got a scalar field without one (x)\n"
        "    cell f : □x\n"
        "              ^\n"
        "hint: give the grid a time axis (grid … time 32 step 0.01) and let the field depend on t",
    ),
    (  # two lets that refer to each other
        "let p = q + 1\nlet q = p * 2\n",
        "sheet.codex:2:9: cycle error: reference cycle: p → q → p\n"
        "    let q = p * 2\n"
        "            ^\n"
        "hint: defined: p at line 1, q at line 2; references must not loop",
    ),
    (  # evolving a variable that has no starting value
        "cell g : ⟲3 v ← v + 1\n",
        "sheet.codex:1:13: evolve error: evolve variable 'v' has no starting value\n"
        "    cell g : ⟲3 v ← v + 1\n"
        "                ^\n"
        "hint: define let v = … first, or write ⟲n (v = INIT) ← BODY",
    ),
    (  # a character that is not CodexLang
        "cell h : x $ 2\n",
        "sheet.codex:1:12: syntax error: unexpected character '$'\n"
        "    cell h : x $ 2\n"
        "               ^\n"
        "hint: CodexLang's glyphs and their ASCII spellings are listed in docs/codexlang.md",
    ),
    (  # chained comparison in a goal
        "cell i : x goal: 0 < max < 1\n",
        "sheet.codex:1:26: syntax error: comparisons don't chain\n"
        "    cell i : x goal: 0 < max < 1\n"
        "                             ^\n"
        "hint: write a < b ∧ b < c",
    ),
    (  # entangling a cell that does not exist
        "cell heat : x\nhaet ↔ heat\n",
        "sheet.codex:2:1: name error: unknown cell 'haet' in the entanglement\n"
        "    haet ↔ heat\n"
        "    ^\n"
        "hint: did you mean heat?",
    ),
    (  # an unknown precision
        "cell j : x precision fp16\n",
        "sheet.codex:1:22: syntax error: unknown precision name 'fp16'\n"
        "    cell j : x precision fp16\n"
        "                         ^\n"
        "hint: one of fp32, bf16, fp8, int8, auto",
    ),
    (  # a boundary rule that does not exist
        "grid 64x64 boundary open\n",
        "sheet.codex:1:21: grid error: unknown boundary name 'open'\n"
        "    grid 64x64 boundary open\n"
        "                        ^\n"
        "hint: one of periodic, neumann, dirichlet",
    ),
    (  # comparing a field instead of an observable
        "cell k : x goal: x < 1\n",
        "sheet.codex:1:18: type error: < compares numbers, got a scalar field (x)\n"
        "    cell k : x goal: x < 1\n"
        "                     ^\n"
        "hint: compare an observable of it: norm(…), max(…), mean(…)",
    ),
    (  # redefining a built-in
        "let norm = x\n",
        "sheet.codex:1:5: name error: 'norm' is a built-in function and cannot be redefined\n"
        "    let norm = x\n"
        "        ^\n"
        "hint: choose another name, e.g. norm_1",
    ),
    (  # a missing operator between two operands
        "cell m : 2 x\n",
        "sheet.codex:1:12: syntax error: unexpected name 'x' after the expression\n"
        "    cell m : 2 x\n"
        "               ^\n"
        "hint: is an operator missing? (e.g. 2 * x)",
    ),
    (  # the evolve body changes the kind of value
        "grid 8x8\nlet u = gaussian()\ncell n : ⟲5 u ← ∇u\n",
        "sheet.codex:3:17: evolve error: the evolve body must keep u's type: u is a scalar field, "
        "the body gives a vector field\n"
        "    cell n : ⟲5 u ← ∇u\n"
        "                    ^\n"
        "hint: each step must give a scalar field again",
    ),
    (  # • of a scalar field: a shape mismatch of the pointwise dot
        "grid 8x8\nlet u = gaussian()\ncell a : u • ∇u\n",
        "sheet.codex:3:10: type error: • expects two vector fields, got a scalar field (u)\n"
        "    cell a : u • ∇u\n"
        "             ^\n"
        "hint: use * to scale by a scalar",
    ),
    (  # • of a ⊗ result (4 components) with a gradient (2): component counts differ
        "grid 8x8\nlet u = gaussian()\ncell a : (∇u ⊗ ∇u) • ∇u\n",
        "sheet.codex:3:20: type error: • needs vectors with the same number of components, got 4 and 2\n"
        "    cell a : (∇u ⊗ ∇u) • ∇u\n"
        "                       ^\n"
        "hint: the operator table in docs/codexlang.md lists what each operator accepts",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[1].split(": ", 2)[2][:40] for c in CASES])
def test_typical_mistakes(text: str, expected: str) -> None:
    assert rendered(text) == expected


def test_all_errors_of_a_sheet_are_reported_together_in_source_order() -> None:
    text = "cell a : uu\ncell b : (x\ncell c : ∇·x\ncell a : x\n"
    with pytest.raises(CodexErrors) as info:
        compile_sheet(text, "s.codex")
    found = [(e.line, e.code) for e in info.value.errors]
    assert found == [(1, "unknown-name"), (2, "syntax"), (3, "type"), (4, "duplicate")]


def test_a_broken_definition_does_not_cascade() -> None:
    """Uses of a let whose line failed to parse are not reported again as unknown names."""
    text = "let u = gaussian(\ncell a : Δu\ncell b : u + 1\n"
    with pytest.raises(CodexErrors) as info:
        compile_sheet(text)
    assert [e.line for e in info.value.errors] == [1]


def test_error_fields_and_item_form() -> None:
    with pytest.raises(CodexErrors) as info:
        compile_sheet("cell a : ∇·x\n", "f.codex")
    error = info.value.errors[0]
    assert isinstance(error, CodexTypeError)
    assert (error.file, error.line, error.col, error.code) == ("f.codex", 1, 12, "type")
    item = error.to_item("cell a : ∇·x\n")
    assert item["rendered"].splitlines()[0] == str(error) == item["rendered"].split("\n")[0]
    assert set(item) == {"message", "file", "line", "col", "hint", "code", "rendered"}


def test_every_error_carries_a_hint() -> None:
    text = "grid 1x2x3x4\ncell a : x ⊗\ncell b : y\nlet c = ⟲3 (v = x) ← ∇v\n"
    with pytest.raises(CodexErrors) as info:
        compile_sheet(text)
    assert len(info.value.errors) == 4
    assert all(e.hint for e in info.value.errors)
    assert CodexSyntaxError("x").hint


def test_render_without_source_and_past_the_end() -> None:
    error = CodexSyntaxError("boom", file="x.codex", line=9, col=3, hint="try again")
    assert error.render(None) == "x.codex:9:3: syntax error: boom\nhint: try again"
    assert error.render("one line\n") == "x.codex:9:3: syntax error: boom\nhint: try again"


def test_caret_keeps_tabs_aligned() -> None:
    text = "cell\ta :\t∇·x\n"
    lines = rendered(text).splitlines()
    assert lines[1] == "    cell\ta :\t∇·x"
    assert lines[2] == "    " + "    \t" + "   \t" + "  ^"
