"""Benchmark the basin layer: packet size, sign / verify / merge timings, kernel signature time.

Each figure is the median over ``--runs`` runs (default 7) of the mean time per
operation in a loop of ``--loops`` operations. Prints a Markdown section for
BENCHMARKS.md (or JSON with ``--json``). Nothing is asserted: shared machines
are noisy, so read the numbers as orders of magnitude and the ratios as the
comparable part.

    .venv/bin/python scripts/bench/bench_basin.py [--runs 7] [--loops 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from basin.container import Basin
from basin.keys import Signer, TrustStore
from basin.packets import decode_packet, encode_packet, make_packet, verify_packet
from basin.reader import BasinReader
from basin.sync import coordinate, export_packet, merge_packet
from basin.synthetic import generate_beam

STAMP = "2025-01-01T00:00:00.000000Z"


def per_op(fn: Callable[[], Any], loops: int, runs: int) -> float:
    """Median over ``runs`` of the mean seconds per call of ``fn``."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        samples.append((time.perf_counter() - start) / loops)
    return statistics.median(samples)


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

    cycle = iter(range(10**9))

    def read_one() -> None:
        reader.signature(beams[next(cycle) % len(beams)])

    figures = {
        "packet_bytes": len(raw),
        "basin_file_bytes": len(basins[0].dumps()),
        "sign_us": 1e6 * per_op(lambda: make_packet(basins[0], signer=signers[0], producer_id="w0",
                                                    created_at=STAMP), args.loops, args.runs),
        "verify_us": 1e6 * per_op(lambda: verify_packet(packets[0], trust), args.loops, args.runs),
        "decode_us": 1e6 * per_op(lambda: decode_packet(raw), args.loops, args.runs),
        "merge_partial_us": 1e6 * per_op(lambda: merge_packet(target, packets[0], "partial", trust=trust),
                                         args.loops, args.runs),
        "merge_observer_us": 1e6 * per_op(lambda: merge_packet(target, packets[0], "observer", trust=trust),
                                          args.loops, args.runs),
        "coordinate_3_us": 1e6 * per_op(lambda: coordinate(Basin.empty("bench"), packets, trust=trust),
                                        max(1, args.loops // 4), args.runs),
        "signature_ms": 1e3 * per_op(read_one, max(1, args.loops // 4), args.runs),
    }
    figures["verify_over_sign"] = figures["verify_us"] / figures["sign_us"]
    figures["merge_over_verify"] = figures["merge_partial_us"] / figures["verify_us"]
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "python": platform.python_version(), "runs": args.runs, "loops": args.loops}
    if args.json:
        print(json.dumps({"machine": machine, "figures": figures}, indent=2))
        return
    print("## basin (scripts/bench/bench_basin.py)\n")
    print(f"machine: {machine}\n")
    print("| figure | value |\n|---|---|")
    for key, value in figures.items():
        print(f"| {key} | {value:.3f} |" if isinstance(value, float) else f"| {key} | {value} |")


if __name__ == "__main__":
    main()
