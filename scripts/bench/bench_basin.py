"""Benchmark the basin layer: packet size, sign / verify / merge timings, kernel signature time.

Each figure is the median (and min–max) over ``--runs`` runs (default 7) of the
mean time per operation in a loop of ``--loops`` operations. Before timing, the
operations are checked (packets verify, a tampered one does not, bytes round-trip,
merges count every beam). Prints a Markdown section (or one JSON line with ``--json``).

    .venv/bin/python scripts/bench/bench_basin.py [--runs 7] [--loops 200] [--json]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from benchlib import check, emit, machine, spread

from basin.container import Basin
from basin.keys import Signer, TrustStore
from basin.packets import decode_packet, encode_packet, make_packet, verify_packet
from basin.reader import BasinReader
from basin.sync import coordinate, export_packet, merge_packet
from basin.synthetic import generate_beam

STAMP = "2025-01-01T00:00:00.000000Z"


def per_op(fn: Callable[[], Any], loops: int, runs: int) -> list[float]:
    """Per run (``runs``), the mean seconds per call of ``fn`` over ``loops`` calls."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        samples.append((time.perf_counter() - start) / loops)
    return samples


def check_packets(basins: list[Basin], packets: list[Any], raw: bytes, trust: TrustStore, target: Basin) -> None:
    """What the timed operations must get right: packets verify, a tampered one does not, bytes
    round-trip, a partial merge moves the basin and counts the packet's beams, coordinate admits all."""
    for k, packet in enumerate(packets):
        check(verify_packet(packet, trust) is None, f"packet {k} does not verify: {verify_packet(packet, trust)}")
    tampered = packets[0].model_copy(update={"n": packets[0].n + 1})
    check(verify_packet(tampered, trust) is not None, "a tampered packet verifies")
    check(decode_packet(raw) == packets[0], "decode(encode(packet)) is not the packet")
    merged, rejected = merge_packet(target, packets[0], "partial", trust=trust)
    check(rejected is None, f"partial merge rejected: {rejected}")
    check(merged.n == target.n + packets[0].n, f"merged n {merged.n} != {target.n} + {packets[0].n}")
    check(merged.point != target.point, "a partial merge left the basin point unchanged")
    combined, rejections = coordinate(Basin.empty("bench"), packets, trust=trust)
    check(not rejections, f"coordinate rejected {len(rejections)} packets")
    check(combined.n == sum(b.n for b in basins), f"coordinated n {combined.n} != {sum(b.n for b in basins)}")


def main() -> None:
    parser = argparse.ArgumentParser(description="basin benchmarks")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--loops", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    reader = BasinReader()
    rng = np.random.default_rng(0)
    beams = [generate_beam(rng) for _ in range(64)]
    basins = []
    for k in range(3):
        basin = Basin.empty("bench", source=f"w{k}", kernel_version=reader.kernel_version, timestamp=STAMP)
        for result in beams[k * 20:(k + 1) * 20]:
            out = reader.read(result)
            basin = basin.absorb(out.signature, out.telemetry, timestamp=STAMP)
        basins.append(basin)
    signers = [Signer.generate() for _ in basins]
    trust = TrustStore.of(*(s.public_key for s in signers))
    packets = [export_packet(b, signer=s, producer_id=f"w{k}", created_at=STAMP)[0]
               for k, (b, s) in enumerate(zip(basins, signers, strict=True))]
    raw = encode_packet(packets[0])
    target = basins[1]
    check_packets(basins, packets, raw, trust, target)

    cycle = iter(range(10**9))

    def read_one() -> None:
        reader.signature(beams[next(cycle) % len(beams)])

    figures = {
        "packet_bytes": len(raw),
        "basin_file_bytes": len(basins[0].dumps()),
        "sign_us": per_op(lambda: make_packet(basins[0], signer=signers[0], producer_id="w0",
                                                    created_at=STAMP), args.loops, args.runs),
        "verify_us": per_op(lambda: verify_packet(packets[0], trust), args.loops, args.runs),
        "decode_us": per_op(lambda: decode_packet(raw), args.loops, args.runs),
        "merge_partial_us": per_op(lambda: merge_packet(target, packets[0], "partial", trust=trust),
                                         args.loops, args.runs),
        "merge_observer_us": per_op(lambda: merge_packet(target, packets[0], "observer", trust=trust),
                                          args.loops, args.runs),
        "coordinate_3_us": per_op(lambda: coordinate(Basin.empty("bench"), packets, trust=trust),
                                        max(1, args.loops // 4), args.runs),
        "signature_ms": per_op(read_one, max(1, args.loops // 4), args.runs),
    }
    unit = {"us": 1e6, "ms": 1e3}
    timings = {key: spread((unit[key.rsplit("_", 1)[1]] * t for t in value), 3)
               for key, value in figures.items() if isinstance(value, list)}
    sizes = {key: value for key, value in figures.items() if not isinstance(value, list)}
    if args.json:
        emit({"benchmark": "basin", "machine": machine(), "runs": args.runs, "loops": args.loops, "checked": True,
              "sizes": sizes, "timings": timings})
        return
    print("## basin (scripts/bench/bench_basin.py)\n")
    print(f"machine: {machine()}, runs {args.runs} × {args.loops} loops\n")
    print("| figure | median | min | max |\n|---|---|---|---|")
    for key, value in sizes.items():
        print(f"| {key} | {value} | | |")
    for key, t in timings.items():
        print(f"| {key} | {t['median']:.3f} | {t['min']:.3f} | {t['max']:.3f} |")


if __name__ == "__main__":
    main()
