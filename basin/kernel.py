"""The Fisher–Rao attention kernel (torch, float64, deterministic random features).

Forward pass for one beam (T tokens, width d):

1. H⁰ = embedding(token) + features·P  (three summary tokens carry the beam's numbers).
2. One *layer*: pᵢ = softmax(hᵢ) ∈ Δᵈ⁻¹; dᵢⱼ = 2·arccos(clamp(Σₖ √(pᵢₖ pⱼₖ), 0, 1));
   A = softmax_j(−dᵢⱼ·(κ_eff/κ₀)/τ); H ← LayerNorm(H + A·H·W).
   There is no dot-product attention: tokens couple by how close their
   distributions are on the statistical manifold. κ_eff (the running coupling
   of the input length) sharpens attention for long inputs and flattens it for
   very short ones.
3. Recursion: the stack of L layers is applied again and again (weight-tied),
   at least ``min_depth`` times, stopping as soon as Φ moves by < ``tol`` between
   passes, or at ``max_depth``.
4. Signature: mean-pool the final states → Linear(d→64) → softmax.

**Φ (integration).** For an attention matrix A (rows Aᵢ are distributions
over the T tokens):

    Φ(A) = 1 − (1/T)·Σᵢ H(Aᵢ) / log T  =  (1/T)·Σᵢ KL(Aᵢ ‖ uniform) / log T,

averaged over the L layers of the last pass. Why this formula: it is the mean
information (in units of the maximum, log T) that the geometry adds over
structureless mean-field mixing. Φ = 0 means every token averages all tokens
equally (the *linear* regime: coupling carries no structure); Φ = 1 means every
token is locked onto a single partner (the *breakdown* regime: the system has
frozen into isolated pairs); the *geometric* regime in between is where
attention is selective yet shared. It is bounded, cheap, depends on the
distances and therefore on the input, and is defined for every T ≥ 2.

Weights are random features drawn from ``torch.Generator().manual_seed(seed)``:
two kernels with the same ``KernelConfig`` are bit-identical, which is what
makes signatures from different workers comparable without training.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from basin.telemetry import BETA, KAPPA_0, T_0, Regime, Telemetry, classify_regime, running_coupling
from basin.tokens import SUMMARY_FEATURES, SUMMARY_TOKENS, TOKEN_FEATURES, VOCABULARY, EncodedBeam

if TYPE_CHECKING:
    from pathlib import Path

    import torch

    from basin.checkpoint import Checkpoint
    from basin.container import Basin

KERNEL_FAMILY = "fr-kernel/1"


@dataclass(frozen=True)
class KernelConfig:
    """Everything that determines the kernel's weights and behaviour (hashed into its version)."""

    seed: int = 0
    d_model: int = 32
    layers: int = 2
    tau: float = 0.2
    residual_gain: float = 0.5
    min_depth: int = 3
    max_depth: int = 12
    tol: float = 1e-3
    signature_dim: int = 64
    signature_scale: float = 3.0
    kappa0: float = KAPPA_0
    beta: float = BETA
    t0: float = T_0

    def __post_init__(self) -> None:
        if self.min_depth < 3:
            raise ValueError("the layer stack must be applied at least 3 times (min_depth ≥ 3)")
        if self.max_depth < self.min_depth:
            raise ValueError("max_depth must be ≥ min_depth")
        if self.d_model < 2 or self.layers < 1 or self.tau <= 0 or self.signature_dim < 2:
            raise ValueError("d_model ≥ 2, layers ≥ 1, tau > 0 and signature_dim ≥ 2 are required")

    @property
    def version(self) -> str:
        """``fr-kernel/1+<digest>``: equal versions ⇔ equal weights and forward pass."""
        blob = repr(sorted(asdict(self).items())).encode()
        return f"{KERNEL_FAMILY}+{hashlib.blake2b(blob, digest_size=6).hexdigest()}"


@dataclass(frozen=True)
class KernelOutput:
    """One forward pass: the 64-simplex signature and what the pass measured."""

    signature: tuple[float, ...]
    telemetry: Telemetry


def attention_phi(attention: torch.Tensor) -> float:
    """Φ(A) = 1 − mean row entropy / log T for a row-stochastic T×T matrix (0 when T = 1)."""
    import torch

    t = attention.shape[-1]
    if t < 2:
        return 0.0
    a = attention.clamp_min(1e-300)
    row_entropy = -(attention * torch.log(a)).sum(dim=-1)
    return float(1.0 - row_entropy.mean() / math.log(t))


def fisher_rao_attention(h: torch.Tensor, tau: float, coupling: float) -> torch.Tensor:
    """A = softmax(−d·coupling/τ) with d the Fisher–Rao distance between the rows' softmaxes."""
    import torch

    roots = torch.sqrt(torch.softmax(h, dim=-1))
    overlap = (roots @ roots.transpose(-1, -2)).clamp(0.0, 1.0)  # clamp: rounding can exceed 1
    distance = 2.0 * torch.arccos(overlap)
    return torch.softmax(-distance * (coupling / tau), dim=-1)


