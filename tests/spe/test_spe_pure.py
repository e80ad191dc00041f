"""SPE's pure parts: motif mining, attractors, topology, repair rewrites, fusion choice."""

from __future__ import annotations

import math

from stages.codex.ast import Node, call, num, ref
from stages.spe.fusion import recombine_from_beams
from stages.spe.motifs import entanglement_topology, is_attractor, mine_subtree_motifs
from stages.spe.repair import regularise, repair_from_drift, smaller_dt

U = call("gaussian")
GRAD_U = Node("grad", (U,))
FLUX = Node("outer", (GRAD_U, GRAD_U))


def test_a_subexpression_shared_by_three_cells_is_a_motif() -> None:
    forms = {
        "a": Node("add", (FLUX, num(1))),
        "b": Node("mul", (num(2), FLUX)),
        "c": Node("call", (FLUX,), value="norm"),
        "d": Node("lap", (U,)),
    }
    motifs = mine_subtree_motifs(forms, min_support=3)
    assert [m.subtree for m in motifs] == [FLUX]
    assert motifs[0].cells == ("a", "b", "c")


def test_no_motif_below_min_support() -> None:
    forms = {"a": Node("add", (FLUX, num(1))), "b": Node("lap", (U,))}
    assert mine_subtree_motifs(forms, min_support=2) == []


def test_attractor_needs_a_converged_last_step() -> None:
    assert is_attractor({"converged": True, "last_step_norm": 1e-9})
    assert not is_attractor({"converged": False, "last_step_norm": 0.3})
    assert not is_attractor(None)


def test_topology_finds_components_and_cycles() -> None:
    topo = entanglement_topology([("a", "b"), ("b", "c"), ("c", "a"), ("x", "y")])
    assert topo.components == [["a", "b", "c"], ["x", "y"]]
    assert topo.cycles == [["a", "b", "c"]]


def test_regularise_rewrites_quotients_and_square_roots() -> None:
    expr = Node("truediv", (ref("x"), call("sin", ref("x"))))
    patched = regularise(expr)
    assert patched.op == "truediv"
    assert patched.args[0] == Node("mul", (ref("x"), call("sin", ref("x"))))
    assert regularise(call("sqrt", ref("x"))) == call("sqrt", call("abs", ref("x")))


def test_smaller_dt_scales_the_diffusion_coefficient_and_keeps_simulated_time() -> None:
    body = Node("add", (ref("u"), Node("mul", (num(0.5), Node("lap", (ref("u"),))))))
    evolve = Node("evolve", (num(10), U, body), value="u")
    patched = smaller_dt(evolve, cfl=4.5)
    steps, _, new_body = patched.args
    factor = 0.9 / 4.5
    assert steps.value == 50  # ceil(10 / 0.2)
    assert new_body.args[1].args[0].value == 0.5 * factor


def test_repair_prefers_cfl_then_non_finite() -> None:
    body = Node("add", (ref("u"), Node("mul", (num(0.5), Node("lap", (ref("u"),))))))
    evolve = Node("evolve", (num(10), U, body), value="u")
    report = {"normal_form": evolve.to_json(), "observables": {"finite": False},
              "cost": {"risk_flags": ["cfl_unstable"], "cfl": 3.0}}
    repair = repair_from_drift(report)
    assert repair is not None and repair.cause == "cfl_unstable"
    quotient = Node("truediv", (num(1), call("sin", ref("x"))))
    repair = repair_from_drift({"normal_form": quotient.to_json(), "observables": {"finite": False}, "cost": {}})
    assert repair is not None and repair.cause == "non_finite"
    assert repair_from_drift({"normal_form": quotient.to_json(), "observables": {"finite": True}, "cost": {}}) is None


def _beam(cell: str, qscore: float, form: Node, stage: str = "approved", shape=(8, 8)) -> dict:
    return {"cell_id": cell, "stage": stage, "result": {
        "score": {"qscore": qscore}, "normal_form": form.to_json(), "normal_key": cell + "k",
        "shape": list(shape), "type": {"kind": "field", "components": None, "time": False}}}


def test_fusion_superposes_the_top_two_compatible_approved_beams() -> None:
    a, b, c = Node("lap", (U,)), call("sin", ref("x")), call("cos", ref("y"))
    beams = [_beam("a", 0.9, a), _beam("b", 0.7, b), _beam("c", 0.8, c), _beam("v", 1.0, a, stage="vetoed")]
    fusion = recombine_from_beams(beams)
    assert fusion is not None
    assert [p["cell_id"] for p in fusion.parents] == ["a", "c"]
    assert fusion.fused == Node("oplus", (a, c))


def test_fusion_never_mixes_shapes() -> None:
    beams = [_beam("a", 0.9, U), _beam("b", 0.8, U, shape=(8, 8, 2))]
    assert recombine_from_beams(beams) is None


GRID_32 = {"shape": [32, 32], "spacing": 1 / 32, "boundary": "periodic"}


def _evolve(body: Node, steps: int = 40) -> Node:
    return Node("evolve", (num(steps), U, body), value="u")


def _cfl(node: Node) -> float | None:
    from stages.codex.cost import estimate_cost
    from stages.codex.grid import GridSpec

    return estimate_cost(node, GridSpec.from_json(GRID_32)).cfl


def test_cfl_repair_of_a_step_without_a_coefficient_inserts_one_and_is_stable() -> None:
    from stages.codex.checker import type_of_expanded
    from stages.codex.grid import GridSpec

    unstable = _evolve(Node("add", (ref("u"), Node("lap", (ref("u"),)))))  # u ← u + Δu
    cfl = _cfl(unstable)
    assert cfl is not None and cfl > 1
    report = {"normal_form": unstable.to_json(), "observables": {"finite": False}, "grid": GRID_32,
              "cost": {"risk_flags": ["cfl_unstable"], "cfl": cfl}}
    repair = repair_from_drift(report)
    assert repair is not None and repair.cause == "cfl_unstable"
    steps, _, body = repair.patched.args
    assert body.args[1] == Node("mul", (num(0.9 / cfl), Node("lap", (ref("u"),))))
    assert steps.value == math.ceil(40 * cfl / 0.9)
    after = _cfl(repair.patched)
    assert after is not None and after <= 0.9 + 1e-9
    assert repair.detail["cfl_after"] == after
    type_of_expanded(repair.patched, GridSpec.from_json(GRID_32))  # still a well-typed cell


def test_cfl_repair_scales_a_product_without_a_literal_by_a_binary_factor() -> None:
    k_lap = Node("div", (Node("mul", (call("const", num(1.0)), Node("grad", (ref("u"),)))),))
    patched = smaller_dt(_evolve(Node("add", (ref("u"), Node("mul", (ref("x"), k_lap))))), cfl=5.0)
    term = patched.args[2].args[1]
    assert term == Node("mul", (num(0.9 / 5.0), Node("mul", (ref("x"), k_lap))))
    assert all(len(n.args) == 2 for n in patched.walk() if n.op == "mul")


def test_cfl_repair_scales_a_subtracted_diffusion_term_too() -> None:
    body = Node("sub", (ref("u"), Node("mul", (num(-0.002), Node("lap", (ref("u"),))))))
    cfl = _cfl(_evolve(body))
    assert cfl is not None and cfl > 1
    repaired = smaller_dt(_evolve(body), cfl)
    after = _cfl(repaired)
    assert after is not None and after <= 0.9 + 1e-9
