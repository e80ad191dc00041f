"""Helpers shared by the CodexLang front-end tests: stage inputs and hypothesis strategies."""

from __future__ import annotations

import os
import string
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import strategies as st

from contracts.envelope import Envelope
from contracts.payloads import SheetSubmitted
from contracts.registry import make_event
from stages.base import StageContext
from stages.codex.ast import FUNCTIONS, Node
from stages.codex.glyphs import RESERVED_WORDS

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2025, 1, 1, tzinfo=UTC)
# Fuzz depth: 10,000 cases per fuzz test under the CI profile (HYPOTHESIS_PROFILE=ci), fewer locally.
FUZZ_EXAMPLES = 10_000 if os.environ.get("HYPOTHESIS_PROFILE") == "ci" else 1_000


def submitted(source: str, *, run: str = "run-1", seed: int = 7, filename: str = "sheet.codex") -> Envelope:
    payload = SheetSubmitted(sheet_run_id=run, container_id="c1", source=source, filename=filename, seed=seed)
    return make_event(payload, stage_id="cli", index=0, sheet_run_id=run, container_id="c1", occurred_at=T0)


def context(**flags: object) -> StageContext:
    return StageContext(flags={"COST_THRESHOLD": 2.0e5, **flags}, flags_digest="digest-1", clock=lambda: T0)


# -- ASTs the parser can produce ------------------------------------------------------------
NAMES = st.one_of(
    st.sampled_from(["u", "v", "psi", "dt", "k", "x", "t", "pi", "lap", "grad", "dot", "norm", "energy",
                     "finite", "d", "dt2", "ψ", "u_1"]),
    st.text(string.ascii_lowercase + "_", min_size=1, max_size=6),
).filter(lambda n: n not in RESERVED_WORDS and n.isidentifier())
CALLABLE = sorted(FUNCTIONS)
UNARY = ["grad", "div", "curl", "lap", "dalembert", "ddt", "neg", "not"]
BINARY = ["add", "sub", "mul", "truediv", "pow", "outer", "dot", "cross", "oplus", "ominus",
          "lt", "le", "gt", "ge", "eq", "ne", "and", "or", "implies", "iff"]

numbers = st.one_of(
    st.integers(min_value=-10**6, max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
).map(lambda v: Node("num", value=v))
leaves = st.one_of(
    numbers,
    NAMES.map(lambda n: Node("ref", value=n)),
    st.text(max_size=6).map(lambda s: Node("str", value=s)),
    st.booleans().map(lambda b: Node("bool", value=b)),
    st.just(Node("empty")),
    st.lists(st.sampled_from(["score", "cost", "qscore", "bytes"]), min_size=2, max_size=3)
    .map(lambda parts: Node("attr", value=".".join(parts))),
)


def _extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    kw_names = st.sampled_from(["k", "center", "width", "seed", "weights"])
    return st.one_of(
        st.tuples(st.sampled_from(UNARY), children).map(lambda p: Node(p[0], (p[1],))),
        st.tuples(st.sampled_from(BINARY), children, children).map(lambda p: Node(p[0], (p[1], p[2]))),
        st.tuples(children, children, children).map(lambda p: Node("approx", p)),
        st.tuples(children, st.one_of(st.integers(-3, 9).map(lambda v: Node("num", value=v)),
                                      NAMES.map(lambda n: Node("ref", value=n)))).map(
            lambda p: Node("delay", (p[0], p[1]))),
        st.lists(children, max_size=3).map(lambda items: Node("tuple", tuple(items))),
        st.tuples(
            st.sampled_from(CALLABLE),
            st.lists(children, max_size=3),
            st.dictionaries(kw_names, children, max_size=2),
        ).map(lambda p: Node("call", tuple(p[1]), p[0], tuple(sorted(p[2].items())))),
        st.tuples(
            st.one_of(st.integers(-2, 500).map(lambda v: Node("num", value=v)), NAMES.map(lambda n: Node("ref", value=n))),
            NAMES, st.booleans(), children, children,
        ).map(lambda p: Node("evolve", (p[0], Node("ref", value=p[1]) if p[2] else p[3], p[4]), p[1])),
    )


parsable_trees = st.recursive(leaves, _extend, max_leaves=12)

# -- token soup: sheets made of CodexLang words, for fuzzing the checker behind the parser ----------
TOKENS = [
    "sheet", "grid", "param", "let", "cell", "goal:", "precision", "fp32", "auto", "spacing", "boundary",
    "periodic", "dirichlet", "time", "step", "64x64", "8", "16x8x4", "0.02", "1e-4", "3", "-1", "0",
    "u", "v", "w", "k", "dt", "psi", "x", "y", "z", "t", "pi", "=", ":", "(", ")", ",", "+", "-", "*", "/",
    "^", "⊗", "•", "×", "⊕", "⊖", "(+)", "(-)", "→", "|>", "∇", "∇·", "∇×", "Δ", "□", "d/dt", "⧖", "⧖2",
    "¬", "not", "and", "or", "∧", "∨", "⇒", "⇔", "<", "<=", ">", "=", "≠", "≈", "±", "⟲3", "repeat", "←",
    "<-", "↔", "<->", "∅", "⊤", "⊥", "#", '"f.npy"', "gaussian(center=(0.5, 0.5), width=0.1)", "const(1.0)",
    "plane_wave(k=(4, 0))", "norm", "energy", "max", "mean", "entropy", "finite", "interfere", "sample",
    "random(seed=3)", "zeros()", "load", "delay", "lap", "grad", "div", "curl", "sin", "exp", "abs",
    "score.qscore", "\n", "\n", "\n",
]
token_soup = st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join)
