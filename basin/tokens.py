"""Beam → token sequence: the normal form's glyphs in prefix order plus numeric features.

A beam result (the dict a BeamEvent carries, see team brief) becomes:

* three *summary tokens* — ``<cost>``, ``<shape>``, ``<obs>`` — whose features are
  the beam's numbers (log FLOPs/bytes/energy, array shape, observables), and
* one token per AST node of the normal form (falling back to ``expanded`` then
  ``ast``), in pre-order, each with structural features (depth, arity, literal
  value, position).

The vocabulary is spelled out here (not derived from ``stages.codex.ast``) so a
new opcode elsewhere cannot silently renumber tokens under an existing kernel
version; unknown tokens fall into 16 hashed buckets (blake2b, never ``hash()``).
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_FUNCTIONS = (
    "norm energy mean max min sum abs sqrt exp sin cos conj phase real imag entropy finite "
    "interfere sample gaussian const zeros random plane_wave load"
).split()
_OPS = (
    "num bool str empty tuple grad div curl lap dalembert ddt neg delay add sub mul truediv pow "
    "outer dot cross oplus ominus evolve lt le gt ge eq ne approx and or implies iff not attr call"
).split()
_REFS = ("x", "y", "z", "t", "pi")
SUMMARY_TOKENS = ("<cost>", "<shape>", "<obs>")
UNKNOWN_BUCKETS = 16

VOCABULARY: tuple[str, ...] = (
    SUMMARY_TOKENS
    + tuple(_OPS)
    + tuple(f"call:{f}" for f in _FUNCTIONS)
    + tuple(f"ref:{r}" for r in _REFS)
    + ("ref:*", "kw")
    + tuple(f"<unk:{i}>" for i in range(UNKNOWN_BUCKETS))
)
TOKEN_INDEX: dict[str, int] = {tok: i for i, tok in enumerate(VOCABULARY)}

TOKEN_FEATURES = 6
SUMMARY_FEATURES = 10
MAX_AST_TOKENS = 253
"""Beyond this many nodes the tail is dropped (3 summary tokens + 253 = 256 positions)."""


def token_id(token: str) -> int:
    """Index of ``token`` in the vocabulary; unknown tokens map to a stable hashed bucket."""
    known = TOKEN_INDEX.get(token)
    if known is not None:
        return known
    bucket = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "big") % UNKNOWN_BUCKETS
    return TOKEN_INDEX[f"<unk:{bucket}>"]


def signed_log(value: Any) -> float:
    """sign(x)·log1p(|x|), finite for every input (NaN → 0, ±inf → ±50, non-numbers → 0)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return 0.0
    if math.isnan(x):
        return 0.0
    if math.isinf(x):
        return math.copysign(50.0, x)
    return math.copysign(math.log1p(abs(x)), x)


def _node_token(node: Mapping[str, Any]) -> str:
    op = str(node.get("op", ""))
    if op == "call":
        return f"call:{node.get('value')}"
    if op == "ref":
        name = node.get("value")
        return f"ref:{name}" if name in _REFS else "ref:*"
    return op


def _literal(node: Mapping[str, Any]) -> float:
    value = node.get("value")
    if node.get("op") == "bool":
        return 1.0 if value else -1.0
    if node.get("op") == "num" and isinstance(value, int | float) and not isinstance(value, bool):
        return signed_log(value) / 10.0
    return 0.0


