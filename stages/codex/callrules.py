"""Type rules of function calls (codexlang.md "Functions", "Initialisers").

Signatures follow the reference interpreter (``interp_calls``): reductions take one
field; pointwise functions take a number or a field; initialisers take keyword
arguments only (``gaussian(center=…, width=…)``, ``plane_wave(k=…)``,
``random(seed=…)``) except ``const(c)`` and ``load("f.npy")``; ``sample(ψ, n, seed=…)``
draws n flat indices. Integer arguments (n, seeds) must be literals or params,
because shapes are decided before anything runs.
"""

from __future__ import annotations

import difflib

from stages.codex.ast import FUNCTIONS, Node
from stages.codex.errors import CodexNameError
from stages.codex.npyinfo import npy_field_type
from stages.codex.typerules import RuleContext, fail, join_fields, snippet
from stages.codex.types import BOOL, UNKNOWN, FieldType

REDUCTIONS = frozenset({"norm", "energy", "mean", "sum", "max", "min", "entropy", "finite"})
REAL_RESULTS = frozenset({"norm", "energy", "max", "min", "entropy"})
POINTWISE = frozenset({"abs", "sqrt", "exp", "sin", "cos", "conj", "phase", "real", "imag"})
REAL_POINTWISE = frozenset({"abs", "phase", "real", "imag"})
KEYWORDS: dict[str, frozenset[str]] = {
    "interfere": frozenset({"weights", "phases"}),
    "sample": frozenset({"seed"}),
    "gaussian": frozenset({"center", "width"}),
    "plane_wave": frozenset({"k"}),
    "random": frozenset({"seed"}),
}
POSITIONAL = {"gaussian": 0, "plane_wave": 0, "zeros": 0, "random": 0, "const": 1, "load": 1, "sample": 2}


def call_type(node: Node, args: list[FieldType], kw: dict[str, FieldType], ctx: RuleContext) -> FieldType:
    name = str(node.value)
    if name not in FUNCTIONS:
        close = difflib.get_close_matches(name, sorted(FUNCTIONS), n=1)
        raise CodexNameError.at(node.span, f"unknown function '{name}'",
                                hint=f"did you mean {close[0]}?" if close else "see the function list in "
                                "docs/codexlang.md", code="unknown-function")
    _check_signature(node, name)
    if any(t.unknown for t in (*args, *kw.values())):
        return UNKNOWN
    if name in REDUCTIONS:
        _field_argument(node, 0, args[0], "a field")
        if name == "finite":
            return BOOL
        return FieldType("number", complex=args[0].complex and name not in REAL_RESULTS)
    if name in POINTWISE:
        t = args[0]
        if t.kind not in ("field", "number"):
            fail(node.args[0], f"{name} expects a number or a field, got {t.describe()} ({snippet(node.args[0])})")
        return t.with_complex(t.complex and name not in REAL_POINTWISE)
    return _special(node, name, args, kw, ctx)


def _check_signature(node: Node, name: str) -> None:
    allowed = KEYWORDS.get(name, frozenset())
    for key, value in node.kw:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint: str | None = f"did you mean {close[0]}=…?" if close else (
                f"{name} takes " + ", ".join(f"{k}=…" for k in sorted(allowed)) if allowed else
                f"{name} takes no keyword arguments")
            fail(value, f"{name} has no keyword argument '{key}'", hint, code="signature")
    expected = POSITIONAL.get(name, None if name == "interfere" else 1)
    count = len(node.args)
    if expected is None:
        if count == 0:
            fail(node, "interfere needs at least one field", "interfere(ψ1, ψ2, weights=(1, 1))",
                 at_operator=True, code="signature")
        return
    if count != expected:
        plural = "argument" if expected == 1 else "arguments"
        hint = f"write {name}(" + ", ".join(f"{k}=…" for k in sorted(KEYWORDS[name])) + ")" \
            if expected == 0 and name in KEYWORDS else None
        fail(node, f"{name} takes {expected} positional {plural}, got {count}", hint, at_operator=True,
             code="signature")