class FisherRaoKernel:
    """Deterministic random-feature kernel. ``forward(encoded)`` is pure: same input, same output."""

    def __init__(self, config: KernelConfig | None = None, weights: Mapping[str, Any] | None = None) -> None:
        import torch

        self.config = config or KernelConfig()
        fresh = self._draw_weights()
        if weights is not None:
            for name, tensor in fresh.items():
                given = weights.get(name)
                if not isinstance(given, torch.Tensor) or tuple(given.shape) != tuple(tensor.shape):
                    raise ValueError(f"checkpoint weight {name!r} is missing or has the wrong shape")
                fresh[name] = given.detach().to(torch.float64).clone()
            extra = set(weights) - set(fresh)
            if extra:
                raise ValueError(f"unexpected checkpoint weights: {sorted(extra)}")
        self.weights: dict[str, torch.Tensor] = fresh

    @property
    def version(self) -> str:
        return self.config.version

    def _draw_weights(self) -> dict[str, torch.Tensor]:
        import torch

        c = self.config
        gen = torch.Generator().manual_seed(c.seed)

        def normal(*shape: int, scale: float) -> torch.Tensor:
            return torch.randn(*shape, generator=gen, dtype=torch.float64) * scale

        weights = {
            "embed": normal(len(VOCABULARY), c.d_model, scale=1.0),
            "token_proj": normal(TOKEN_FEATURES, c.d_model, scale=1.0 / math.sqrt(TOKEN_FEATURES)),
            "summary_proj": normal(
                len(SUMMARY_TOKENS), SUMMARY_FEATURES, c.d_model, scale=2.0 / math.sqrt(SUMMARY_FEATURES)
            ),
            "readout": normal(c.d_model, c.signature_dim, scale=1.0 / math.sqrt(c.d_model)),
        }
        for i in range(c.layers):
            # Orthogonal mixing scaled by residual_gain: A·H·W can never blow H up,
            # so the weight-tied recursion settles instead of diverging.
            q, _ = torch.linalg.qr(normal(c.d_model, c.d_model, scale=1.0))
            weights[f"layer{i}.mix"] = q * c.residual_gain
        return weights

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in self.weights.items()}

    def save(self, path: str | Path, *, basin: Basin | None = None, router_state: dict[str, Any] | None = None) -> None:
        """Checkpoint weights + config + basin + router state (see ``basin.checkpoint``)."""
        from basin.checkpoint import save_checkpoint

        save_checkpoint(path, self, basin=basin, router_state=router_state)

    @staticmethod
    def load(path: str | Path) -> Checkpoint:
        """Restore a checkpoint with ``torch.load(weights_only=True)``."""
        from basin.checkpoint import load_checkpoint

        return load_checkpoint(path)

    def embed(self, encoded: EncodedBeam) -> torch.Tensor:
        """H⁰: T × d (summary tokens first, then the AST tokens in prefix order)."""
        import torch

        w = self.weights
        summary_ids = torch.arange(len(SUMMARY_TOKENS))
        summary_feats = torch.tensor(encoded.summary_features, dtype=torch.float64)
        rows = [w["embed"][summary_ids] + torch.einsum("sf,sfd->sd", summary_feats, w["summary_proj"])]
        if encoded.token_ids:
            ids = torch.tensor(encoded.token_ids, dtype=torch.long)
            feats = torch.tensor(encoded.token_features, dtype=torch.float64)
            rows.append(w["embed"][ids] + feats @ w["token_proj"])
        return _layer_norm(torch.cat(rows, dim=0))

    def forward(self, encoded: EncodedBeam, previous_regime: Regime | None = None) -> KernelOutput:
        """Run the recursion on one encoded beam; ``previous_regime`` feeds the regime hysteresis."""
        import torch

        c = self.config
        length = encoded.length
        kappa = running_coupling(length, c.kappa0, c.beta, c.t0)
        coupling = kappa / c.kappa0
        with torch.no_grad(), _single_threaded():
            x = self.embed(encoded)
            h = x
            trace: list[float] = []
            converged = False
            for depth in range(1, c.max_depth + 1):
                phis = []
                for i in range(c.layers):
                    attention = fisher_rao_attention(h, c.tau, coupling)
                    h = _layer_norm(h + attention @ h @ self.weights[f"layer{i}.mix"])
                    phis.append(attention_phi(attention))
                # Re-inject the input after every pass: without this anchor, repeated
                # attention averaging collapses all token states into one (Φ → 0 for
                # every input); with it the recursion settles on an input-dependent state.
                h = _layer_norm(x + h)
                trace.append(sum(phis) / len(phis))
                if depth >= c.min_depth and abs(trace[-1] - trace[-2]) < c.tol:
                    converged = True
                    break
            pooled = h.mean(dim=0)
            pooled = pooled / pooled.norm().clamp_min(1e-12) * math.sqrt(c.d_model)
            logits = (pooled @ self.weights["readout"]) * (c.signature_scale / math.sqrt(c.d_model))
            signature = torch.softmax(logits, dim=-1)
        phi = trace[-1]
        telemetry = Telemetry(
            phi=phi,
            kappa=kappa,
            regime=classify_regime(phi, previous_regime),
            depth=len(trace),
            length=length,
            converged=converged,
            phi_trace=tuple(trace),
        )
        return KernelOutput(tuple(float(x) for x in signature.tolist()), telemetry)


@contextmanager
def _single_threaded() -> Iterator[None]:
    """Run torch ops on one thread for the duration of a forward pass.

    The tensors are tiny (T ≤ 256, d = 32): one thread is fastest, and on a busy
    machine torch's OpenMP workers spin-wait on each other (a 0.4 ms pass was
    measured taking up to 170 ms with 2 threads). Results are bit-identical for
    any thread count; this only changes speed.
    """
    import torch

    previous = torch.get_num_threads()
    if previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _layer_norm(h: torch.Tensor) -> torch.Tensor:
    """Parameter-free LayerNorm over the model width (keeps every token state on one scale)."""
    import torch

    return torch.nn.functional.layer_norm(h, (h.shape[-1],), eps=1e-9)
