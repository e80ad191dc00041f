"""Every ```codex example of docs/codexlang.md, and examples/*.codex, parses and checks."""

from __future__ import annotations

import re

import pytest
from codex_testkit import REPO

from stages.codex.checker import compile_sheet
from stages.codex.errors import CodexError
from stages.codex.parser import parse_sheet
from stages.codex.printer import sheet_to_source

DOC = REPO / "docs" / "codexlang.md"
BLOCKS = re.findall(r"```codex\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
EXAMPLES = sorted((REPO / "examples").glob("*.codex"))


def test_the_guide_has_examples() -> None:
    assert len(BLOCKS) >= 6


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_doc_example_checks(block: str) -> None:
    try:
        checked = compile_sheet(block, "docs.codex")
    except CodexError as exc:
        pytest.fail(exc.render(block))
    assert checked.cells
    reparsed = parse_sheet(sheet_to_source(checked.sheet))
    assert [c.expr for c in reparsed.cells] == [c.expr for c in checked.sheet.cells]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_sheets_check(path: object) -> None:
    text = path.read_text(encoding="utf-8")  # type: ignore[attr-defined]
    assert compile_sheet(text, str(path)).cells


def test_ascii_and_glyph_versions_of_the_first_example_agree() -> None:
    glyphs, ascii_only = (compile_sheet(b) for b in BLOCKS[:2])
    assert [c.expanded for c in glyphs.cells] == [c.expanded for c in ascii_only.cells]
