"""Measuring a computed value in pure NumPy: observables, Born samples, goal operands, attractors.

Shared by both collapse routes — QWave (values computed with JAX) and Photon's
symbolic route (values from the reference interpreter) — so a cell collapses to
the same numbers whichever route ran it. No JAX here.

Every float that reaches an event is JSON-safe: NaN and ±inf become ``None``
(JSON null), which SQI reads as "not finite".
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from stages.codex.ast import OBSERVABLES, Node
from stages.codex.goals import TARGET_KEY, goal_operands, is_predicate, operand_key
from stages.codex.grid import GridSpec

MAX_SAMPLES = 10_000
ATTRACTOR_EPSILON = 1e-6
JsonNumber = float | bool | None


def json_float(value: complex | float | np.number[Any]) -> float | None:
    """A finite float, or None for NaN/±inf. Complex values keep their real part."""
    number = complex(value).real if isinstance(value, complex | np.complexfloating) else float(value)
    return number if math.isfinite(number) else None


def _as_array(value: object) -> np.ndarray:
    """A measurable array: truth values as 1/0, numeric dtypes only."""
    if isinstance(value, bool | np.bool_):
        return np.asarray(1.0 if value else 0.0)
    array = np.asarray(value)
    if array.dtype.kind not in "biufc":
        raise ValueError(f"cannot measure a value of dtype {array.dtype}")
    return array


def observables(value: object, grid: GridSpec) -> dict[str, JsonNumber]:
    """norm, energy, mean, min, max, entropy, finite of a field, number or truth value.

    The interpreter's own ``observables`` (so ``energy`` here equals ``energy(expr)``
    in a goal); a truth value counts as the number 1 or 0. Non-finite numbers
    become None.
    """
    from stages.codex.interpreter import observables as reference_observables

    if isinstance(value, bool | np.bool_):
        value = 1.0 if value else 0.0
    elif isinstance(value, np.ndarray) and value.ndim == 0:
        value = complex(value.item()) if value.dtype.kind == "c" else float(value.item())
    elif isinstance(value, np.ndarray) and value.dtype.kind not in "fc":
        value = value.astype(np.float64)
    measured = reference_observables(value, grid)
    return {name: (bool(v) if name == "finite" else json_float(v)) for name, v in measured.items()}


def sample_seed(eid: str | None, cell_id: str) -> int:
    """PRNG seed of a cell's Born samples: blake2b of (EID, cell) — re-runs draw the same indices."""
    material = f"sample|{eid or '-'}|{cell_id}".encode()
    return int.from_bytes(hashlib.blake2b(material, digest_size=8).digest(), "big")


def born_samples(psi: object, n: int, seed: int) -> list[int]:
    """``n`` flat (C-order) indices of ``psi`` drawn with probability |ψ|²/Σ|ψ|².

    Raises ValueError for n outside [0, MAX_SAMPLES], a zero or non-finite field.
    """
    if n < 0 or n > MAX_SAMPLES:
        raise ValueError(f"sample count {n} outside [0, {MAX_SAMPLES}]")
    weight = np.abs(_as_array(psi)).astype(np.float64).ravel() ** 2
    mass = float(np.sum(weight))
    if not math.isfinite(mass) or mass <= 0:
        raise ValueError("cannot sample a zero or non-finite field")
    rng = np.random.default_rng(seed)
    return [int(i) for i in rng.choice(weight.size, size=n, p=weight / mass)]


def grid_norm(array: np.ndarray, grid: GridSpec) -> float:
    rank = grid.rank if array.ndim > 0 else 0
    return float(np.sqrt(np.sum(np.abs(array) ** 2) * float(grid.spacing) ** rank))


def _evaluate(node: Node, grid: GridSpec, bindings: Mapping[str, object], seed: int) -> object:
    from stages.codex.interpreter import evaluate

    return evaluate(node, grid, dict(bindings), seed=seed)


def goal_values(
    goal: Node | None, value: object, grid: GridSpec, measured: Mapping[str, JsonNumber], *, seed: int
) -> dict[str, float | None]:
    """Every ``goal_operands(goal)`` value under ``operand_key``; ``__target__`` for a target goal.

    Operands are evaluated by the reference interpreter with the value's observables
    bound by name, so ``2 * energy`` works as well as ``energy(u)``. An operand that is
    not a real number (a field, a complex number) is recorded as None. A target goal
    records ‖x − t‖/‖t‖ in the grid measure (None when ‖t‖ = 0 or not finite).
    """
    if goal is None:
        return {}
    bindings = {name: v for name, v in measured.items() if name in OBSERVABLES and v is not None}
    if not is_predicate(goal):
        target = _as_array(_evaluate(goal, grid, bindings, seed))
        actual = _as_array(value)
        try:
            diff = np.broadcast_to(actual, np.broadcast_shapes(actual.shape, target.shape)) - target
        except ValueError as exc:
            raise ValueError(f"goal target of shape {target.shape} does not match value {actual.shape}") from exc
        reference = grid_norm(target, grid)
        error = grid_norm(diff, grid) / reference if reference > 0 else math.inf
        return {TARGET_KEY: json_float(error)}
    out: dict[str, float | None] = {}
    for operand in goal_operands(goal):
        result = _evaluate(operand, grid, bindings, seed)
        out[operand_key(operand)] = _scalar(result)
    return out


def _scalar(result: object) -> float | None:
    if isinstance(result, bool | np.bool_):
        return 1.0 if result else 0.0
    array = np.asarray(result)
    if array.ndim != 0 or array.dtype.kind not in "biufc":
        return None
    item = complex(array.item())
    return json_float(item.real) if item.imag == 0 else None


def input_entropy(main_input: Node | None, grid: GridSpec, *, seed: int) -> float | None:
    """Shannon entropy (bits) of the cell's main input field, evaluated by the interpreter.

    A pure function of (the input's JSON, grid, seed) — the evaluation has no data directory,
    so it reads no file — remembered for the few inputs a sheet's cells share.
    """
    if main_input is None:
        return None
    text = orjson.dumps(main_input.to_json(), option=orjson.OPT_SORT_KEYS)
    return _input_entropy(text, repr(grid), grid, seed)


@functools.lru_cache(maxsize=1024)
def _input_entropy(main_input: bytes, grid_key: str, grid: GridSpec, seed: int) -> float | None:
    """(``grid_key`` = repr(grid) keys the cache: it tells 1 from 1.0, which grid equality does not.)"""
    from stages.codex.operators import entropy

    array = _as_array(_evaluate(Node.from_json(orjson.loads(main_input)), grid, {}, seed))
    return json_float(np.asarray(entropy(array, np)).item())


def attractor(last_step_norm: float | None, *, epsilon: float = ATTRACTOR_EPSILON) -> dict[str, Any]:
    """Attractor record of an evolve cell from ‖x_n − x_{n−1}‖ of its last step (grid measure).

    ``converged`` (a fixed-point attractor) when that step is finite and below
    ``epsilon``; a loop that ran no step (or a non-finite step) has not converged.
    """
    step = json_float(last_step_norm) if last_step_norm is not None else None
    return {"converged": step is not None and step < epsilon, "last_step_norm": step, "epsilon": epsilon}
