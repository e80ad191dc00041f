"""The Fisher–Rao kernel: attention, Φ, κ, recursion, determinism, checkpoints."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from basin.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from basin.container import Basin
from basin.kernel import FisherRaoKernel, KernelConfig, attention_phi, fisher_rao_attention
from basin.routing import Router
from basin.telemetry import classify_regime, observer_step, running_coupling
from basin.tokens import encode_beam
from stages.codex.ast import Node, call, num, ref


def beam(tree: Node, **extra: object) -> dict[str, object]:
    return {"normal_form": tree.to_json(), **extra}


SMALL = beam(call("norm", ref("x")), observables={"norm": 1.0})
DIFFUSION = Node("evolve", (
    num(50),
    call("gaussian", ref("x"), sigma=num(0.1)),
    Node("add", (ref("u"), Node("mul", (num(0.1), Node("lap", (ref("u"),)))))),
), value="u")
LARGE = beam(
    DIFFUSION,
    observables={"norm": 3.5, "energy": 12.0, "entropy": 4.1, "finite": True},
    cost_after={"flops": 2.0e6, "bytes": 4096},
    shape=[64],
)


def test_phi_is_zero_for_uniform_attention_and_one_for_one_to_one_attention() -> None:
    t = 7
    assert attention_phi(torch.full((t, t), 1.0 / t, dtype=torch.float64)) == pytest.approx(0.0, abs=1e-12)
    assert attention_phi(torch.eye(t, dtype=torch.float64)) == pytest.approx(1.0)


def test_fisher_rao_attention_is_row_stochastic_and_self_coupling_is_strongest() -> None:
    h = torch.randn(9, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    a = fisher_rao_attention(h, tau=0.2, coupling=1.0)
    torch.testing.assert_close(a.sum(dim=-1), torch.ones(9, dtype=torch.float64))
    assert torch.equal(a.argmax(dim=-1), torch.arange(9))  # d(i, i) = 0 is the smallest distance
    flat = fisher_rao_attention(h, tau=0.2, coupling=0.0)  # κ = 0: decoupled, uniform mixing
    assert attention_phi(flat) == pytest.approx(0.0, abs=1e-12)


def test_phi_kappa_and_signature_vary_with_the_input(kernel: FisherRaoKernel) -> None:
    a = kernel.forward(encode_beam(SMALL))
    b = kernel.forward(encode_beam(LARGE))
    assert a.telemetry.phi != pytest.approx(b.telemetry.phi, abs=1e-3)
    assert b.telemetry.kappa > a.telemetry.kappa  # longer input, stronger running coupling
    assert a.telemetry.length < b.telemetry.length
    assert a.signature != b.signature


def test_signature_is_a_point_of_the_64_simplex(kernel: FisherRaoKernel) -> None:
    sig = np.array(kernel.forward(encode_beam(LARGE)).signature)
    assert sig.shape == (64,)
    assert sig.min() > 0.0
    assert sig.sum() == pytest.approx(1.0, abs=1e-12)


def test_recursion_stops_early_once_phi_settles(kernel: FisherRaoKernel) -> None:
    t = kernel.forward(encode_beam(LARGE)).telemetry
    assert t.converged
    assert 3 <= t.depth < kernel.config.max_depth
    assert abs(t.phi_trace[-1] - t.phi_trace[-2]) < 1e-3
    assert all(abs(a - b) >= 1e-3 for a, b in zip(t.phi_trace[1:-2], t.phi_trace[2:-1], strict=True))


def test_recursion_runs_to_max_depth_when_it_cannot_settle() -> None:
    k = FisherRaoKernel(KernelConfig(tol=0.0, max_depth=6))
    t = k.forward(encode_beam(LARGE)).telemetry
    assert (t.depth, t.converged) == (6, False)
    assert len(set(t.phi_trace)) > 1  # Φ is measured on every pass, not a constant


def test_recursion_depth_is_at_least_three() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        KernelConfig(min_depth=2)
    t = FisherRaoKernel(KernelConfig(tol=1.0)).forward(encode_beam(SMALL)).telemetry
    assert t.depth == 3


def test_weights_are_deterministic_from_the_seed(kernel: FisherRaoKernel) -> None:
    same = FisherRaoKernel(KernelConfig(seed=0))
    other = FisherRaoKernel(KernelConfig(seed=1))
    enc = encode_beam(LARGE)
    assert same.forward(enc) == kernel.forward(enc)
    assert other.forward(enc).signature != kernel.forward(enc).signature
    assert other.version != kernel.version


def test_running_coupling_and_regimes() -> None:
    assert running_coupling(32) == pytest.approx(64.0)
    assert running_coupling(64) == pytest.approx(64.0 * (1 + 0.44 * math.log(2)))
    assert running_coupling(1) == 0.0  # clamped: 64·(1 + 0.44·ln(1/32)) < 0
    assert [classify_regime(x) for x in (0.2, 0.45, 0.79, 0.8)] == ["linear", "geometric", "geometric", "breakdown"]
    # hysteresis: stay in the previous regime within 0.05 of its band
    assert classify_regime(0.48, "linear") == "linear"
    assert classify_regime(0.51, "linear") == "geometric"
    assert classify_regime(0.42, "geometric") == "geometric"
    assert classify_regime(0.39, "geometric") == "linear"
    assert classify_regime(0.77, "breakdown") == "breakdown"
    assert classify_regime(0.74, "breakdown") == "geometric"
    assert observer_step(0.85, 64.0, 64.0) == pytest.approx(0.3)
    assert observer_step(0.85, 84.0, 64.0) == pytest.approx(0.3 * math.exp(-2.0))


def test_reader_keeps_regime_hysteresis_across_beams() -> None:
    from basin.reader import BasinReader

    r = BasinReader(FisherRaoKernel())
    first = r.read(LARGE)
    assert r.last_regime == first.telemetry.regime
    assert r.telemetry(LARGE) == first.telemetry  # plain telemetry does not depend on history
    np.testing.assert_array_equal(r.signature(LARGE), np.array(first.signature))


def test_checkpoint_round_trip(tmp_path: Path, kernel: FisherRaoKernel) -> None:
    out = kernel.forward(encode_beam(LARGE))
    basin = Basin.empty("c").absorb(out.signature, out.telemetry, timestamp="2025-01-01T00:00:00Z")
    router = Router("phi_max")
    router.state.cursor = 2
    path = tmp_path / "k.pt"
    save_checkpoint(path, kernel, basin=basin, router_state=router.get_state())
    restored = load_checkpoint(path)
    assert restored.kernel.forward(encode_beam(LARGE)) == out
    assert restored.basin == basin
    assert Router.from_state(restored.router_state).get_state() == router.get_state()


def test_checkpoint_with_trained_weights_restores_them(tmp_path: Path) -> None:
    k = FisherRaoKernel()
    k.weights["readout"] = k.weights["readout"] * 2.0  # as if trained
    save_checkpoint(tmp_path / "t.pt", k)
    restored = load_checkpoint(tmp_path / "t.pt").kernel
    assert torch.equal(restored.weights["readout"], k.weights["readout"])


class Payload:
    """An arbitrary object: the restricted unpickler must refuse it."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this must never run",))


