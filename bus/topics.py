"""The topic catalogue (same names on every bus) and where each event type goes."""

from __future__ import annotations

from contracts.envelope import Envelope

SHEETS = "beamline.sheets"
CODEX = "beamline.codex"
PHOTON = "beamline.photon"
QWAVE = "beamline.qwave"
COLLAPSE = "beamline.collapse"
SQI = "beamline.sqi"
APPROVED = "beamline.approved"
VETOES = "beamline.vetoes"
SPE = "beamline.spe"
HUD = "beamline.hud"
CONTROL = "beamline.control"
BASIN = "beamline.basin"
DLQ = "beamline.dlq"

ALL_TOPICS = (SHEETS, CODEX, PHOTON, QWAVE, COLLAPSE, SQI, APPROVED, VETOES, SPE, HUD, CONTROL, BASIN, DLQ)

_BEAM_STAGE_TOPIC = {
    "ingest": CODEX,
    "rewrite": PHOTON,
    "predict": PHOTON,
    "deferred": PHOTON,
    "qwave": QWAVE,
    "collapse": COLLAPSE,
    "approved": APPROVED,
    "vetoed": VETOES,
    "container": HUD,
}

_TYPE_TOPIC = {
    "SheetSubmitted": SHEETS,
    "EntanglementLink": CODEX,
    "GlyphExecution": CODEX,
    "PrecisionProfile": QWAVE,
    "CollapseTrace": COLLAPSE,
    "SQIScore": SQI,
    "SoulLawDecision": SQI,
    "DNAMutation": SPE,
    "PatternMotif": SPE,
    "FlagChanged": CONTROL,
    "BasinSyncPacket": BASIN,
    "BasinPacketRejected": BASIN,
    "DeadLetter": DLQ,
}

_STAGE_ERROR_TOPIC = {"codex": CODEX, "photon": PHOTON, "qwave": QWAVE, "sqi": SQI, "spe": SPE, "kg": SPE}


def topic_for(envelope: Envelope) -> str:
    """The topic an event is published on, decided by its type (and a beam's stage)."""
    if envelope.type == "BeamEvent":
        return _BEAM_STAGE_TOPIC[envelope.payload["stage"]]
    if envelope.type == "StageError":
        return _STAGE_ERROR_TOPIC.get(envelope.producer.stage, DLQ)
    return _TYPE_TOPIC[envelope.type]


def key_for(envelope: Envelope) -> str:
    """Partition key: EID for cell events (so an entanglement stays ordered), else the run or container."""
    topic = topic_for(envelope)
    if topic == SHEETS:
        return envelope.sheet_run_id
    if topic in (HUD, BASIN):
        return envelope.container_id
    if topic == CONTROL:
        return str(envelope.payload.get("name", ""))
    return envelope.eid or envelope.sheet_run_id

#: Partitions per topic: the memory bus's default and what the Kafka driver provisions.
DEFAULT_PARTITIONS = 4
