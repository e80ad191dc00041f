"""Analytic cases through the whole compile path (coordinates as inputs, x_i = i·h).

On a periodic grid of N points, sin(kx) with k = 2πm/(N·h) is an eigenfunction of
the discrete Laplacian with eigenvalue −(4/h²)·sin²(kh/2) = −k²(1 − k²h²/12 + …).
QWave must reproduce that eigenvalue up to float32 rounding — input rounding of
ε₃₂ = 2⁻²⁴ amplified by the stencil's 4/h², so |error| ≤ 16·ε₃₂·4/h² — and so
match the continuum −k² up to the truncation error k⁴h²/12.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from stages.codex.ast import Node, num, ref
from stages.codex.grid import GridSpec
from stages.codex.interpreter import evaluate
from stages.qwave.compiler import run_program
from stages.qwave.formats import PrecisionPlan
from stages.qwave.program import evaluate_inputs, split_inputs


def run(node: Node, grid: GridSpec) -> np.ndarray:
    program = split_inputs(node)
    result = run_program(program, grid, PrecisionPlan.uniform("fp32"), evaluate_inputs(program, grid, seed=0))
    return np.asarray(result.value, dtype=np.float64)


def sin_kx(k: float, axis: str = "x") -> Node:
    return Node("call", (Node("mul", (num(k), ref(axis))),), "sin")


@pytest.mark.parametrize("modes", [1, 3])
def test_laplacian_of_sine_is_minus_k_squared_sine(modes: int) -> None:
    n, h = 32, 1.0 / 32
    grid = GridSpec((n,), h, "periodic")
    k = 2 * math.pi * modes / (n * h)
    lap = run(Node("lap", (sin_kx(k),)), grid)
    field = np.sin(k * np.arange(n) * h)
    discrete = -(4.0 / h**2) * math.sin(k * h / 2) ** 2
    rounding = 16 * 2.0**-24 * 4 / h**2
    assert np.max(np.abs(lap - discrete * field)) <= rounding
    truncation = k**4 * h**2 / 12
    assert np.max(np.abs(lap + k**2 * field)) <= truncation + rounding
    # and the truncation error is really there: the grid is coarse enough to see it
    assert np.max(np.abs(lap + k**2 * field)) >= 0.5 * truncation


def test_laplacian_of_2d_product_of_sines() -> None:
    n, h = 64, 1.0 / 64
    grid = GridSpec((n, n), h, "periodic")
    kx, ky = 2 * math.pi * 2, 2 * math.pi * 3
    node = Node("lap", (Node("mul", (sin_kx(kx, "x"), sin_kx(ky, "y"))),))
    lap = run(node, grid)
    i = np.arange(n) * h
    field = np.outer(np.sin(kx * i), np.sin(ky * i))
    eigen = -(4.0 / h**2) * (math.sin(kx * h / 2) ** 2 + math.sin(ky * h / 2) ** 2)
    assert np.max(np.abs(lap - eigen * field)) <= 16 * 2.0**-24 * 8 / h**2


def test_div_grad_equals_laplacian_up_to_discretisation() -> None:
    n, h = 128, 1.0 / 128
    grid = GridSpec((n, n), h, "periodic")
    u = Node("mul", (sin_kx(2 * math.pi, "x"), Node("call", (Node("mul", (num(2 * math.pi), ref("y"))),), "cos")))
    div_grad = run(Node("div", (Node("grad", (u,)),)), grid)
    lap = run(Node("lap", (u,)), grid)
    scale = float(np.max(np.abs(lap)))
    # ∇·∇ uses the 2h-wide stencil, Δ the h-wide one: they differ by O(k²h²) relative.
    assert np.max(np.abs(div_grad - lap)) <= 0.01 * scale
    assert np.allclose(lap, evaluate(Node("lap", (u,)), grid), rtol=0, atol=16 * 2.0**-24 * 8 / h**2)
