"""Printing then parsing gives the same tree back (parse ∘ print = id on parser-made trees)."""

from __future__ import annotations

from codex_testkit import parsable_trees
from hypothesis import given, settings

from stages.codex.ast import Node
from stages.codex.parser import parse_expr, parse_sheet
from stages.codex.printer import sheet_to_source, to_source


@settings(max_examples=300, deadline=None)
@given(parsable_trees)
def test_print_then_parse_is_identity(tree: Node) -> None:
    text = to_source(tree)
    assert parse_expr(text) == tree, text


@settings(max_examples=200, deadline=None)
@given(parsable_trees)
def test_printing_is_canonical(tree: Node) -> None:
    text = to_source(tree)
    assert to_source(parse_expr(text)) == text


def test_sheet_round_trip(heat_source: str) -> None:
    sheet = parse_sheet(heat_source, "heat.codex")
    again = parse_sheet(sheet_to_source(sheet), "heat.codex")
    assert again.name == sheet.name and again.grid == sheet.grid and again.params == sheet.params
    assert again.lets == sheet.lets
    assert [(c.id, c.expr, c.goal, c.precision) for c in again.cells] == \
        [(c.id, c.expr, c.goal, c.precision) for c in sheet.cells]
    assert again.entanglements == sheet.entanglements


def test_ascii_and_glyph_spellings_print_the_same() -> None:
    ascii_text = "repeat 3 u <- u (+) grad v dot w |> lap |> norm"
    glyph_text = "⟲3 u ← norm(Δ(u ⊕ ∇v • w))"
    assert parse_expr(ascii_text) == parse_expr(glyph_text)
    assert to_source(parse_expr(ascii_text)) == glyph_text
