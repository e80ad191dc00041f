"""Basin packets travelling on ``beamline.basin``: the sync stage on the real runner, memory bus
and SQLite store, admitting good packets, rejecting bad ones with a reason event, ignoring replays."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from basin.container import Basin
from basin.keys import Signer, TrustStore
from basin.packets import packet_id
from basin.stage import BASIN_TOPIC, BasinSyncStage, fold_packets
from basin.sync import export_packet, rejection_code
from bus.memory import MemoryBus
from bus.pipeline import run_pipeline
from bus.topics import topic_for
from contracts.envelope import Envelope, utc_now
from contracts.payloads import BasinPacketRejected, BasinSyncPacket
from contracts.registry import make_event
from store.beam_store import open_store

BasinFn = Callable[..., Basin]
BeamsFn = Callable[..., list[dict[str, Any]]]
T1 = "2025-01-01T00:00:01.000000Z"
NODES = {name: Signer.generate() for name in ("A", "B", "mallory")}
TRUST = TrustStore.of(NODES["A"].public_key, NODES["B"].public_key)


def sent(packet: BasinSyncPacket, node: str, index: int) -> Envelope:
    """A packet as a node publishes it: its own root event on the basin topic."""
    return make_event(packet, stage_id=f"node-{node}", index=index, sheet_run_id=f"sync-{node}-{index}",
                      container_id=packet.container_id, occurred_at=utc_now())


async def deliver(tmp_path: Path, envelopes: list[Envelope]) -> Any:
    store = open_store(f"sqlite:///{tmp_path / 'node.db'}", migrate=True)
    bus = MemoryBus()
    try:
        await run_pipeline([BasinSyncStage(trust=TRUST)], envelopes, bus=bus, store=store, flags={})
    finally:
        await bus.stop()
    return store


async def test_packets_on_the_basin_topic_are_admitted_or_rejected_with_a_reason(
    tmp_path: Path, make_basin: BasinFn, make_beams: BeamsFn
) -> None:
    assert topic_for(sent(export_packet(Basin.empty("c"), signer=NODES["A"], producer_id="A",
                                        created_at=T1)[0], "A", 0)) == BASIN_TOPIC
    a = make_basin("c", make_beams(1, 6), source="A")
    b = make_basin("c", make_beams(2, 6), source="B")
    good_a, _ = export_packet(a, signer=NODES["A"], producer_id="A", created_at=T1)
    good_b, _ = export_packet(b, signer=NODES["B"], producer_id="B", created_at=T1)
    forged, _ = export_packet(b, signer=NODES["mallory"], producer_id="B", created_at=T1)
    far, _ = export_packet(a.moved_to([0.9] + [0.1 / 63] * 63), signer=NODES["A"], producer_id="A",
                           created_at="2025-01-01T00:00:02.000000Z")
    envelopes = [sent(good_a, "A", 0), sent(good_b, "B", 0), sent(forged, "mallory", 0),
                 sent(far, "A", 1), sent(good_a, "A", 2)]  # the last: the same packet again
    store = await deliver(tmp_path, envelopes)
    try:
        rejected = {
            r.packet_id: rejection_code(r)
            for r in (BasinPacketRejected.model_validate(e.payload)
                      for e in store.events(container_id="c", types=["BasinPacketRejected"]))
        }
        assert rejected == {packet_id(forged): "untrusted_key", packet_id(far): "outlier"}
        stored = [BasinSyncPacket.model_validate(e.payload)
                  for e in store.events(container_id="c", types=["BasinSyncPacket"])]
        assert len(stored) == 5  # every packet seen is on record, accepted or not
        state, refused = fold_packets("c", stored, trust=TRUST)
        assert {packet_id(p) for p in stored} - {r.packet_id for r in refused} == {
            packet_id(good_a), packet_id(good_b)}
        assert state.n == a.n + b.n  # both trusted nodes' support, the replay counted once
    finally:
        store.close()


async def test_nodes_that_receive_the_same_packets_hold_one_basin_id(
    tmp_path: Path, make_basin: BasinFn, make_beams: BeamsFn
) -> None:
    packets = [export_packet(make_basin("c", make_beams(seed, 4), source=name), signer=NODES[name],
                             producer_id=name, created_at=T1)[0] for name, seed in (("A", 5), ("B", 6))]
    ids = set()
    for node in ("n1", "n2", "n3"):  # three receivers, each with its own store
        (tmp_path / node).mkdir()
        store = await deliver(tmp_path / node, [sent(p, name, 0) for p, name in zip(packets, "AB")])
        try:
            recorded = [BasinSyncPacket.model_validate(e.payload)
                        for e in store.events(container_id="c", types=["BasinSyncPacket"])]
            state, refused = fold_packets("c", recorded, trust=TRUST)
            assert refused == []
            ids.add(state.id)
        finally:
            store.close()
    assert len(ids) == 1
