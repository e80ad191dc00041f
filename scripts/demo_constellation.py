"""Demo: N kernel instances on generated beams — routing decisions and basin sync.

Each instance first specialises on one family of generated beams (so the basins
start apart), then a stream of mixed beams is routed by each strategy. Per beam
the table shows who handled it, the telemetry (Φ, κ, regime, recursion depth),
the beam's drift from the active basin, and the mean Fisher–Rao distance of the
observers to the active basin before and after the vicarious sync. The frozen
reference ("Ocean") is measured, never moved.

    .venv/bin/python scripts/demo_constellation.py [--instances 3] [--beams 12] [--strategy all]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from basin.constellation import Constellation
from basin.container import Basin
from basin.geometry import fisher_rao
from basin.kernel import FisherRaoKernel
from basin.routing import ROUTERS
from basin.synthetic import FAMILIES, generate_beam
from basin.tokens import encode_beam

STAMP = "2025-01-01T00:00:00.000000Z"


def distance_table(title: str, constellation: Constellation, reference: Basin) -> Table:
    names = [i.name for i in constellation.instances]
    table = Table(title=title)
    table.add_column("basin")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("Ocean", justify="right")
    for row, inst in zip(constellation.distance_matrix(), constellation.instances, strict=True):
        table.add_row(inst.name, *(f"{d:.4f}" for d in row), f"{fisher_rao(inst.basin.point, reference.point):.4f}")
    return table


def run(strategy: str, count: int, beams: int, seed: int, kernel: FisherRaoKernel, reference: Basin,
        console: Console) -> None:
    rng = np.random.default_rng(seed)
    constellation = Constellation.create(count, "demo", kernel=kernel, reference=reference, strategy=strategy,
                                         sync_weight=0.08, timestamp=STAMP)
    for k, inst in enumerate(constellation.instances):  # specialise: instance k on family k
        for _ in range(3):
            out = inst.reader.read(generate_beam(rng, FAMILIES[k % len(FAMILIES)]))
            inst.basin = inst.basin.absorb(out.signature, out.telemetry, timestamp=STAMP)
            inst.phi = out.telemetry.phi
    console.print(distance_table(f"({strategy}) basin distances before", constellation, reference))
    table = Table(title=f"({strategy}) routing decisions")
    for col in ("#", "family", "active", "Φ", "κ", "regime", "depth", "drift", "d̄ obs before",
                "d̄ obs after", "d Ocean"):
        table.add_column(col, justify="right")
    for _ in range(beams):
        beam = generate_beam(rng)
        report = constellation.step(beam, timestamp=STAMP)
        others = [d for k, d in enumerate(report.distances_before) if k != report.active]
        after = [d for k, d in enumerate(report.distances_after) if k != report.active]
        t = report.telemetry
        table.add_row(
            str(report.step), beam["family"], report.active_name, f"{t.phi:.3f}", f"{t.kappa:.1f}", t.regime,
            str(t.depth), f"{report.drift:.3f}",
            f"{np.mean(others):.4f}" if others else "-", f"{np.mean(after):.4f}" if after else "-",
            f"{report.reference_distance:.4f}" if report.reference_distance is not None else "-",
        )
    console.print(table)
    console.print(distance_table(f"({strategy}) basin distances after", constellation, reference))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--beams", type=int, default=12)
    parser.add_argument("--strategy", default="all", choices=["all", *sorted(ROUTERS)])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    console = Console(width=None if sys.stdout.isatty() else 120)
    started = time.perf_counter()
    kernel = FisherRaoKernel()
    ref_rng = np.random.default_rng(10_000 + args.seed)
    ref_sigs = [kernel.forward(encode_beam(generate_beam(ref_rng, fam))).signature for fam in FAMILIES * 2]
    reference = Basin.from_signatures("demo", ref_sigs, source="ocean", kernel_version=kernel.version,
                                      timestamp=STAMP, frozen=True)
    console.print(f"kernel {kernel.version}; Ocean basin {reference.id} (frozen, n={reference.n})")
    strategies = sorted(ROUTERS) if args.strategy == "all" else [args.strategy]
    for strategy in strategies:
        run(strategy, args.instances, args.beams, args.seed, kernel, reference, console)
    console.print(f"done in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
