"""Checking a rewrite with the reference interpreter on k random smooth inputs.

The free inputs of an expanded expression are its leaves: initialiser calls
(``gaussian const zeros random plane_wave load``) and the coordinate fields
``x y z t``. Every trial replaces each distinct leaf by an independent smooth
random field of the same layout (a few low-wavenumber Fourier modes,
``smooth_random``), bound through the interpreter's ``bindings``. A trial passes when the two values
agree within the loosest tolerance of the rules applied (``Rule.tolerance_at``):

    ‖a − b‖_rms ≤ rtol · max(‖a‖_rms, ‖b‖_rms) + ATOL

over the finite entries, non-finite entries matching exactly, where ATOL also
includes how far the original moves when its inputs move by 1e-13 (relative):
"equal to rounding" is judged at the expression's own rounding sensitivity, so
an exact rewrite to ∅ of a value that is amplified round-off (∇(∇×∇u)) passes,
while the O(h²) difference a continuum rule makes in ∇·∇u − Δu does not. ∅
broadcasts to any layout, so an all-zero value equals ∅ whatever its shape.

Large grids are checked on a coarser grid of the same box (at most
``MAX_VERIFY_POINTS`` points): an identity of the discrete operators does not
depend on the resolution, and the continuum tolerance is computed at the grid
actually used. Results are cached by (original key, normal key, grid).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stages.codex.ast import Node
from stages.codex.grid import GridSpec
from stages.photon.engine import Step
from stages.photon.memo import BoundedLRU
from stages.photon.rules import EXACT_RTOL, RULES_BY_NAME
from stages.photon.terms import KeyCache

DEFAULT_K = 8
ATOL = 1e-8
PERTURBATION = 1e-13  # relative input perturbation measuring an expression's rounding sensitivity
MAX_VERIFY_POINTS = 4096
MAX_TIME_STEPS = 16
LEAF_CALLS = frozenset({"gaussian", "const", "zeros", "random", "plane_wave", "load"})
COORDINATES = frozenset({"x", "y", "z", "t"})
MAX_STEP_CHECKS = 64

Layout = tuple[int | None, bool, bool]  # (components, time axis, complex)


@dataclass(frozen=True)
class Verification:
    """Outcome of the k-trial check; ``ok`` when every trial passed."""

    passes: int
    k: int
    tolerance: float
    max_error: float
    grid_shape: tuple[int, ...]
    failed_rule: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.passes == self.k

    @property
    def success_prob(self) -> float:
        """(passes + 1) / (k + 2): Laplace's rule of succession over the trials."""
        return (self.passes + 1) / (self.k + 2)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "passes": self.passes,
            "k": self.k,
            "tolerance": self.tolerance,
            "max_error": self.max_error,
            "grid": list(self.grid_shape),
        }
        if self.failed_rule is not None:
            out["failed_rule"] = self.failed_rule
        if self.reason is not None:
            out["reason"] = self.reason
        return out


def verification_grid(grid: GridSpec) -> GridSpec:
    """``grid`` itself when small; else the same boundary on at most 64 (2-D) / 16 (3-D) points per
    axis, the spacing scaled so the first axis keeps its box length N·h (and the time axis, capped
    at MAX_TIME_STEPS steps, its duration)."""
    per_axis = {1: MAX_VERIFY_POINTS, 2: 64, 3: 16}[grid.rank]
    steps = grid.time_steps
    if grid.points <= MAX_VERIFY_POINTS and (steps is None or steps <= MAX_TIME_STEPS):
        return grid
    shape = tuple(min(n, per_axis) for n in grid.shape)
    spacing = grid.spacing * grid.shape[0] / shape[0]
    time_steps = min(steps, MAX_TIME_STEPS) if steps is not None else None
    dt = grid.dt * steps / time_steps if (grid.dt is not None and steps and time_steps) else grid.dt
    return GridSpec(shape=shape, spacing=spacing, boundary=grid.boundary, time_steps=time_steps, dt=dt)