def test_checkpoint_loading_refuses_arbitrary_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": "beamline.kernel-checkpoint/1", "config": {}, "weights": {}, "x": Payload()}, path)
    with pytest.raises(CheckpointError, match="cannot load"):
        load_checkpoint(path)


def test_checkpoint_with_a_mismatched_config_is_refused(tmp_path: Path, kernel: FisherRaoKernel) -> None:
    path = tmp_path / "k.pt"
    save_checkpoint(path, kernel)
    payload = torch.load(path, weights_only=True)
    payload["config"]["seed"] = 5
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="kernel_version"):
        load_checkpoint(path)


JSON = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["op", "args", "value", "kw", "x"]),
                                                                inner, max_size=4),
    max_leaves=12,
)
KEYS = ["normal_form", "expanded", "ast", "cost_after", "cost", "shape", "type", "grid", "observables",
        "input_entropy", "attractor", "rewrite_success_prob", "generation"]


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), JSON, max_size=8))
def test_any_beam_result_yields_a_valid_signature(kernel: FisherRaoKernel, result: dict[str, object]) -> None:
    out = kernel.forward(encode_beam(result))
    sig = np.array(out.signature)
    assert np.isfinite(sig).all() and sig.sum() == pytest.approx(1.0)
    assert 0.0 <= out.telemetry.phi <= 1.0 and out.telemetry.depth >= 3
