"""Kernel checkpoints: weights + config + basin + router state in one ``torch.save`` file.

The file holds only tensors and plain JSON-like values (dict, list, str, int,
float, bool, None), so it loads with ``torch.load(..., weights_only=True)``: the
restricted unpickler that refuses arbitrary objects. Nothing here unpickles
anything else. The basin travels as its JSON form and is re-validated on load
(including its content id).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from basin.container import Basin

if TYPE_CHECKING:
    from basin.kernel import FisherRaoKernel

CHECKPOINT_FORMAT = "beamline.kernel-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint file that is not one of ours or does not match its own config."""


@dataclass
class Checkpoint:
    """What a checkpoint restores."""

    kernel: FisherRaoKernel
    basin: Basin | None = None
    router_state: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(
    path: str | Path,
    kernel: FisherRaoKernel,
    *,
    basin: Basin | None = None,
    router_state: dict[str, Any] | None = None,
) -> None:
    import torch

    payload = {
        "format": CHECKPOINT_FORMAT,
        "kernel_version": kernel.version,
        "config": asdict(kernel.config),
        "weights": kernel.state_dict(),
        "basin": basin.to_json() if basin is not None else None,
        "router_state": dict(router_state or {}),
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, target)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load with ``weights_only=True``; raise ``CheckpointError`` on anything unexpected."""
    import torch

    from basin.kernel import FisherRaoKernel, KernelConfig

    try:
        payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # the restricted unpickler raises several types
        raise CheckpointError(f"cannot load checkpoint {path}: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a {CHECKPOINT_FORMAT} file")
    raw_config = payload.get("config")
    known = {f.name for f in fields(KernelConfig)}
    if not isinstance(raw_config, dict) or set(raw_config) - known:
        raise CheckpointError("checkpoint config is missing or has unknown keys")
    try:
        config = KernelConfig(**raw_config)
        kernel = FisherRaoKernel(config, weights=payload.get("weights") or {})
    except (TypeError, ValueError) as exc:
        raise CheckpointError(str(exc)) from None
    if payload.get("kernel_version") != kernel.version:
        raise CheckpointError("checkpoint kernel_version does not match its config")
    raw_basin = payload.get("basin")
    try:
        basin = Basin.model_validate(raw_basin) if raw_basin is not None else None
    except ValueError as exc:
        raise CheckpointError(f"checkpoint basin is invalid: {exc}") from None
    router_state = payload.get("router_state")
    if not isinstance(router_state, dict):
        raise CheckpointError("checkpoint router_state must be a mapping")
    return Checkpoint(kernel=kernel, basin=basin, router_state=router_state)
