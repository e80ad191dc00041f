"""Photon's caches: bounded, and invisible in what the stage emits (a cached answer is the computed one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from contracts.payloads import SheetSubmitted
from contracts.registry import encode, make_event
from stages.codex.ast import Node, call, num
from stages.codex.stage import CodexStage
from stages.photon.memo import BoundedLRU
from stages.photon.stage import PhotonStage
from stages.photon.symbolic import Evaluations, evaluate_form
from tests.photon.helpers import GRID2
from tests.photon.test_stage import T0, beams, context

# Two cells of one structure (different names), and one that draws from the run's seed.
REPEATED = """sheet photon_memo
grid 16x16 spacing 0.0625 boundary periodic
let u = gaussian(center=(0.5, 0.5), width=0.2)
let w = random()
cell first  : ∇·(∇u) + 0.5*u     goal: energy < energy(u)
cell second : ∇·(∇u) + 0.5*u     goal: energy < energy(u)
cell noisy  : Δw + w - w
"""


def test_bounded_lru_keeps_the_most_recent() -> None:
    cache: BoundedLRU[str, int] = BoundedLRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert len(cache) == 2 and cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    assert (cache.hits, cache.misses) == (3, 1)
    with pytest.raises(ValueError):
        BoundedLRU(0)


async def _ingest(seed: int) -> dict[str, object]:
    submitted = SheetSubmitted(sheet_run_id=f"memo{seed}", container_id="c1", source=REPEATED, seed=seed)
    root = make_event(submitted, stage_id="cli", index=0, sheet_run_id=f"memo{seed}", occurred_at=T0)
    out = await CodexStage().handle(root, context())
    return {e.cell_id: e for e in out if e.type == "BeamEvent" and e.cell_id}


async def test_a_repeated_structure_is_answered_from_memory_with_the_same_events() -> None:
    cells = await _ingest(5)
    stage = PhotonStage()
    await stage.handle(cells["first"], context())  # type: ignore[arg-type]
    plans, values = stage._plans.hits, stage.evaluations.values.hits
    remembered = await stage.handle(cells["second"], context())  # type: ignore[arg-type]
    assert stage._plans.hits == plans + 1 and stage.evaluations.values.hits == values + 1
    computed = await PhotonStage().handle(cells["second"], context())  # type: ignore[arg-type]
    assert [encode(e) for e in remembered] == [encode(e) for e in computed]
    # Each beam owns its payload: remembered costs are copied, not shared between beams.
    first_cost = beams(await stage.handle(cells["first"], context()), "rewrite")[0]["result"]["cost"]  # type: ignore[arg-type]
    second_cost = beams(remembered, "rewrite")[0]["result"]["cost"]
    assert first_cost == second_cost and first_cost["risk_flags"] is not second_cost["risk_flags"]


async def test_values_drawn_from_the_seed_are_remembered_per_seed() -> None:
    stage = PhotonStage()
    by_seed = {}
    for seed in (5, 6, 5):
        cell = (await _ingest(seed))["noisy"]
        events = await stage.handle(cell, context())  # type: ignore[arg-type]
        fresh = await PhotonStage().handle(cell, context())  # type: ignore[arg-type]
        assert [encode(e) for e in events] == [encode(e) for e in fresh]
        by_seed[seed] = beams(events, "collapse")[0]["result"]["observables"]
    assert by_seed[5] != by_seed[6]


def test_evaluations_hand_out_copies() -> None:
    evaluations = Evaluations()
    form = call("random")
    first, _ = evaluations.evaluate(form.to_json(), GRID2, seed=3, data_dir=None)
    expected = first.copy()
    first[...] = 0.0  # a caller scribbling on its value
    again, _ = evaluations.evaluate(form.to_json(), GRID2, seed=3, data_dir=None)
    np.testing.assert_array_equal(again, expected)
    other, _ = evaluations.evaluate(form.to_json(), GRID2, seed=4, data_dir=None)
    np.testing.assert_array_equal(other, evaluate_form(form, GRID2, seed=4, data_dir=None)[0])
    assert not np.array_equal(other, expected)


def test_forms_that_load_files_are_not_remembered(tmp_path: Path) -> None:
    evaluations = Evaluations()
    form = Node("add", args=(call("load", Node("str", value="f.npy")), num(1)))
    np.save(tmp_path / "f.npy", np.zeros((16, 16)))
    before, _ = evaluations.evaluate(form.to_json(), GRID2, seed=0, data_dir=str(tmp_path))
    np.save(tmp_path / "f.npy", np.full((16, 16), 2.0))
    after, _ = evaluations.evaluate(form.to_json(), GRID2, seed=0, data_dir=str(tmp_path))
    assert float(np.max(before)) == 1.0 and float(np.max(after)) == 3.0
    assert len(evaluations.values) == 0
