"""Shared fixtures: one default kernel per session (weights are deterministic, so sharing is safe).

No ``__init__.py`` here on purpose: a ``tests/basin`` package would shadow the real
``basin`` package under pytest's default import mode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from basin.container import Basin
from basin.kernel import FisherRaoKernel
from basin.reader import BasinReader
from basin.synthetic import generate_beam
from basin.tokens import encode_beam

STAMP = "2025-01-01T00:00:00.000000Z"


@pytest.fixture(scope="session")
def kernel() -> FisherRaoKernel:
    return FisherRaoKernel()


@pytest.fixture(scope="session")
def reader(kernel: FisherRaoKernel) -> BasinReader:
    return BasinReader(kernel)


@pytest.fixture(scope="session")
def make_beams() -> Callable[..., list[dict[str, Any]]]:
    def make(seed: int, count: int, family: str | None = None) -> list[dict[str, Any]]:
        rng = np.random.default_rng(seed)
        return [generate_beam(rng, family) for _ in range(count)]

    return make


@pytest.fixture(scope="session")
def make_basin(kernel: FisherRaoKernel) -> Callable[..., Basin]:
    """A basin that absorbed the given beam results one by one, as SQI would after approving them."""

    def make(container: str, results: list[dict[str, Any]], source: str = "w") -> Basin:
        basin = Basin.empty(container, source=source, kernel_version=kernel.version, timestamp=STAMP)
        for result in results:
            out = kernel.forward(encode_beam(result))
            basin = basin.absorb(out.signature, out.telemetry, timestamp=STAMP)
        return basin

    return make
