"""Collapse: a computed value becomes observables and the collapse events (no JAX here).

Used by QWave (adapter ``"qwave"``) and by Photon's symbolic route (adapter
``"photon"``). ``collapse_events`` is the one entry point; ``collapse_result``
gives the result block alone. Everything it emits is a pure function of the
parent event, the value and the cell's fields, so a redelivered input yields the
same events (ids from ``make_event``, content-hash ids in the hologram).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from contracts.envelope import Envelope, deterministic_event_id
from contracts.payloads import BeamEvent, CollapseTrace, Hologram, SignatureBlock
from contracts.registry import digest, make_event
from stages.base import StageContext
from stages.codex.ast import Node
from stages.codex.grid import GridSpec
from stages.codex.printer import to_source
from stages.qwave import measure

Adapter = Literal["qwave", "photon"]
# The rewrite trace stays on the rewrite beam (lineage links the two); nothing after
# collapse reads it, and it can be the largest part of a result.
NOT_CARRIED = frozenset({"rules", "rules_truncated", "shared"})


def signature_block(
    *, eid: str | None, cell_id: str, normal_key: str, normal_form: Mapping[str, Any],
    observables: Mapping[str, Any],
) -> SignatureBlock:
    """Content-hash ids: projection = (eid, cell, normal_key), snapshot = observables, qglyph = normal form."""
    return SignatureBlock(
        ghx_projection_id="ghx_" + digest({"eid": eid, "cell": cell_id, "normal_key": normal_key}, 32),
        vault_snapshot_id="vault_" + digest(dict(observables), 32),
        qglyph_id="qglyph_" + digest(dict(normal_form), 32),
    )


def collapse_result(
    value: object,
    result_fields: Mapping[str, Any],
    *,
    eid: str | None,
    cell_id: str,
    route: str,
    evolve_last_step: float | None = None,
    attractor_epsilon: float = measure.ATTRACTOR_EPSILON,
    normal_form: Node | None = None,
) -> dict[str, Any]:
    """The collapse beam's result: ``result_fields`` (minus the rewrite trace ``NOT_CARRIED``)
    + observables, goal values, input entropy, attractor, route.

    ``result_fields`` must hold ``normal_form`` and ``grid`` (the rewrite result);
    ``goal``, ``main_input`` and ``seed`` are used when present. When the normal form
    is ``sample(ψ, n)``, ``value`` is the sampled field ψ: observables are of ψ
    and ``samples`` holds the n drawn flat indices (key from EID and cell, or the
    literal ``seed=`` of the call). For an evolve cell ``evolve_last_step`` is
    ‖x_n − x_{n−1}‖ of its last step (QWave's loop returns it; the interpreter's
    ``evaluate_with_trace(...).evolve.last_step_norm``); ``attractor`` is null otherwise.
    ``normal_form`` may pass the already parsed ``result_fields["normal_form"]``.
    """
    grid = GridSpec.from_json(dict(result_fields["grid"]))
    if normal_form is None:
        normal_form = Node.from_json(result_fields["normal_form"])
    seed = int(result_fields.get("seed") or 0)
    measured = measure.observables(value, grid)
    goal_json = result_fields.get("goal")
    goal = Node.from_json(goal_json) if goal_json else None
    main_json = result_fields.get("main_input")
    out = {name: field for name, field in result_fields.items() if name not in NOT_CARRIED}
    out["observables"] = measured
    if is_sample_cell(normal_form):
        count, explicit_seed = sample_arguments(normal_form)
        seed_used = explicit_seed if explicit_seed is not None else measure.sample_seed(eid, cell_id)
        out["samples"] = measure.born_samples(value, count, seed_used)
    out["goal_values"] = measure.goal_values(goal, value, grid, measured, seed=seed)
    out["input_entropy"] = measure.input_entropy(Node.from_json(main_json) if main_json else None, grid, seed=seed)
    is_evolve = normal_form.op == "evolve"
    out["attractor"] = measure.attractor(evolve_last_step, epsilon=attractor_epsilon) if is_evolve else None
    out["route"] = route
    return out


def is_sample_cell(normal_form: Node) -> bool:
    return normal_form.op == "call" and normal_form.value == "sample"


def sample_arguments(normal_form: Node) -> tuple[int, int | None]:
    """(n, explicit seed or None) of a top-level ``sample(ψ, n[, seed=s])`` (literals after folding)."""
    if len(normal_form.args) != 2:
        raise ValueError("sample(ψ, n) takes a field and a count")
    count = _literal_int(normal_form.args[1], "sample count")
    seed_node = normal_form.kwargs().get("seed")
    return count, (_literal_int(seed_node, "sample seed") if seed_node is not None else None)


def _literal_int(node: Node, what: str) -> int:
    raw = node.value
    if node.op != "num" or not isinstance(raw, int | float) or isinstance(raw, bool) or float(raw) != int(raw):
        raise ValueError(f"{what} must be an integer literal, got {to_source(node)}")
    if int(raw) < 0:
        raise ValueError(f"{what} must be non-negative, got {int(raw)}")
    return int(raw)


def collapse_events(
    parent: Envelope,
    value: object,
    *,
    adapter: Adapter,
    result_fields: Mapping[str, Any],
    ctx: StageContext,
    stage_id: str,
    beam_index: int = 1,
    trace_index: int = 0,
    identity: str = "user",
    evolve_last_step: float | None = None,
) -> list[Envelope]:
    """``[BeamEvent(stage="collapse"), CollapseTrace]`` for one computed value.

    ``parent`` is the input event being handled (its ids, EID, cell, generation and
    token carry over); ``stage_id`` is the emitting stage (``"qwave"``/``"photon"``);
    ``beam_index``/``trace_index`` are the ``make_event`` indices, which must not
    collide with the caller's other outputs of the same type for this parent.
    ``evolve_last_step``: see ``collapse_result``. May raise ValueError (bad sample
    count, target shape mismatch) and the interpreter's errors for goal operands;
    the caller turns them into a StageError.
    """
    parent_payload = parent.payload
    cell_id = parent.cell_id or str(parent_payload.get("cell_id", ""))
    route = "qwave" if adapter == "qwave" else "symbolic"
    normal_form = Node.from_json(result_fields["normal_form"])
    result = collapse_result(value, result_fields, eid=parent.eid, cell_id=cell_id, route=route,
                             evolve_last_step=evolve_last_step, normal_form=normal_form)
    now = ctx.now()
    beam = BeamEvent(
        beam_id=deterministic_event_id(stage_id, parent.event_id, BeamEvent.TYPE, beam_index),
        cell_id=cell_id,
        sheet_run_id=parent.sheet_run_id,
        container_id=parent.container_id,
        eid=parent.eid,
        stage="collapse",
        token=str(parent_payload.get("token", "")),
        result=result,
        timestamp=now.isoformat(),
        generation=int(parent_payload.get("generation", 0)),
    )
    normal_form_json = dict(result_fields["normal_form"])
    output: dict[str, Any] = {"observables": result["observables"]}
    if "samples" in result:
        output["samples"] = result["samples"]
    trace = CollapseTrace(
        expression=to_source(normal_form),
        output=output,
        adapter=adapter,
        identity=identity,
        timestamp=now.timestamp(),
        hologram=Hologram(
            signature_block=signature_block(
                eid=parent.eid, cell_id=cell_id, normal_key=str(result_fields.get("normal_key", "")),
                normal_form=normal_form_json, observables=result["observables"],
            ),
            trigger_metadata={"cell_id": cell_id, "route": route, "parent_event_id": parent.event_id},
        ),
    )
    return [
        make_event(beam, stage_id=stage_id, index=beam_index, parent=parent, occurred_at=now,
                   flags_digest=ctx.flags_digest, instance=ctx.instance),
        make_event(trace, stage_id=stage_id, index=trace_index, parent=parent, occurred_at=now,
                   flags_digest=ctx.flags_digest, instance=ctx.instance),
    ]