def _field_argument(node: Node, index: int, t: FieldType, what: str) -> None:
    if t.kind != "field":
        arg = node.args[index]
        hint = "use abs(…) for a number" if t.kind == "number" else None
        fail(arg, f"{node.value} expects {what}, got {t.describe()} ({snippet(arg)})", hint)


def _whole(node: Node, arg: Node, t: FieldType, ctx: RuleContext, what: str) -> int:
    value = ctx.literal(arg) if t.kind == "number" else None
    if value is None or not value.is_integer() or value < 0:
        fail(arg, f"{node.value}: {what} must be a whole number ≥ 0 written in the sheet, got {snippet(arg)}")
    return int(value)


def _numbers(node: Node, key: str, t: FieldType, sizes: tuple[int, ...]) -> None:
    """A keyword argument that is a number or a tuple of numbers with one of ``sizes`` items."""
    value = node.kwargs()[key]
    if t.kind == "number":
        if 1 not in sizes:
            fail(value, f"{node.value}: {key} needs {sizes[-1]} numbers, got one")
        return
    if t.kind != "tuple":
        fail(value, f"{node.value}: {key} must be a number or a tuple of numbers, got {t.describe()}")
    if t.length not in sizes:
        want = " or ".join(str(s) for s in sizes)
        fail(value, f"{node.value}: {key} needs {want} numbers, got {t.length}")


def _special(node: Node, name: str, args: list[FieldType], kw: dict[str, FieldType], ctx: RuleContext) -> FieldType:
    rank = ctx.grid.rank
    if name == "interfere":
        for i, t in enumerate(args):
            _field_argument(node, i, t, "fields")
        count = len(args)
        for key in ("weights", "phases"):
            if key in kw:
                _numbers(node, key, kw[key], (count,))
        joined = join_fields(node, args, allow_mixed=True)
        return FieldType("field", components=joined.components, time=joined.time)
    if name == "sample":
        _field_argument(node, 0, args[0], "a field")
        n = _whole(node, node.args[1], args[1], ctx, "the number of samples")
        if "seed" in kw:
            _whole(node, node.kwargs()["seed"], kw["seed"], ctx, "the seed")
        return FieldType("samples", length=n)
    if name == "gaussian":
        for key in ("center", "width"):
            if key in kw:
                _numbers(node, key, kw[key], (1, rank))
        width = node.kwargs().get("width")
        if width is not None:
            items = width.args if width.op == "tuple" else (width,)
            if any((ctx.literal(w) or 0.0) <= 0 for w in items if ctx.literal(w) is not None):
                fail(width, "gaussian: width must be positive")
        return FieldType("field")
    if name == "plane_wave":
        if "k" not in kw:
            fail(node, "plane_wave needs k=(kx, …) with one wavenumber per axis", at_operator=True,
                 code="signature")
        _numbers(node, "k", kw["k"], (rank,))
        return FieldType("field", complex=True)
    if name == "const":
        if args[0].kind != "number":
            fail(node.args[0], f"const expects a number, got {args[0].describe()} ({snippet(node.args[0])})")
        return FieldType("field", complex=args[0].complex)
    if name == "zeros":
        return FieldType("field")
    if name == "random":
        if "seed" in kw:
            _whole(node, node.kwargs()["seed"], kw["seed"], ctx, "the seed")
        return FieldType("field")
    if name == "load":
        return _load(node, args[0], ctx)
    fail(node, f"function '{name}' is not supported here", at_operator=True, code="unsupported")


def _load(node: Node, t: FieldType, ctx: RuleContext) -> FieldType:
    arg = node.args[0]
    if t.kind != "str" or arg.op != "str":
        fail(arg, f'load expects a file name string, got {t.describe()}', 'write load("field.npy")')
    return npy_field_type(arg, str(arg.value), ctx.grid, ctx.data_dir)
