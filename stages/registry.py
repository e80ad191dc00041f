"""Stage ids -> stage factories, so runners and workers pick stages by name."""

from __future__ import annotations

import importlib
from typing import Any

from stages.base import Stage

# stage id -> (module, class); imported on demand so a worker loads only its own stage.
STAGE_CLASSES: dict[str, tuple[str, str]] = {
    "codex": ("stages.codex.stage", "CodexStage"),
    "photon": ("stages.photon.stage", "PhotonStage"),
    "qwave": ("stages.qwave.stage", "QWaveStage"),
    "sqi": ("stages.sqi.stage", "SQIStage"),
    "spe": ("stages.spe.stage", "SPEStage"),
    "kg": ("stages.kg.stage", "KGStage"),  # publishes nothing; the runner merges its projection
}
STAGE_IDS = tuple(STAGE_CLASSES)


def create_stage(stage_id: str, **options: Any) -> Stage:
    try:
        module_name, class_name = STAGE_CLASSES[stage_id]
    except KeyError:
        raise ValueError(f"unknown stage {stage_id!r} (known: {', '.join(STAGE_IDS)})") from None
    stage_class = getattr(importlib.import_module(module_name), class_name)
    stage: Stage = stage_class(**options)
    return stage
