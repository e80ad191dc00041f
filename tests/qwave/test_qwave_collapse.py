"""Collapse in pure NumPy: observables, Born samples, goal operands, attractors, events (shared with Photon)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qwave_helpers import context, rewrite_beam

from contracts.registry import decode, encode
from stages.codex.ast import Node, call, num, ref
from stages.codex.goals import TARGET_KEY, operand_key
from stages.codex.grid import GridSpec
from stages.codex.interpreter import evaluate, observables
from stages.codex.operators import entropy
from stages.qwave import measure
from stages.qwave.collapse import collapse_events, collapse_result

GRID = GridSpec((8, 8), 0.125, "periodic")
U = call("gaussian")


def test_observables_are_the_interpreters_with_json_safe_numbers() -> None:
    field = evaluate(U, GRID)
    assert measure.observables(field, GRID) == observables(field, GRID)
    assert measure.observables(2.5, GRID)["energy"] == pytest.approx(3.125)
    assert measure.observables(True, GRID)["norm"] == 1.0
    broken = field.copy()
    broken[0, 0] = np.nan
    measured = measure.observables(broken, GRID)
    assert measured["finite"] is False and measured["norm"] is None and measured["max"] is None


def test_born_samples_are_seeded_and_follow_the_probabilities() -> None:
    psi = np.zeros((8, 8), dtype=complex)
    psi[1, 2], psi[5, 5] = 1.0, 1j
    draws = measure.born_samples(psi, 200, seed=3)
    assert draws == measure.born_samples(psi, 200, seed=3)
    assert draws != measure.born_samples(psi, 200, seed=4)
    assert set(draws) == {1 * 8 + 2, 5 * 8 + 5}
    assert measure.sample_seed("eid::a", "c") != measure.sample_seed("eid::b", "c")
    assert measure.sample_seed("eid::a", "c") == measure.sample_seed("eid::a", "c")
    with pytest.raises(ValueError, match="zero"):
        measure.born_samples(np.zeros(4), 3, seed=1)
    with pytest.raises(ValueError, match="sample count"):
        measure.born_samples(psi, measure.MAX_SAMPLES + 1, seed=1)


def test_goal_operands_are_evaluated_with_observables_bound() -> None:
    value = 0.5 * evaluate(U, GRID)
    measured = measure.observables(value, GRID)
    energy_u = call("energy", U)
    twice = Node("mul", (num(2.0), ref("energy")))
    goal = Node("and", (Node("lt", (ref("energy"), energy_u)), Node("gt", (twice, num(0.0)))))
    values = measure.goal_values(goal, value, GRID, measured, seed=0)
    assert values[operand_key(energy_u)] == evaluate(energy_u, GRID)
    assert values[operand_key(twice)] == pytest.approx(2 * measured["energy"])  # type: ignore[operator]


def test_target_goal_records_relative_error() -> None:
    target = evaluate(U, GRID)
    value = target + 0.1
    error = measure.goal_values(U, value, GRID, {}, seed=0)[TARGET_KEY]
    assert error == pytest.approx(float(np.linalg.norm(value - target) / np.linalg.norm(target)))
    assert measure.goal_values(Node("empty"), value, GRID, {}, seed=0)[TARGET_KEY] is None


def test_input_entropy_and_attractor() -> None:
    field = evaluate(U, GRID)
    assert measure.input_entropy(U, GRID, seed=0) == pytest.approx(float(entropy(field, np)))
    assert measure.input_entropy(None, GRID, seed=0) is None
    assert measure.attractor(1e-9)["converged"] is True
    assert measure.attractor(0.5)["converged"] is False
    assert measure.attractor(None) == {"converged": False, "last_step_norm": None,
                                       "epsilon": measure.ATTRACTOR_EPSILON}
    assert measure.attractor(math.inf)["last_step_norm"] is None


def test_collapse_events_for_the_symbolic_route() -> None:
    u = ref("u")
    evolve = Node("evolve", (num(30), U, Node("mul", (num(0.5), u))), value="u")
    beam = rewrite_beam(evolve, GRID, route="symbolic", goal=Node("lt", (ref("norm"), num(1.0))), main_input=U)
    value = evaluate(evolve, GRID)
    events = collapse_events(beam, value, adapter="photon", result_fields=beam.payload["result"], ctx=context(),
                             stage_id="photon", beam_index=3, evolve_last_step=1e-10)
    again = collapse_events(beam, value, adapter="photon", result_fields=beam.payload["result"], ctx=context(),
                            stage_id="photon", beam_index=3, evolve_last_step=1e-10)
    assert events == again
    collapse, trace = events
    assert collapse.type == "BeamEvent" and collapse.payload["stage"] == "collapse"
    assert collapse.payload["beam_id"] == collapse.event_id
    result = collapse.payload["result"]
    assert result["route"] == "symbolic" and result["attractor"]["converged"] is True
    assert "rules" not in result and result["normal_key"] == beam.payload["result"]["normal_key"]
    assert trace.payload["adapter"] == "photon" and "⟲30" in trace.payload["expression"]
    ids = trace.payload["hologram"]["signature_block"]
    assert ids["vault_snapshot_id"].startswith("vault_") and ids["qglyph_id"].startswith("qglyph_")
    for event in events:
        assert decode(encode(event)) == event


def test_signature_ids_are_content_hashes() -> None:
    beam = rewrite_beam(U, GRID)
    fields = beam.payload["result"]

    def ids(eid: str, value: np.ndarray) -> dict[str, str]:
        result = collapse_result(value, fields, eid=eid, cell_id="c1", route="qwave")
        from stages.qwave.collapse import signature_block

        return signature_block(eid=eid, cell_id="c1", normal_key=fields["normal_key"],
                               normal_form=fields["normal_form"], observables=result["observables"]).model_dump()

    base = evaluate(U, GRID)
    first, other_eid, other_value = ids("e1", base), ids("e2", base), ids("e1", 2 * base)
    assert first == ids("e1", base)
    assert first["ghx_projection_id"] != other_eid["ghx_projection_id"]
    assert first["vault_snapshot_id"] == other_eid["vault_snapshot_id"]
    assert first["vault_snapshot_id"] != other_value["vault_snapshot_id"]
    assert first["qglyph_id"] == other_value["qglyph_id"]
