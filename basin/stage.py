"""The basin sync stage: admits or rejects the basin packets that arrive on ``beamline.basin``.

Nodes share what *normal* looks like by publishing signed ``BasinSyncPacket``
events on ``beamline.basin`` (basin.md, "Signed, content-addressed basin sync").
A node's view of a container's basin is the fold, in store order, of every packet
it has seen through ``merge_packet`` (``fold_packets``): forged, untrusted,
stale or outlying packets fall out of the fold, replays are no-ops. The stage
adds the one thing the fold cannot: a ``BasinPacketRejected`` event, with the
reason, for every packet it refuses, so nothing is dropped silently.

Like every stage it is pure: the packets it folds come from the read side, the
trusted keys from a key directory given at construction. Its decision for one
packet depends only on the packets recorded before it, so a redelivery yields
the same event (deterministic id) and the store keeps it once.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from basin.container import Basin
from basin.keys import TrustStore, default_key_dir
from basin.sync import DEFAULT_MAX_DRIFT, MergeMode, merge_packet
from contracts.envelope import Envelope
from contracts.payloads import BasinPacketRejected, BasinSyncPacket
from contracts.registry import make_event
from stages.base import StageContext

BASIN_TOPIC = "beamline.basin"


def fold_packets(
    container_id: str,
    packets: Iterable[BasinSyncPacket],
    *,
    trust: TrustStore,
    mode: MergeMode = "partial",
    max_drift: float = DEFAULT_MAX_DRIFT,
) -> tuple[Basin, list[BasinPacketRejected]]:
    """The container basin after merging ``packets`` in order, and the packets refused on the way."""
    state = Basin.empty(container_id)
    rejections: list[BasinPacketRejected] = []
    for packet in packets:
        state, rejection = merge_packet(state, packet, mode, trust=trust, max_drift=max_drift)
        if rejection is not None:
            rejections.append(rejection)
    return state, rejections


def rejection_key(rejection: BasinPacketRejected) -> str:
    """The id key of a refusal: one event per refused packet, whoever records it."""
    return f"basin-rejected:{rejection.packet_id}"


class BasinSyncStage:
    """Judges each incoming packet against the basin folded from the packets recorded before it."""

    stage_id = "basin"
    input_topics = (BASIN_TOPIC,)

    def __init__(
        self,
        *,
        trust: TrustStore | None = None,
        key_dir: str | Path | None = None,
        mode: MergeMode = "partial",
        max_drift: float = DEFAULT_MAX_DRIFT,
    ) -> None:
        self.trust = trust if trust is not None else TrustStore.from_directory(key_dir or default_key_dir())
        self.mode: MergeMode = mode
        self.max_drift = max_drift

    async def handle(self, envelope: Envelope, ctx: StageContext) -> list[Envelope]:
        """Called once per event on ``beamline.basin`` (may be retried); only packets are judged."""
        if envelope.type != BasinSyncPacket.TYPE:
            return []  # our own rejection events travel on the same topic
        packet = BasinSyncPacket.model_validate(envelope.payload)
        recorded = ctx.reader.events(container_id=packet.container_id, types=[BasinSyncPacket.TYPE])
        earlier: list[BasinSyncPacket] = []
        for event in recorded:
            if event.event_id == envelope.event_id:
                break  # a redelivery: judge it against what came before it, as the first time
            earlier.append(BasinSyncPacket.model_validate(event.payload))
        state, _ = fold_packets(
            packet.container_id, earlier, trust=self.trust, mode=self.mode, max_drift=self.max_drift
        )
        _, rejection = merge_packet(state, packet, self.mode, trust=self.trust, max_drift=self.max_drift)
        if rejection is None:
            return []
        return [
            make_event(rejection, stage_id=self.stage_id, index=0, parent=envelope,
                       container_id=packet.container_id, occurred_at=ctx.now(), instance=ctx.instance,
                       id_key=rejection_key(rejection))
        ]
