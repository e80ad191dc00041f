"""Payload contracts (pydantic v2). The seeds' field names are kept verbatim.

Every model declares ``TYPE`` (the envelope's ``type``) and ``SCHEMA_VERSION``
(the current version; older stored payloads are upcast, see ``upcasters.py``).
Fields that hold wall-clock time are listed in ``WALL_CLOCK_FIELDS`` so replay's
diff can ignore exactly those and nothing else: a top-level name, or a path into
nested data (``results[*].time_s``: that field of every element of ``results``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    TYPE: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int] = 1
    WALL_CLOCK_FIELDS: ClassVar[frozenset[str]] = frozenset()


BeamStage = Literal[
    "ingest", "rewrite", "predict", "deferred", "qwave", "collapse", "approved", "vetoed", "container",
]


class SheetSubmitted(Payload):
    """A user's sheet run request: everything needed to re-execute it exactly."""

    TYPE: ClassVar[str] = "SheetSubmitted"
    sheet_run_id: str
    container_id: str
    source: str
    filename: str = "<sheet>"
    seed: int = 0
    flags: dict[str, Any] = Field(default_factory=dict)
    basin_id: str | None = None
    identity: str = "user"


class BeamEvent(Payload):
    """One stage's work on one cell (seed contract 1). v2 added ``generation``."""

    TYPE: ClassVar[str] = "BeamEvent"
    SCHEMA_VERSION: ClassVar[int] = 2
    WALL_CLOCK_FIELDS: ClassVar[frozenset[str]] = frozenset({"timestamp", "latency_ms", "runtime"})
    beam_id: str
    cell_id: str
    sheet_run_id: str
    container_id: str
    eid: str | None = None
    stage: BeamStage
    token: str
    result: dict[str, Any] = Field(default_factory=dict)
    timestamp: str
    generation: int = Field(default=0, ge=0)
    latency_ms: float | None = None
    # Measurements of this execution that differ between runs by nature (compile/exec time,
    # cache hit or miss, batch size): kept out of ``result`` so replay diffs stay exact.
    runtime: dict[str, Any] | None = None


class EntanglementLink(Payload):
    """Seed contract 2 as an event: the members of one EID."""

    TYPE: ClassVar[str] = "EntanglementLink"
    eid: str
    members: list[str]
    sheet_run_id: str
    container_id: str
    # The ↔ pairs as written, so topology (components, cycles) can be analysed.
    links: list[list[str]] = Field(default_factory=list)


class CostDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")
    energy: float
    ethics_risk: float
    delay: float
    opportunity_loss: float


class GlyphExecution(Payload):
    """Seed contract 3 (the ``glyph_execution`` websocket message), for the HUD."""

    TYPE: ClassVar[str] = "GlyphExecution"
    WALL_CLOCK_FIELDS: ClassVar[frozenset[str]] = frozenset({"timestamp"})
    glyph: str
    action: str
    source: str
    timestamp: float
    cost: float
    detail: CostDetail
    cell_id: str | None = None


