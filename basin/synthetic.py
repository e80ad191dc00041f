"""Generated beam results for demos, tests and benchmarks (shipped as product code).

``generate_beam(rng, family)`` builds a collapse-shaped result dict — normal form
AST, cost, shape, type, grid, observables — from a small family of field
programs, so that beams of one family look alike (and land near one basin)
while beams of different families differ. Deterministic for a seeded
``numpy.random.Generator``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stages.codex.ast import Node, call, num, ref

FAMILIES = ("diffusion", "wave", "observable", "algebra")


def _field(rng: np.random.Generator) -> Node:
    choice = int(rng.integers(0, 3))
    if choice == 0:
        return call("gaussian", ref("x"), sigma=num(round(float(rng.uniform(0.05, 0.3)), 3)))
    if choice == 1:
        return call("plane_wave", ref("x"), k=num(int(rng.integers(1, 6))))
    return call("sin", Node("mul", (num(int(rng.integers(1, 5))), ref("x"))))


def _diffusion(rng: np.random.Generator) -> Node:
    u = _field(rng)
    steps = int(rng.integers(10, 200))
    body = Node("add", (ref("u"), Node("mul", (num(round(float(rng.uniform(0.01, 0.2)), 3)), Node("lap", (ref("u"),))))))
    return Node("evolve", (num(steps), u, body), value="u")


def _wave(rng: np.random.Generator) -> Node:
    u = _field(rng)
    return Node("add", (Node("dalembert", (u,)), Node("mul", (num(round(float(rng.uniform(0.5, 4.0)), 2)), u))))


def _observable(rng: np.random.Generator) -> Node:
    fn = str(rng.choice(["norm", "energy", "mean", "max", "entropy"]))
    inner = Node("grad", (_field(rng),)) if rng.random() < 0.5 else Node("lap", (_field(rng),))
    return call(fn, inner)


def _algebra(rng: np.random.Generator) -> Node:
    a, b = _field(rng), _field(rng)
    op = str(rng.choice(["oplus", "outer", "mul", "sub"]))
    return Node(op, (a, Node("neg", (b,)) if rng.random() < 0.5 else b))


_BUILDERS = {"diffusion": _diffusion, "wave": _wave, "observable": _observable, "algebra": _algebra}


def generate_beam(rng: np.random.Generator, family: str | None = None) -> dict[str, Any]:
    """One synthetic collapse result of ``family`` (random family when None)."""
    fam = family if family is not None else str(rng.choice(FAMILIES))
    tree = _BUILDERS[fam](rng)
    side = int(rng.choice([16, 32, 64]))
    scalar = tree.op == "call" and tree.value in {"norm", "energy", "mean", "max", "entropy"}
    shape = [] if scalar else [side]
    flops = float(side * (len(list(tree.walk())) + 1) * (rng.uniform(5, 50)))
    norm = float(rng.lognormal(0.0, 1.0))
    return {
        "normal_form": tree.to_json(),
        "shape": shape,
        "type": {"kind": "number" if scalar else "field", "components": None, "time": False, "complex": False},
        "grid": {"shape": [side], "spacing": 1.0 / side, "boundary": "periodic", "time": None},
        "cost_after": {"flops": flops, "bytes": 8.0 * side, "energy": flops * 1e-9, "delay": flops * 1e-12,
                       "ethics_risk": 0.0, "opportunity_loss": 0.0, "total": flops, "risk_flags": [], "cfl": None},
        "observables": {"norm": norm, "energy": norm * norm, "mean": float(rng.normal(0, 0.3)),
                        "min": -norm, "max": norm, "entropy": float(rng.uniform(1, 6)), "finite": True},
        "rewrite_success_prob": float(rng.uniform(0.7, 1.0)),
        "family": fam,
    }
