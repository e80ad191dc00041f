"""Fixtures of the CodexLang front-end tests (parser, checker, cost, stage, docs)."""

from __future__ import annotations

import pytest
from codex_testkit import REPO


@pytest.fixture
def heat_source() -> str:
    """The sheet of codexlang.md's example (examples/heat_and_waves.codex)."""
    return (REPO / "examples" / "heat_and_waves.codex").read_text(encoding="utf-8")