class SignatureBlock(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ghx_projection_id: str
    vault_snapshot_id: str
    qglyph_id: str


class Hologram(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ghx_data: dict[str, Any] | None = None
    trigger_metadata: dict[str, Any] | None = None
    signature_block: SignatureBlock
    dream_pack: dict[str, Any] = Field(default_factory=dict)


class CollapseTrace(Payload):
    """Seed contract 6: what a computed field collapsed to, with content-hash ids."""

    TYPE: ClassVar[str] = "CollapseTrace"
    WALL_CLOCK_FIELDS: ClassVar[frozenset[str]] = frozenset({"timestamp"})
    expression: str
    output: dict[str, Any]
    adapter: Literal["photon", "codex", "qwave"]
    identity: str = "user"
    timestamp: float
    hologram: Hologram


class SQIScore(Payload):
    """Seed contract 4 (``sqi_score``) plus drift, stability and qscore."""

    TYPE: ClassVar[str] = "SQIScore"
    WALL_CLOCK_FIELDS: ClassVar[frozenset[str]] = frozenset({"timestamp"})
    timestamp: float
    mutation_id: str | None = None
    container_id: str
    cell_id: str
    goal_match_score: float | None = None
    rewrite_success_prob: float
    entropy_delta: float | None = None
    drift: float | None = None
    stability: float
    qscore: float
    weights: dict[str, float] = Field(default_factory=dict)
    basin_id: str | None = None
    fork: int | None = None


class SoulLawDecision(Payload):
    """An OPA-style decision log entry: why a beam was approved or vetoed."""

    TYPE: ClassVar[str] = "SoulLawDecision"
    decision_id: str
    allowed: bool
    matched_rules: list[str]
    reasons: list[str]
    policy_hash: str
    input_digest: str
    cell_id: str


class PrecisionResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["fp32", "bf16", "fp8", "int8"]
    rel_error: float
    time_s: float


class PrecisionProfile(Payload):
    TYPE: ClassVar[str] = "PrecisionProfile"
    # Only the timing: rel_error is an outcome and a re-run must reproduce it.
    WALL_CLOCK_FIELDS: ClassVar[frozenset[str]] = frozenset({"results[*].time_s"})
    opcode: str
    shape: list[int]
    results: list[PrecisionResult]
    recommended: Literal["fp32", "bf16", "fp8", "int8"]


class PatternMotif(Payload):
    TYPE: ClassVar[str] = "PatternMotif"
    motif_id: str
    container_id: str
    kind: Literal["subtree", "attractor", "topology"]
    canonical: str
    support: int
    cells: list[str]
    snapshot_id: str
    detail: dict[str, Any] = Field(default_factory=dict)


class MutationMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Literal["fusion", "repair"]
    entropy_delta: float | None = None
    rewrite_success_prob: float | None = None
    container_id: str
    detail: dict[str, Any] = Field(default_factory=dict)


class DNAMutation(Payload):
    """Seed contract 5: a fusion or repair, original and mutated cell."""

    TYPE: ClassVar[str] = "DNAMutation"
    WALL_CLOCK_FIELDS: ClassVar[frozenset[str]] = frozenset({"timestamp"})
    mutation_id: str
    timestamp: str
    original: dict[str, Any]
    mutated: dict[str, Any]
    metadata: MutationMetadata
    parents: list[str] = Field(default_factory=list)


class FlagChanged(Payload):
    TYPE: ClassVar[str] = "FlagChanged"
    name: str
    value: Any
    previous: Any = None
    source: str = "cli"


class BasinSyncPacket(Payload):
    """A signed, content-addressed basin snapshot (basin.md)."""

    TYPE: ClassVar[str] = "BasinSyncPacket"
    version: int = 1
    container_id: str
    basin: list[float] = Field(min_length=64, max_length=64)
    phi: float
    kappa: float
    regime: Literal["linear", "geometric", "breakdown"]
    n: int = Field(ge=0)
    parent: str | None = None
    producer_id: str
    created_at: str
    key_id: str
    signature: str


class BasinPacketRejected(Payload):
    TYPE: ClassVar[str] = "BasinPacketRejected"
    packet_id: str
    container_id: str
    reason: str


class DeadLetter(Payload):
    """An undeliverable message, kept byte for byte so ``dlq retry`` can re-publish it."""

    TYPE: ClassVar[str] = "DeadLetter"
    # v2: an unauthenticated message's reason is ``auth`` (v1 called it ``unauthenticated``).
    SCHEMA_VERSION: ClassVar[int] = 2
    original_b64: str
    topic: str
    key: str | None = None
    error: str
    reason: Literal[
        "malformed", "invalid_schema", "unknown_type", "future_version", "too_large",
        "handler_failed", "auth",
    ]
    stage: str | None = None


class CodexErrorItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str
    file: str
    line: int
    col: int
    hint: str | None = None
    code: str
    rendered: str


class StageError(Payload):
    """A stage's refusal of an input (bad sheet, unsupported operator): never a crash."""

    TYPE: ClassVar[str] = "StageError"
    stage: str
    errors: list[CodexErrorItem]
    cell_id: str | None = None


ALL_PAYLOADS: tuple[type[Payload], ...] = (
    SheetSubmitted, BeamEvent, EntanglementLink, GlyphExecution, CollapseTrace, SQIScore,
    SoulLawDecision, PrecisionProfile, PatternMotif, DNAMutation, FlagChanged, BasinSyncPacket,
    BasinPacketRejected, DeadLetter, StageError,
)
