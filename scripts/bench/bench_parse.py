"""CodexLang front end on a generated 1,000-cell sheet: parse, check (+ expand), cost, whole Codex stage.

The sheet is generated deterministically (``--seed``): params, lets built from
initialisers, and cells mixing every operator family, goals, evolves, cells that
use earlier cells, and ↔ groups. Each figure is the median of ``--repeats`` runs
(≥ 5). Checks first that every cell is parsed, checked and ingested by the stage.
Prints one JSON object on its last line.

    .venv/bin/python scripts/bench/bench_parse.py
    .venv/bin/python scripts/bench/bench_parse.py --cells 5000 --repeats 7
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchlib import check, emit, machine, spread  # noqa: E402

from contracts.payloads import SheetSubmitted  # noqa: E402
from contracts.registry import make_event  # noqa: E402
from stages.base import StageContext  # noqa: E402
from stages.codex.checker import compile_sheet  # noqa: E402
from stages.codex.cost import sheet_costs  # noqa: E402
from stages.codex.parser import parse_sheet  # noqa: E402
from stages.codex.stage import CodexStage  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)
INITIALISERS = [
    "gaussian(center=(0.{a}, 0.{b}), width=0.1)", "const({a}.5)", "random(seed={a})", "sin({a} * x) * cos(y)",
    "plane_wave(k=({a}, {b}))", "zeros()",
]
TEMPLATES = [
    "{f} + {p} * Δ{g}", "∇·({f} * ∇{g})", "norm(∇{g}) * {f}", "{f} ⊕ {g} ⊕ {h}", "∇{g} • ∇{h}", "∇{g} ⊗ ∇{h}",
    "{f} * {g} - {h} / ({p} + 1)", "({f} + {g}) → Δ → abs", "exp(-{p} * {f} ^ 2)", "⟲{n} {g} ← {g} + {p} * Δ{g}",
    "interfere({w}, {w2})", "{f} ⊖ {g}", "max({f}) * {g} + mean({h})",
]


def generate(cells: int, seed: int) -> str:
    rng = random.Random(seed)
    lines = ["sheet generated", "grid 32x32 spacing 0.03 boundary periodic"]
    params = [f"p{i}" for i in range(20)]
    lines += [f"param {p} = {rng.uniform(1e-5, 1e-4):.6f}" for p in params]
    real_lets = [f"f{i}" for i in range(40)]
    for name in real_lets:
        template = rng.choice([t for t in INITIALISERS if "plane_wave" not in t])
        lines.append(f"let {name} = " + template.format(a=rng.randint(1, 9), b=rng.randint(1, 9)))
    waves = [f"w{i}" for i in range(10)]
    lines += [f"let {w} = plane_wave(k=({rng.randint(1, 5)}, {rng.randint(1, 5)}))" for w in waves]
    base: list[str] = []
    for i in range(cells):
        f, g, h = rng.sample(real_lets, 3)
        if base and rng.random() < 0.2:
            f = rng.choice(base[-50:])  # a cell that uses an earlier (let-only) cell
        template = rng.choice(TEMPLATES)
        expr = template.format(f=f, g=rng.choice(real_lets), h=h, p=rng.choice(params),
                                            n=rng.randint(2, 50), w=rng.choice(waves), w2=rng.choice(waves))
        goal = rng.choice(["", f"  goal: energy < energy({g})", "  goal: max ≈ 1 ± 0.5"])
        lines.append(f"cell c{i} : {expr}{goal}")
        if f in real_lets and "⊗" not in template:  # a real scalar field that uses no other cell
            base.append(f"c{i}")
    lines += [f"c{i} ↔ c{i + 1}" for i in range(0, cells - 1, 10)]
    return "\n".join(lines) + "\n"


def seconds(fn: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    repeats = max(args.repeats, 5)
    text = generate(args.cells, args.seed)
    checked = compile_sheet(text, "generated.codex")
    envelope = make_event(SheetSubmitted(sheet_run_id="bench", container_id="c", source=text),
                          stage_id="cli", index=0, sheet_run_id="bench", occurred_at=T0)
    ctx = StageContext(flags={"COST_THRESHOLD": 2.0e5}, flags_digest="bench", clock=lambda: T0)
    stage = CodexStage()
    # What is timed must be right: every generated cell parsed and checked, one ingest beam each.
    parsed = parse_sheet(text, "generated.codex")
    check(len(checked.cells) == args.cells, f"check kept {len(checked.cells)} of {args.cells} cells")
    check(text.count("\ncell ") == args.cells, "the generator wrote the wrong number of cells")
    outputs = asyncio.run(stage.handle(envelope, ctx))
    ingest = [e for e in outputs if e.type == "BeamEvent" and e.payload.get("stage") == "ingest"]
    check(len({e.cell_id for e in ingest}) == args.cells, f"the stage ingested {len(ingest)} of {args.cells} cells")
    check(not [e for e in outputs if e.type == "DeadLetter"], "the stage dead-lettered the sheet")
    parse_s = seconds(lambda: parse_sheet(text, "generated.codex"), repeats)
    check_s = seconds(lambda: compile_sheet(text, "generated.codex"), repeats)
    cells = [(c.id, c.expanded) for c in checked.cells]
    cost_s = seconds(lambda: sheet_costs(cells, checked.sheet.grid), repeats)
    stage_s = seconds(lambda: asyncio.run(stage.handle(envelope, ctx)), repeats)
    emit({
        "benchmark": "parse", "machine": machine(), "checked": True,
        "cells": len(checked.cells), "parsed_items": len(getattr(parsed, "cells", [])),
        "lines": text.count("\n"),
        "source_bytes": len(text.encode()),
        "parse_ms": spread((t * 1e3 for t in parse_s), 1),
        "parse_check_ms": spread((t * 1e3 for t in check_s), 1),
        "parse_check_us_per_cell": round(statistics.median(check_s) * 1e6 / len(checked.cells), 1),
        "cost_ms": spread((t * 1e3 for t in cost_s), 1),
        "stage_ms": spread((t * 1e3 for t in stage_s), 1),
        "stage_events": len(outputs),
        "repeats": repeats,
    })


if __name__ == "__main__":
    main()
