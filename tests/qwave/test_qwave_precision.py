"""Number formats, the per-opcode precision profile and the recommendation rule."""

from __future__ import annotations

import numpy as np
import pytest

from contracts.payloads import PrecisionResult
from stages.codex.ast import Node, num
from stages.qwave.compiler import cache_stats
from stages.qwave.errors import QWaveError
from stages.qwave.formats import INT8_LEVELS, int8_roundtrip, to_format
from stages.qwave.precision import (
    MAX_REL_ERROR,
    plan_for,
    profile_opcode,
    recommend_from,
    recommend_precision_for_opcode,
)


def test_int8_is_symmetric_per_tensor_quantisation() -> None:
    import jax.numpy as jnp

    values = np.linspace(-3.0, 2.0, 101, dtype=np.float32)
    out = np.asarray(int8_roundtrip(jnp.asarray(values)))
    scale = 3.0 / INT8_LEVELS
    assert np.max(np.abs(out - values)) <= scale / 2 + 1e-6
    assert np.allclose(out / scale, np.round(out / scale), atol=1e-4)
    assert len(np.unique(out)) <= 2 * INT8_LEVELS + 1
    assert np.all(np.asarray(int8_roundtrip(jnp.zeros(4))) == 0)


def test_complex_values_are_stored_part_by_part() -> None:
    import jax.numpy as jnp

    z = jnp.asarray([complex(1.0, 1.0 / 3.0)], dtype=jnp.complex64)
    stored = np.asarray(to_format(z, "bf16"))
    assert stored.dtype == np.complex64
    assert stored[0].real == 1.0 and stored[0].imag != np.float32(1.0 / 3.0)
    assert abs(stored[0].imag - 1.0 / 3.0) < 2e-3


def result(fmt: str, error: float, seconds: float) -> PrecisionResult:
    return PrecisionResult(format=fmt, rel_error=error, time_s=seconds)  # type: ignore[arg-type]


def test_recommendation_is_the_narrowest_accurate_format_whatever_the_timing() -> None:
    base = result("fp32", 0.0, 1.0)
    assert recommend_from([base, result("bf16", 1e-3, 0.5), result("fp8", 5e-2, 0.1),
                           result("int8", 5e-3, 0.4)]) == "int8"
    assert recommend_from([base, result("bf16", 2e-2, 0.5), result("fp8", 5e-2, 0.1),
                           result("int8", MAX_REL_ERROR * 2, 0.4)]) == "fp32"
    assert recommend_from([base, result("bf16", 1e-3, 0.5), result("fp8", 5e-2, 0.1),
                           result("int8", MAX_REL_ERROR * 2, 0.4)]) == "bf16"
    # measured times never flip it (they differ run to run; replay must recommend the same)
    assert recommend_from([base, result("bf16", 1e-3, 9.0), result("fp8", 1e-3, 2.0),
                           result("int8", 2e-3, 3.0)]) == "fp8"


def test_profile_measures_real_rounding_and_is_cached() -> None:
    profile = profile_opcode("neg")
    by_format = {r.format: r for r in profile.results}
    assert set(by_format) == {"fp32", "bf16", "fp8", "int8"}
    assert by_format["fp32"].rel_error == 0.0
    # -x is exact in every format, so the error is the storage rounding of the input alone
    assert 1e-4 < by_format["bf16"].rel_error < 1e-2 < by_format["fp8"].rel_error < 1e-1
    assert by_format["int8"].rel_error > 0
    assert profile.recommended == recommend_from(profile.results)
    compiles = cache_stats().compiles
    assert profile_opcode("neg") is profile
    assert cache_stats().compiles == compiles


def test_plans() -> None:
    lap = Node("lap", (Node("ref", value="$0"),))
    assert plan_for(lap, None).describe() == "fp32"
    assert plan_for(lap, "int8").describe() == "int8"
    with pytest.raises(QWaveError, match="precision"):
        plan_for(lap, "fp16")
    with pytest.raises(ValueError, match="no precision profile"):
        profile_opcode("evolve")
    # auto: each profiled opcode of the cell in its recommended format, inputs and the rest in fp32.
    cell = Node("add", (lap, Node("mul", (num(2.0), Node("ref", value="$0")))))
    auto = plan_for(cell, "auto")
    advice = {op: recommend_precision_for_opcode(op) for op in ("add", "lap", "mul")}
    assert auto.describe() == advice
    assert all(auto.for_op(op) == fmt for op, fmt in advice.items())
    assert auto.for_op("grad") == "fp32" and auto.input_format == "fp32"  # not in the cell: reference format
    assert auto.is_reference == all(fmt == "fp32" for fmt in advice.values())