def _walk(root: Mapping[str, Any]) -> Iterator[tuple[str, int, int, float]]:
    """Pre-order (token, depth, arity, literal) — the order of ``Node.walk`` — without recursion,
    so arbitrarily deep trees cannot exhaust the interpreter stack."""
    stack: list[tuple[Mapping[str, Any] | None, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if node is None:  # marker for a keyword argument
            yield "kw", depth, 1, 0.0
            continue
        args = node.get("args") or ()
        kw = node.get("kw") or ()
        args = args if isinstance(args, Sequence) and not isinstance(args, str) else ()
        kw = kw if isinstance(kw, Sequence) and not isinstance(kw, str) else ()
        yield _node_token(node), depth, len(args) + len(kw), _literal(node)
        children: list[tuple[Mapping[str, Any] | None, int]] = []
        for child in args:
            if isinstance(child, Mapping):
                children.append((child, depth + 1))
        for pair in kw:
            if isinstance(pair, Sequence) and len(pair) == 2 and isinstance(pair[1], Mapping):
                children.extend([(None, depth + 1), (pair[1], depth + 2)])
        stack.extend(reversed(children))


@dataclass(frozen=True)
class EncodedBeam:
    """Kernel input: AST token ids with per-token features, and the three summary feature rows."""

    token_ids: tuple[int, ...]
    token_features: tuple[tuple[float, ...], ...]
    summary_features: tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]

    @property
    def length(self) -> int:
        """Sequence length T seen by attention (summary tokens included)."""
        return len(SUMMARY_TOKENS) + len(self.token_ids)


def _pad(values: Sequence[float]) -> tuple[float, ...]:
    out = [float(v) for v in values[:SUMMARY_FEATURES]]
    return tuple(out + [0.0] * (SUMMARY_FEATURES - len(out)))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _number(value: Any) -> float:
    """A non-negative finite count from anything (bad input → 0)."""
    x = value if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
    return float(x) if math.isfinite(x) and x > 0 else 0.0


def _cost_features(result: Mapping[str, Any]) -> tuple[float, ...]:
    cost = _mapping(result.get("cost_after") or result.get("cost"))
    flags = cost.get("risk_flags") or ()
    cfl = cost.get("cfl")
    return _pad([
        signed_log(cost.get("flops", 0.0)) / 10.0,
        signed_log(cost.get("bytes", 0.0)) / 10.0,
        signed_log(cost.get("energy", 0.0)) / 10.0,
        signed_log(cost.get("delay", 0.0)) / 10.0,
        signed_log(cost.get("total", 0.0)) / 10.0,
        float(cost.get("ethics_risk", 0.0) or 0.0),
        math.tanh(float(cfl)) if isinstance(cfl, int | float) and math.isfinite(cfl) else 0.0,
        min(len(flags), 5) / 5.0 if isinstance(flags, Sequence) else 0.0,
        signed_log(result.get("rewrite_success_prob", 0.0)),
    ])


def _shape_features(result: Mapping[str, Any]) -> tuple[float, ...]:
    raw_shape = result.get("shape")
    shape = [_number(s) for s in raw_shape] if isinstance(raw_shape, Sequence) else []
    kind = _mapping(result.get("type"))
    dims = [math.log2(1 + d) / 10.0 for d in shape[:4]]
    dims += [0.0] * (4 - len(dims))
    steps = _mapping(_mapping(result.get("grid")).get("time")).get("steps", 0)
    return _pad([
        len(shape) / 4.0,
        *dims,
        math.log2(1 + _number(kind.get("components"))) / 4.0,
        1.0 if kind.get("complex") else 0.0,
        {"field": 1.0, "number": 0.0, "bool": -1.0}.get(str(kind.get("kind")), 0.5),
        signed_log(steps) / 10.0,
        signed_log(result.get("generation", 0)),
    ])


def _observable_features(result: Mapping[str, Any]) -> tuple[float, ...]:
    obs = _mapping(result.get("observables"))
    finite = obs.get("finite")
    return _pad([
        signed_log(obs.get(key, 0.0)) / 5.0 for key in ("norm", "energy", "mean", "min", "max", "entropy")
    ] + [
        1.0 if finite is True else (-1.0 if finite is False else 0.0),
        signed_log(result.get("input_entropy", 0.0)) / 5.0,
        1.0 if _mapping(result.get("attractor")).get("converged") else 0.0,
    ])


def encode_beam(result: Mapping[str, Any], max_ast_tokens: int = MAX_AST_TOKENS) -> EncodedBeam:
    """Tokenise a beam result (missing fields contribute zeros; never raises on odd content)."""
    tree = next(
        (result[k] for k in ("normal_form", "expanded", "ast") if isinstance(result.get(k), Mapping)), None
    )
    ids: list[int] = []
    feats: list[tuple[float, ...]] = []
    if tree is not None:
        nodes = list(itertools.islice(_walk(tree), max_ast_tokens))
        last = max(len(nodes) - 1, 1)
        for i, (tok, depth, arity, literal) in enumerate(nodes):
            ids.append(token_id(tok))
            feats.append((
                min(depth, 16) / 16.0,
                min(arity, 4) / 4.0,
                literal,
                1.0 if arity == 0 else 0.0,
                i / last,
                math.cos(math.pi * i / last),
            ))
    summary = (_cost_features(result), _shape_features(result), _observable_features(result))
    return EncodedBeam(tuple(ids), tuple(feats), summary)
