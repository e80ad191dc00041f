"""Function calls of the reference interpreter: reductions, pointwise functions, interfere,
sample, and the initialisers.

Each entry gets the evaluated positional arguments and keyword arguments and
returns a value; ``Context`` carries what calls need besides their arguments (grid,
seed, data directory).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from stages.codex import interp_init as init
from stages.codex import operators as ops
from stages.codex.grid import GridSpec
from stages.codex.interp_errors import InterpreterError
from stages.codex.interp_values import (
    Field,
    Samples,
    Value,
    describe,
    elementwise,
    expand,
    joint_layout,
    require_field,
    require_int,
    require_number,
    require_real,
    to_number,
)


@dataclass(frozen=True, slots=True)
class Context:
    grid: GridSpec
    seed: int
    data_dir: str | None


Call = Callable[[Context, list[Value], dict[str, Value]], Value]

POINTWISE: dict[str, Callable[[Any], Any]] = {
    "abs": np.abs,
    "sqrt": np.sqrt,
    "exp": np.exp,
    "sin": np.sin,
    "cos": np.cos,
    "conj": np.conj,
    "phase": np.angle,
    "real": np.real,
    "imag": np.imag,
}


def _arity(
    name: str, args: list[Value], kwargs: dict[str, Value], count: int, allowed: frozenset[str]
) -> None:
    if len(args) != count:
        raise InterpreterError(name, f"takes {count} positional argument(s), got {len(args)}")
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise InterpreterError(name, f"unknown keyword argument(s) {unknown}")


def _numbers(name: str, value: Value) -> tuple[float, ...]:
    """A keyword argument given as a number or a tuple of real numbers."""
    items = value if isinstance(value, tuple) else (value,)
    return tuple(require_real(name, item) for item in items)


def reduction(name: str) -> Call:
    kernel = ops.REDUCTIONS[name]

    def run(ctx: Context, args: list[Value], kwargs: dict[str, Value]) -> Value:
        _arity(name, args, kwargs, 1, frozenset())
        field = require_field(name, args[0])
        result = kernel(field.data, ctx.grid.spacing, ctx.grid.rank, np)
        return bool(result) if name == "finite" else to_number(result)

    return run


def pointwise(name: str) -> Call:
    fn = POINTWISE[name]

    def run(ctx: Context, args: list[Value], kwargs: dict[str, Value]) -> Value:
        _arity(name, args, kwargs, 1, frozenset())
        return elementwise(name, fn, args)

    return run


def interfere(ctx: Context, args: list[Value], kwargs: dict[str, Value]) -> Value:
    """|Σ w_k e^{iφ_k} ψ_k|² with ``weights=`` and ``phases=`` (number or tuple, defaults 1 and 0)."""
    _arity("interfere", args, kwargs, len(args), frozenset({"weights", "phases"}))
    if not args:
        raise InterpreterError("interfere", "needs at least one field")
    fields = [require_field("interfere", a) for a in args]
    layout = joint_layout("interfere", fields)
    weights = _numbers("interfere", kwargs["weights"]) if "weights" in kwargs else None
    phases = _numbers("interfere", kwargs["phases"]) if "phases" in kwargs else None
    data = ops.interfere(*(expand(f, layout) for f in fields), xp=np, weights=weights, phases=phases)
    return Field(np.asarray(data), layout)


def sample(ctx: Context, args: list[Value], kwargs: dict[str, Value]) -> Value:
    """n Born-rule draws of flat indices with p = |ψ|²/Σ|ψ|², from numpy's generator seeded ``seed``.

    ``seed=`` overrides the evaluation seed; the same seed gives the same draws.
    """
    _arity("sample", args, kwargs, 2, frozenset({"seed"}))
    psi = require_field("sample", args[0])
    count = require_int("sample", args[1])
    seed = require_int("sample", kwargs["seed"]) if "seed" in kwargs else ctx.seed
    if count < 0 or seed < 0:
        raise InterpreterError("sample", f"count and seed must be non-negative, got {count} and {seed}")
    weight = np.abs(psi.data.ravel()) ** 2
    mass = float(np.sum(weight))
    if not np.isfinite(mass) or mass <= 0:
        raise InterpreterError("sample", f"|ψ|² must have a positive finite sum, got {mass}")
    rng = np.random.default_rng(seed)
    return Samples(rng.choice(weight.size, size=count, p=weight / mass).astype(np.int64))


def gaussian(ctx: Context, args: list[Value], kwargs: dict[str, Value]) -> Value:
    """gaussian(center=(..), width=..): centre and width as fractions of the box (defaults 0.5, 0.1)."""
    _arity("gaussian", args, kwargs, 0, frozenset({"center", "width"}))
    center = _numbers("gaussian", kwargs["center"]) if "center" in kwargs else (0.5,)
    width = _numbers("gaussian", kwargs["width"]) if "width" in kwargs else (0.1,)
    return init.gaussian(ctx.grid, center, width)


def plane_wave(ctx: Context, args: list[Value], kwargs: dict[str, Value]) -> Value:
    _arity("plane_wave", args, kwargs, 0, frozenset({"k"}))
    if "k" not in kwargs:
        raise InterpreterError("plane_wave", "needs k=(kx[, ky[, kz]])")
    return init.plane_wave(ctx.grid, _numbers("plane_wave", kwargs["k"]))


def const(ctx: Context, args: list[Value], kwargs: dict[str, Value]) -> Value:
    _arity("const", args, kwargs, 1, frozenset())
    return init.const(ctx.grid, require_number("const", args[0]))


def zeros(ctx: Context, args: list[Value], kwargs: dict[str, Value]) -> Value:
    _arity("zeros", args, kwargs, 0, frozenset())
    return init.zeros(ctx.grid)


def random(ctx: Context, args: list[Value], kwargs: dict[str, Value]) -> Value:
    """random(seed=s): a smooth real field (``interp_init.smooth_random``), max |f| = 1."""
    _arity("random", args, kwargs, 0, frozenset({"seed"}))
    seed = require_int("random", kwargs["seed"]) if "seed" in kwargs else ctx.seed
    return Field(init.random_field(ctx.grid, seed))


def load(ctx: Context, args: list[Value], kwargs: dict[str, Value]) -> Value:
    _arity("load", args, kwargs, 1, frozenset())
    name = args[0]
    if not isinstance(name, str):
        raise InterpreterError("load", f"expects a file name string, got a {describe(name)}")
    return init.load(ctx.grid, name, ctx.data_dir)


CALLS: Mapping[str, Call] = {
    **{name: reduction(name) for name in ops.REDUCTIONS},
    **{name: pointwise(name) for name in POINTWISE},
    "interfere": interfere,
    "sample": sample,
    "gaussian": gaussian,
    "plane_wave": plane_wave,
    "const": const,
    "zeros": zeros,
    "random": random,
    "load": load,
}


def call(name: str, ctx: Context, args: list[Value], kwargs: dict[str, Value]) -> Value:
    """Run CodexLang function ``name``; unknown names are an ``InterpreterError``."""
    fn = CALLS.get(name)
    if fn is None:
        raise InterpreterError(name, "unknown function")
    return fn(ctx, args, kwargs)