def max_wavenumber(grid: GridSpec) -> int:
    """Largest wavenumber (per axis, in modes per box) of the random fields: well resolved at any N."""
    return max(1, min(3, min(grid.shape) // 16))


def tolerance_for(rule_names: Sequence[str], grid: GridSpec) -> float:
    """Tolerance of a rewrite made of these steps at ``grid``'s resolution.

    Continuum steps each add their discretisation error (to first order the
    relative errors of successive steps add, e.g. ∇·∇(∇·∇u) → ΔΔu), so their
    tolerances are summed; exact steps only contribute rounding.
    """
    k_max = max_wavenumber(grid)
    continuum = [
        RULES_BY_NAME[n].tolerance_at(grid, k_max)
        for n in rule_names
        if n in RULES_BY_NAME and RULES_BY_NAME[n].kind == "continuum"
    ]
    return EXACT_RTOL + sum(continuum)


class VerificationCache(BoundedLRU[str, Verification]):
    """Bounded LRU of verification results keyed by (original key, normal key, grid, k, rules)."""

    def __init__(self, capacity: int = 4096) -> None:
        super().__init__(capacity)


def verify(
    original: Node,
    normal: Node,
    grid: GridSpec,
    steps: Sequence[Step],
    *,
    k: int = DEFAULT_K,
    cache: VerificationCache | None = None,
) -> Verification:
    """Check ``normal`` against ``original`` on k inputs (module docstring); cached when ``cache`` is given."""
    keys = KeyCache()
    # The steps' rule names set the tolerance, so they are part of what was checked.
    rules = hashlib.blake2b(",".join(s.rule for s in steps).encode(), digest_size=8).hexdigest()
    cache_key = "|".join([keys.key(original), keys.key(normal), repr(grid), str(k), rules])
    if cache is not None:
        hit = cache.get(cache_key)
        if hit is not None:
            return hit
    result = _verify(original, normal, grid, steps, k, keys)
    if cache is not None:
        cache.put(cache_key, result)
    return result


def _verify(
    original: Node, normal: Node, grid: GridSpec, steps: Sequence[Step], k: int, keys: KeyCache
) -> Verification:
    vgrid = verification_grid(grid)
    names = [s.rule for s in steps]
    rtol = tolerance_for(names, vgrid)
    leaves = Leaves(vgrid, keys)
    orig_sub = leaves.substitute(original)
    norm_sub = leaves.substitute(normal)
    seed_material = keys.key(original) + keys.key(normal)
    passes, worst, reason = 0, 0.0, None
    for trial in range(k):
        bindings = leaves.random_bindings(_seed(seed_material, trial))
        agreed, error, why = _trial(orig_sub, norm_sub, vgrid, bindings, rtol)
        worst = max(worst, error)
        if agreed:
            passes += 1
        elif reason is None:
            reason = f"trial {trial}: {why}"
    failed_rule = None
    if passes < k:
        continuum = [n for n in names if n in RULES_BY_NAME and RULES_BY_NAME[n].kind == "continuum"]
        # No single step fails alone: the discretisation error of a continuum rule was amplified
        # by what followed (e.g. ∇·∇u − Δu → Δu − Δu → ∅), so blame the first continuum rule.
        fallback = continuum[0] if continuum else (names[-1] if names else None)
        failed_rule = _culprit(steps, original, vgrid, keys) or fallback
    return Verification(passes, k, rtol, worst, vgrid.shape, failed_rule, reason)


def _seed(material: str, *parts: int) -> int:
    blob = "|".join([material, *map(str, parts)]).encode()
    return int.from_bytes(hashlib.blake2b(blob, digest_size=8).digest(), "big") >> 2


class Leaves:
    """The free inputs of expressions (initialiser calls, coordinates, free names) as named bindings."""

    def __init__(self, grid: GridSpec, keys: KeyCache, free: Mapping[str, Layout] | None = None) -> None:
        self.grid = grid
        self.keys = keys
        self.free = dict(free or {})
        self.names: dict[str, str] = {}
        self.layouts: dict[str, Layout] = {}

    def substitute(self, node: Node, bound: frozenset[str] = frozenset()) -> Node:
        """``node`` with every leaf input replaced by ``ref __photon_leaf_i`` (one name per distinct leaf)."""
        if node.op == "call" and str(node.value) in LEAF_CALLS:
            return self._leaf(_canonical_leaf(node, self.grid))
        if node.op == "ref" and str(node.value) not in bound:
            if str(node.value) in COORDINATES or str(node.value) in self.free:
                return self._leaf(node)
        if node.op == "evolve" and len(node.args) == 3:
            inner = bound | {str(node.value)}
            n, init, body = node.args
            return node.replace(args=(n, self.substitute(init, bound), self.substitute(body, inner)))
        if not node.args and not node.kw:
            return node
        return node.replace(
            args=tuple(self.substitute(a, bound) for a in node.args),
            kw=tuple((k, self.substitute(v, bound)) for k, v in node.kw),
        )

    def _leaf(self, leaf: Node) -> Node:
        text = self.keys.text(leaf)
        name = self.names.get(text)
        if name is None:
            name = f"__photon_leaf_{len(self.names)}"
            self.names[text] = name
            free = self.free.get(str(leaf.value)) if leaf.op == "ref" else None
            self.layouts[name] = free if free is not None else _layout_of(leaf, self.grid)
        return Node("ref", value=name)

    def random_bindings(self, seed: int) -> dict[str, np.ndarray]:
        from stages.codex.interp_init import smooth_random

        out: dict[str, np.ndarray] = {}
        k_max = max_wavenumber(self.grid)
        for index, (name, (components, time, is_complex)) in enumerate(self.layouts.items()):
            rng = np.random.default_rng([seed, index])
            shape = ((self.grid.time_steps or 1,) if time else ()) + tuple(self.grid.shape)
            parts = []
            for _ in range(components or 1):
                part = smooth_random(shape, rng, modes=4, max_wavenumber=k_max)
                if is_complex:
                    part = part + 1j * smooth_random(shape, rng, modes=4, max_wavenumber=k_max)
                parts.append(part)
            out[name] = np.stack(parts, axis=-1) if components is not None else parts[0]
        return out


def _canonical_leaf(leaf: Node, grid: GridSpec) -> Node:
    """The leaf with its arguments normalised, so a leaf and its rewritten copy share one name."""
    from stages.photon.context import RewriteContext
    from stages.photon.engine import Rewriter

    return Rewriter(RewriteContext.for_expression(leaf, grid)).run(leaf)


def _layout_of(leaf: Node, grid: GridSpec) -> Layout:
    """(components, time, complex) of a leaf's value on ``grid`` (a scalar real field if unknown)."""
    from stages.codex.interp_values import Field
    from stages.codex.interpreter import evaluate_value

    try:
        value, _ = evaluate_value(leaf, grid)
    except Exception:  # noqa: BLE001 - e.g. load() without a data directory: assume a scalar field
        return (None, False, False)
    if isinstance(value, Field):
        return (value.components, value.time, bool(np.iscomplexobj(value.data)))
    return (None, False, False)


def _trial(a: Node, b: Node, grid: GridSpec, bindings: Mapping[str, object], rtol: float) -> tuple[bool, float, str]:
    outcomes = [_evaluate(a, grid, bindings), _evaluate(b, grid, bindings)]
    first, second = outcomes
    if isinstance(first, Exception) or isinstance(second, Exception):
        if isinstance(first, Exception) and isinstance(second, Exception):
            return True, 0.0, ""
        failing = first if isinstance(first, Exception) else second
        return False, float("inf"), f"only one form evaluates ({type(failing).__name__}: {failing})"
    noise = _rounding_noise(a, first, grid, bindings)
    return compare_values(first, second, rtol, atol=ATOL + noise)


def _evaluate(node: Node, grid: GridSpec, bindings: Mapping[str, object]) -> Any:
    from stages.codex.interpreter import evaluate

    try:
        return evaluate(node, grid, bindings)
    except Exception as exc:  # noqa: BLE001 - an evaluation error is a disagreement, not a crash
        return exc


def _rounding_noise(node: Node, value: Any, grid: GridSpec, bindings: Mapping[str, object]) -> float:
    """How much ``node``'s value moves when its inputs move by PERTURBATION (relative): the scale
    at which "equal to rounding" must be judged for this expression. A result that is itself
    cancellation noise (∇(∇×∇u) evaluates to amplified round-off) moves by as much as it is large,
    so an exact rewrite to ∅ is not mistaken for an error; a well-conditioned one barely moves."""
    if not bindings:
        return 0.0
    rng = np.random.default_rng(len(bindings))
    moved = {
        name: (array * (1.0 + PERTURBATION * rng.standard_normal(np.shape(array))))
        if isinstance(array, np.ndarray) else array
        for name, array in bindings.items()
    }
    other = _evaluate(node, grid, moved)
    if isinstance(other, Exception) or isinstance(value, bool | str | tuple) or isinstance(other, bool | str | tuple):
        return 0.0
    left, right = np.asarray(value), np.asarray(other)
    if left.shape != right.shape or left.dtype.kind in "iu":
        return 0.0
    both = np.isfinite(left) & np.isfinite(right)
    return _rms(left[both] - right[both]) if np.any(both) else 0.0


def compare_values(a: object, b: object, rtol: float, atol: float = ATOL) -> tuple[bool, float, str]:
    """(agree, relative error, why not) for two interpreter results (module docstring)."""
    if isinstance(a, bool | str | tuple) or isinstance(b, bool | str | tuple):
        same = type(a) is type(b) and a == b
        return same, 0.0 if same else float("inf"), "" if same else f"{a!r} != {b!r}"
    left, right = np.asarray(a), np.asarray(b)
    if left.dtype.kind in "iu" or right.dtype.kind in "iu":
        same = left.shape == right.shape and bool(np.array_equal(left, right))
        return same, 0.0 if same else float("inf"), "" if same else "sample indices differ"
    if left.shape != right.shape:
        if not (np.all(left == 0) and np.all(right == 0)):
            return False, float("inf"), f"shapes {left.shape} and {right.shape} differ"
        return True, 0.0, ""
    finite_left, finite_right = np.isfinite(left), np.isfinite(right)
    if not np.array_equal(finite_left, finite_right):
        return False, float("inf"), "non-finite entries differ"
    both = finite_left & finite_right
    if not np.array_equal(left[~both], right[~both], equal_nan=True):
        return False, float("inf"), "non-finite entries differ"
    if not np.any(both):
        return True, 0.0, ""
    diff = _rms(left[both] - right[both])
    scale = max(_rms(left[both]), _rms(right[both]))
    error = diff / scale if scale > 0 else diff
    agreed = diff <= rtol * scale + atol
    return agreed, error, "" if agreed else f"relative error {error:.3g} exceeds {rtol:.3g}"


def _rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.abs(values) ** 2)))


def _culprit(steps: Sequence[Step], root: Node, grid: GridSpec, keys: KeyCache) -> str | None:
    """The first traced step whose before/after disagree on their own (two random trials each).

    Evolve variables free in a step's subtree are bound to random fields of their kind.
    """
    from stages.photon.kinds import evolve_variable_kinds

    variables = {
        name: (kind.components, kind.time, False)
        for name, kind in evolve_variable_kinds(root, grid.rank, grid.time_steps is not None).items()
        if kind.is_field
    }
    for step in list(steps)[:MAX_STEP_CHECKS]:
        leaves = Leaves(grid, keys, variables)
        before, after = leaves.substitute(step.before), leaves.substitute(step.after)
        rtol = tolerance_for([step.rule], grid)
        for trial in (1, 2):
            ok, _, _ = _trial(before, after, grid, leaves.random_bindings(_seed(step.rule, trial)), rtol)
            if not ok:
                return step.rule
    return None
