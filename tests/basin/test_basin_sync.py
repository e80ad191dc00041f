"""Signed, content-addressed basin sync: verification, rejection reasons, merge modes, convergence."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from basin import geometry
from basin.container import Basin
from basin.keys import Signer, TrustStore
from basin.packets import (
    PacketError,
    decode_packet,
    encode_packet,
    merge_node,
    packet_id,
    verify_packet,
)
from basin.reader import default_reader
from basin.sync import MERGE_MODES, coordinate, export_packet, merge_packet, rejection_code
from basin.telemetry import observer_step

BeamsFn = Callable[..., list[dict[str, Any]]]
BasinFn = Callable[..., Basin]
T1, T2, T3 = "2025-01-01T00:00:01.000000Z", "2025-01-01T00:00:02.000000Z", "2025-01-01T00:00:03.000000Z"

SIGNERS = {name: Signer.generate() for name in ("A", "B", "C", "coord", "mallory")}
TRUST = TrustStore.of(*(s.public_key for name, s in SIGNERS.items() if name != "mallory"))


def export(basin: Basin, name: str, at: str = T1) -> tuple[Any, Basin]:
    return export_packet(basin, signer=SIGNERS[name], producer_id=name, created_at=at)


@pytest.fixture(scope="module")
def workers(make_basin: BasinFn, make_beams: BeamsFn) -> dict[str, Basin]:
    """Three workers of one container, each with its own approved beams (close, not equal)."""
    return {name: make_basin("c", make_beams(seed, 6), source=name) for name, seed in (("A", 1), ("B", 2), ("C", 3))}


def test_packet_id_is_the_sha256_of_the_canonical_body_and_verifies(workers: dict[str, Basin]) -> None:
    packet, _ = export(workers["A"], "A")
    assert len(packet_id(packet)) == 64
    assert verify_packet(packet, TRUST) is None
    assert decode_packet(encode_packet(packet)) == packet
    assert len(encode_packet(packet)) < 2048  # the payload that travels


def test_a_flipped_byte_in_the_basin_breaks_the_signature(workers: dict[str, Basin]) -> None:
    packet, _ = export(workers["A"], "A")
    raw = bytearray(encode_packet(packet))
    digit = raw.index(b'"basin":[0.0') + len(b'"basin":[0.0') + 2  # a digit inside the first coordinate
    raw[digit] = ord("7") if raw[digit] != ord("7") else ord("3")
    tampered = decode_packet(bytes(raw))
    state, rejection = merge_packet(workers["B"], tampered, "partial", trust=TRUST)
    assert state == workers["B"]
    assert rejection is not None and rejection_code(rejection) == "bad_signature"


def test_no_single_flipped_bit_anywhere_in_a_packet_is_accepted() -> None:
    """Every bit of every byte, exhaustively (≈13k variants): each is refused, none verifies."""
    base = Basin.empty("c").moved_to([1e-05] + [(1 - 1e-05) / 63] * 63)
    raw = encode_packet(export(base, "A")[0])
    codes: set[str] = set()
    for position in range(len(raw)):
        for bit in range(8):
            variant = bytearray(raw)
            variant[position] ^= 1 << bit
            try:
                packet = decode_packet(bytes(variant))
            except PacketError as exc:
                codes.add(exc.code)
                continue
            reason = verify_packet(packet, TRUST)
            assert reason is not None, f"flip of bit {bit} at byte {position} was accepted"
            codes.add(reason.split(":")[0])
    assert {"malformed", "non_canonical", "bad_signature", "untrusted_key"} <= codes


def test_a_packet_signed_by_an_untrusted_key_is_rejected(workers: dict[str, Basin]) -> None:
    packet, _ = export(workers["A"], "mallory")
    _, rejection = merge_packet(workers["B"], packet, "partial", trust=TRUST)
    assert rejection is not None and rejection_code(rejection) == "untrusted_key"
    assert rejection.packet_id == packet_id(packet) and rejection.container_id == "c"


def test_a_far_away_basin_is_rejected_as_an_outlier(workers: dict[str, Basin], make_basin: BasinFn) -> None:
    far = workers["A"].moved_to([0.9] + [0.1 / 63] * 63)
    packet, _ = export(far, "A")
    assert geometry.fisher_rao(far.point, workers["B"].point) > 0.8
    state, rejection = merge_packet(workers["B"], packet, "partial", trust=TRUST, max_drift=0.8)
    assert state == workers["B"]
    assert rejection is not None and rejection_code(rejection) == "outlier"
    _, observer_rejection = merge_packet(workers["B"], packet, "observer", trust=TRUST)
    assert observer_rejection is not None and rejection_code(observer_rejection) == "outlier"


def test_wrong_container_and_frozen_reference_are_rejected(workers: dict[str, Basin]) -> None:
    packet, _ = export(workers["A"], "A")
    _, mismatch = merge_packet(Basin.empty("other-container"), packet, "full", trust=TRUST)
    assert mismatch is not None and rejection_code(mismatch) == "container_mismatch"
    ocean = workers["B"].model_copy(update={"frozen": True})
    state, rejection = merge_packet(ocean, packet, "partial", trust=TRUST)
    assert state == ocean and rejection is not None and rejection_code(rejection) == "frozen_basin"


def test_a_replayed_packet_is_a_no_op(workers: dict[str, Basin]) -> None:
    packet, _ = export(workers["A"], "A")
    once, rejection = merge_packet(workers["B"], packet, "partial", trust=TRUST)
    assert rejection is None and once.id != workers["B"].id
    for mode in MERGE_MODES:
        twice, again = merge_packet(once, packet, mode, trust=TRUST)
        assert again is None and twice == once


def test_an_older_packet_from_the_same_producer_is_stale(workers: dict[str, Basin]) -> None:
    old, exported = export(workers["A"], "A", T1)
    new, _ = export(exported, "A", T2)
    state, _ = merge_packet(workers["B"], new, "partial", trust=TRUST)
    after, rejection = merge_packet(state, old, "partial", trust=TRUST)
    assert after == state and rejection is not None and rejection_code(rejection) == "stale"


def test_full_import_adopts_the_packet(workers: dict[str, Basin]) -> None:
    packet, _ = export(workers["A"], "A")
    adopted, rejection = merge_packet(Basin.empty("c"), packet, "full", trust=TRUST)
    assert rejection is None
    assert adopted.id == workers["A"].id and adopted.point == workers["A"].point
    assert adopted.sync.heads == (packet_id(packet),)


def test_partial_import_is_the_support_weighted_geodesic_mean(workers: dict[str, Basin]) -> None:
    a, b = workers["A"], workers["B"]
    packet, _ = export(a, "A")
    merged, _ = merge_packet(b, packet, "partial", trust=TRUST)
    d = geometry.fisher_rao(b.point, a.point)
    t = a.n / (a.n + b.n)
    assert merged.n == a.n + b.n
    assert geometry.fisher_rao(b.point, merged.point) == pytest.approx(t * d, abs=1e-12)
    assert geometry.fisher_rao(merged.point, a.point) == pytest.approx((1 - t) * d, abs=1e-12)


def test_observer_import_moves_by_the_coupling_weighted_step(workers: dict[str, Basin]) -> None:
    a, b = workers["A"], workers["B"]
    packet, _ = export(a, "A")
    moved, _ = merge_packet(b, packet, "observer", trust=TRUST)
    step = observer_step(a.provenance.phi, a.provenance.kappa, b.provenance.kappa)
    assert 0.0 < step < 0.3
    d = geometry.fisher_rao(b.point, a.point)
    assert geometry.fisher_rao(b.point, moved.point) == pytest.approx(step * d, abs=1e-12)
    assert moved.n == b.n  # an observer absorbs no support


def test_exports_form_a_merkle_chain(workers: dict[str, Basin]) -> None:
    first, state = export(workers["A"], "A", T1)
    second, _ = export(state, "A", T2)
    assert first.parent is None and second.parent == packet_id(first)
    pb, _ = export(workers["B"], "B")
    merged, _ = merge_packet(state, pb, "partial", trust=TRUST)
    third, _ = export(merged, "A", T3)
    assert third.parent == merge_node([packet_id(first), packet_id(pb)])


def test_three_instances_converge_to_one_basin_id(workers: dict[str, Basin], make_basin: BasinFn,
                                                  make_beams: BeamsFn) -> None:
    packets = {name: export(basin, name)[0] for name, basin in workers.items()}
    assert len({b.id for b in workers.values()}) == 3
    # Two coordinator replicas receive the packets in different orders (one with a duplicate).
    c1, r1 = coordinate(Basin.empty("c"), [packets["C"], packets["A"], packets["B"]], trust=TRUST)
    c2, r2 = coordinate(Basin.empty("c"), [packets["B"], packets["C"], packets["B"], packets["A"]], trust=TRUST)
    assert r1 == r2 == [] and c1.id == c2.id and c1.n == 18
    canonical, coordinator = export(c1, "coord", T2)
    assert canonical.parent == merge_node([packet_id(p) for p in packets.values()])
    # Every worker, and one that starts later from nothing, adopts the canonical packet.
    synced = {name: merge_packet(basin, canonical, "full", trust=TRUST)[0] for name, basin in workers.items()}
    late, _ = merge_packet(Basin.empty("c"), canonical, "full", trust=TRUST)
    assert {b.id for b in synced.values()} | {late.id} == {coordinator.id}
    # Round two: A and B each absorb new beams on top of the canonical basin; merging
    # counts only the new support, and everyone converges again.
    grown_a = synced["A"].absorb(*_read(make_beams(40, 1)[0]), timestamp=T3)
    grown_b = synced["B"].absorb(*_read(make_beams(41, 1)[0]), timestamp=T3)
    pa2, pb2 = export(grown_a, "A", T3)[0], export(grown_b, "B", T3)[0]
    assert pa2.parent == pb2.parent == packet_id(canonical)
    round2, rejections = coordinate(coordinator, [pb2, pa2], trust=TRUST)
    assert rejections == [] and round2.n == 20
    canonical2, coordinator2 = export(round2, "coord", "2025-01-01T00:00:04.000000Z")
    final = {name: merge_packet(b, canonical2, "full", trust=TRUST)[0] for name, b in synced.items()}
    assert {b.id for b in final.values()} == {coordinator2.id}
    replayed, again = merge_packet(final["C"], canonical2, "full", trust=TRUST)
    assert again is None and replayed == final["C"]
    # A late instance reading the canonical log in either order ends on the newest basin.
    for log in ([canonical, canonical2], [canonical2, canonical]):
        late = Basin.empty("c")
        for packet in log:
            late, _ = merge_packet(late, packet, "full", trust=TRUST)
        assert late.id == coordinator2.id


def _read(result: dict[str, Any]) -> tuple[Any, Any]:
    out = default_reader().read(result)
    return out.signature, out.telemetry


def test_fast_forward_only_when_the_state_is_unchanged_since_the_packets_parent(workers: dict[str, Basin],
                                                                                make_beams: BeamsFn) -> None:
    canonical, coordinator = export(workers["A"], "coord", T1)
    follower, _ = merge_packet(workers["B"], canonical, "full", trust=TRUST)
    grown = follower.absorb(*_read(make_beams(42, 1)[0]), timestamp=T2)
    update, _ = export(grown, "B", T2)
    # The coordinator has not moved since it exported `canonical`: adopt the update as is.
    fast, _ = merge_packet(coordinator, update, "partial", trust=TRUST)
    assert fast.point == grown.point and fast.n == grown.n
    # A follower that absorbed beams of its own since `canonical` keeps them: weighted merge.
    local = follower.absorb(*_read(make_beams(43, 1)[0]), timestamp=T2)
    merged, _ = merge_packet(local, update, "partial", trust=TRUST)
    assert merged.n == local.n + 1
    assert 0 < geometry.fisher_rao(merged.point, local.point) < geometry.fisher_rao(update.basin, local.point)
