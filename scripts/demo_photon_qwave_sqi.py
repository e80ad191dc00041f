"""The Beamline demo: one command, no arguments, every stage exercised.

Submits the built-in sheet (examples/demo.codex: ∇ and ⊗ cells over the cost
threshold, an entangled pair, an evolve loop, goals, a CFL-unstable evolve and a
division by zero that SoulLaw vetoes and SPE repairs) on the embedded bus with the
SQLite store ``beamline.db``, with SPE_AUTO_FUSE on so repaired and fused cells run
again. Prints a summary table and, for every EID, the exact replay command.

``--bus kafka`` runs the same sheet against ``KAFKA_BOOTSTRAP`` with one
``beamline worker`` process per stage, all sharing the store (beamline.distributed);
it stores the same events (same ids) as the embedded run of the same sheet and seed.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHEET = ROOT / "examples" / "demo.codex"
DEMO_FLAGS = {"SPE_AUTO_FUSE": True}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bus", choices=("memory", "kafka"), default="memory")
    parser.add_argument("--store", default="sqlite:///beamline.db")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--run-id", default=None)
    parser.add_argument("--timeout", type=float, default=600.0, help="kafka: seconds to wait for the run")
    args = parser.parse_args()

    from rich.console import Console

    from beamline.config import CONFIG
    from beamline.summary import print_summary

    console = Console()
    CONFIG.store_url = args.store
    CONFIG.bus = args.bus
    run_id = args.run_id or f"demo-{uuid.uuid4().hex[:8]}"
    console.print(f"[bold]Beamline demo[/] — sheet {SHEET.relative_to(ROOT)}, bus {args.bus}, store {args.store}, "
                  f"flags SPE_AUTO_FUSE=true")
    started = time.perf_counter()
    if args.bus == "kafka":
        from beamline.distributed import DistributedRunError, run_sheet_distributed

        try:
            summary = run_sheet_distributed(SHEET.read_text(encoding="utf-8"), filename=SHEET.name, seed=args.seed,
                                            run_id=run_id, extra_flags=DEMO_FLAGS, timeout_s=args.timeout)
        except DistributedRunError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    else:
        from beamline.runner_cli import run_sheet

        summary = run_sheet(SHEET.read_text(encoding="utf-8"), filename=SHEET.name, seed=args.seed,
                            container_id="default", run_id=run_id, extra_flags=DEMO_FLAGS)
    store_flag = "" if args.store == "sqlite:///beamline.db" else f" --store {args.store}"
    print_summary(summary, store_flag)
    console.print(f"finished in {time.perf_counter() - started:.1f} s")
    return 1 if summary.errors else 0


if __name__ == "__main__":
    sys.exit(main())
