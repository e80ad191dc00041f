"""The same kernels with xp = jax.numpy, under jit, agree with xp = numpy (float32 tolerance)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from stages.codex import operators as ops

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

RNG = np.random.default_rng(11)
SCALAR_2D = RNG.standard_normal((12, 10))
VECTOR_2D = RNG.standard_normal((12, 10, 2))
VECTOR_3D = RNG.standard_normal((6, 5, 4, 3))
TIMED = RNG.standard_normal((6, 12))
COMPLEX_2D = SCALAR_2D + 1j * RNG.standard_normal((12, 10))
H = 0.25

CASES: list[tuple[str, Callable[..., Any], tuple[np.ndarray, ...]]] = []
for bc in ops.BOUNDARY_RULES:
    CASES += [
        (f"grad-{bc}", functools.partial(ops.grad, h=H, boundary=bc), (SCALAR_2D,)),
        (f"div-{bc}", functools.partial(ops.div, h=H, boundary=bc), (VECTOR_2D,)),
        (f"curl2-{bc}", functools.partial(ops.curl, h=H, boundary=bc), (VECTOR_2D,)),
        (f"curl3-{bc}", functools.partial(ops.curl, h=H, boundary=bc), (VECTOR_3D,)),
        (f"lap-{bc}", functools.partial(ops.lap, h=H, boundary=bc), (COMPLEX_2D,)),
        (f"dalembert-{bc}", functools.partial(ops.dalembert, h=H, dt=0.1, boundary=bc), (TIMED,)),
    ]
CASES += [
    ("ddt", functools.partial(ops.ddt, dt=0.1), (TIMED,)),
    ("delay", functools.partial(ops.delay, k=2), (TIMED,)),
    ("dot", ops.dot, (VECTOR_2D, VECTOR_2D[::-1])),
    ("cross", ops.cross, (VECTOR_3D, VECTOR_3D[::-1])),
    ("outer", ops.outer, (VECTOR_2D, VECTOR_2D)),
    ("oplus", functools.partial(ops.oplus, h=H, rank=2), (SCALAR_2D, COMPLEX_2D)),
    ("ominus-self", functools.partial(ops.ominus, h=H, rank=2), (SCALAR_2D, SCALAR_2D)),
    (
        "interfere",
        functools.partial(ops.interfere, weights=(1.0, 0.5), phases=(0.0, 1.0)),
        (COMPLEX_2D, SCALAR_2D),
    ),
    *[
        (f"reduce-{name}", lambda f, xp, fn=fn: fn(f, H, 2, xp), (COMPLEX_2D,))
        for name, fn in ops.REDUCTIONS.items()
    ],
]


@pytest.mark.parametrize(("name", "kernel", "inputs"), CASES, ids=[c[0] for c in CASES])
def test_jitted_jax_kernel_matches_numpy(
    name: str, kernel: Callable[..., Any], inputs: tuple[np.ndarray, ...]
) -> None:
    expected = np.asarray(kernel(*inputs, xp=np))
    jitted = jax.jit(functools.partial(kernel, xp=jnp))
    got = np.asarray(jitted(*(jnp.asarray(a) for a in inputs)))
    assert got.shape == expected.shape
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    assert np.allclose(got, expected, rtol=1e-4, atol=1e-4 * scale), name


def test_layout_bookkeeping_runs_on_jax_arrays_under_jit() -> None:
    from stages.codex import interp_fieldops
    from stages.codex.grid import GridSpec
    from stages.codex.interp_values import Field, Layout

    grid = GridSpec(shape=(12, 10), spacing=H, boundary="neumann")

    def heat_flux(u: Any, xp: Any) -> Any:
        g = interp_fieldops.differential("grad", Field(u), grid, xp=xp)
        flux = interp_fieldops.outer(g, g, xp=xp)
        assert flux.layout == Layout(components=4)
        s = interp_fieldops.superpose(
            "oplus", [interp_fieldops.differential("div", g, grid, xp=xp), Field(u)], grid, xp=xp
        )
        return flux.data, s.data

    expected = heat_flux(SCALAR_2D, np)
    got = jax.jit(lambda u: heat_flux(u, jnp))(jnp.asarray(SCALAR_2D))
    for e, g in zip(expected, got, strict=True):
        assert np.allclose(np.asarray(g), e, rtol=1e-4, atol=1e-4 * float(np.max(np.abs(e))))
