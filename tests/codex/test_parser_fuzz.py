"""Bad input: whatever text or bytes arrive, the front end raises only CodexError, and always returns.

Depth: ``FUZZ_EXAMPLES`` cases per test (10,000 under HYPOTHESIS_PROFILE=ci).
"""

from __future__ import annotations

import pytest
from codex_testkit import FUZZ_EXAMPLES, token_soup
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stages.codex.checker import compile_sheet
from stages.codex.cost import estimate_cost
from stages.codex.errors import CodexError
from stages.codex.parser import parse_expr, parse_predicate, parse_sheet
from stages.codex.printer import to_source

FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=200)


def _front_end(source: str | bytes) -> None:
    text = source if isinstance(source, str) else source.decode("utf-8", errors="replace")
    for parse in (parse_expr, parse_predicate, parse_sheet, compile_sheet):
        try:
            parse(source)
        except CodexError as exc:
            assert exc.render(text)  # every error renders, caret and all


@pytest.mark.timeout(900)
@FUZZ
@given(any_text)
def test_any_text_raises_only_codex_errors(text: str) -> None:
    _front_end(text)


@pytest.mark.timeout(900)
@FUZZ
@given(st.binary(max_size=200))
def test_any_bytes_raise_only_codex_errors(data: bytes) -> None:
    _front_end(data)
    _front_end(data.decode("latin-1"))
    _front_end(data.decode("utf-8", errors="replace"))


@pytest.mark.timeout(900)
@FUZZ
@given(token_soup)
def test_token_soup_checks_or_raises_codex_errors(text: str) -> None:
    """Sheets made of real CodexLang words reach the checker and the cost model."""
    try:
        checked = compile_sheet(text)
    except CodexError as exc:
        assert exc.render(text)
        return
    for cell in checked.cells:
        estimate_cost(cell.expanded, checked.sheet.grid)
        assert parse_expr(to_source(cell.expr)) == cell.expr


@pytest.mark.parametrize("text", [
    "(" * 5000 + "u" + ")" * 5000,
    "cell a : " + "¬" * 5000 + "u",
    "cell a : " + "u ^ " * 3000 + "u",
    "cell a : " + " + ".join(["u"] * 3000),
    "let a0 = x\n" + "\n".join(f"let a{i} = a{i - 1} + a{i - 1}" for i in range(1, 60)) + "\ncell c : a59",
    "9" * 5000,
    "cell a : " + "1e99999",
    "grid " + "9" * 40,
    "cell a : \"" + "\\" * 3,
    "\ufeffcell a : x\r\ncell b : a\r\n",
])
def test_pathological_inputs_fail_cleanly(text: str) -> None:
    _front_end(text)
