"""The Photon stage: ingest beams in; rewrite (predict, deferred) beams and symbolic collapses out.

Per ingest beam (any other input is ignored):

1. ``normalize`` the cell's expanded AST (cost-chosen canonical form + trace);
2. ``verify`` it on k random smooth inputs; a failed check keeps the original form;
3. route it (``routing.py``): heavy cells to QWave, the rest symbolic — or defer
   heavy cells while QWave's backlog (``ctx.backlog["qwave"]``) is over its limit:
   then the input's only outputs are its deferred beams (one per heavy form, ids
   distinct per attempt) and the runner hands it back later (``ctx.deferrals``);
   the routed beams of the final attempt are exactly those of an undeferred run
   (same ids and payloads), so ``replay --rerun`` does not depend on load;
4. emit ``BeamEvent(stage="rewrite")`` — or, with PHASE9_ENABLED, one
   ``BeamEvent(stage="predict")`` per fork (up to 3 distinct equivalent forms, the
   normal form is fork 0), each carrying its route: QWave runs rewrite and predict
   beams alike, so every form is routed exactly once. For the symbolic route Photon
   also emits the collapse beam and ``CollapseTrace`` (adapter "photon").

The handler is pure and deterministic (ids from ``make_event``, time from
``ctx.now()``): a redelivered input yields the same events. Its caches only save
work, so a repeated structure costs almost nothing: the plan (normal form,
verification, costs, shared subtrees — a pure function of the input's canonical
key, the grid and the number of forms), and below it the normal forms and the
verification results; and the symbolic route's values (``symbolic.Evaluations``).
All are bounded LRUs (``memo.py``). Errors become a ``StageError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from contracts.envelope import Envelope, deterministic_event_id
from contracts.payloads import BeamEvent, CodexErrorItem, StageError
from contracts.registry import make_event
from stages.base import StageContext
from stages.codex.ast import Node
from stages.codex.grid import GridSpec
from stages.photon.beams import FormReport, rewrite_result
from stages.photon.costing import CostModel
from stages.photon.memo import BoundedLRU
from stages.photon.normalize import Candidate, RewriteOutcome, normalize
from stages.photon.routing import decide_route
from stages.photon.symbolic import Evaluations, symbolic_collapse
from stages.photon.terms import node_key, shared_subtrees
from stages.photon.verify import DEFAULT_K, VerificationCache, verify

MAX_FORKS = 3
# make_event indices of deferred beams: apart from the routed beams' (0, 1, ...) and distinct per attempt.
DEFERRED_INDEX = 1000
OUTCOME_CACHE_SIZE = 1024
PLAN_CACHE_SIZE = 1024
Plan = tuple[tuple[FormReport, ...], dict[str, Any]]


class PhotonStage:
    stage_id = "photon"
    input_topics = ("beamline.codex",)
    # The runner reads QWave's backlog (its group's unacknowledged messages on our output topic).
    watches_backlog = {"qwave": ("beamline.photon",)}

    def __init__(self, data_dir: str | None = None, k: int = DEFAULT_K) -> None:
        self.data_dir = data_dir
        self.k = k
        self.verifications = VerificationCache()
        self._outcomes: BoundedLRU[str, RewriteOutcome] = BoundedLRU(OUTCOME_CACHE_SIZE)
        self._plans: BoundedLRU[str, Plan] = BoundedLRU(PLAN_CACHE_SIZE)
        self.evaluations = Evaluations()

    async def handle(self, envelope: Envelope, ctx: StageContext) -> list[Envelope]:
        """Called once per input; may be retried and then returns the same events."""
        if envelope.type != BeamEvent.TYPE or envelope.payload.get("stage") != "ingest":
            return []
        emitter = _Emitter(envelope, ctx, self.stage_id)
        try:
            beam = BeamEvent.model_validate(envelope.payload)
            ingest = beam.result
            expanded = Node.from_json(ingest["expanded"])
            grid = GridSpec.from_json(dict(ingest["grid"]))
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            emitter.error(f"malformed ingest beam: {exc}", "bad-input")
            return emitter.out
        phase9 = bool(ctx.flags.get("PHASE9_ENABLED", False))
        try:
            forms, cost_before = self.plan(expanded, grid, MAX_FORKS if phase9 else 1)
        except RecursionError:
            emitter.error("expression is nested too deeply to rewrite", "too-deep")
            return emitter.out
        backlog = ctx.backlog.get("qwave")
        decisions = [decide_route(_flops(f, ingest), ctx.flags, backlog=backlog, attempt=ctx.deferrals) for f in forms]
        deferring = any(d.deferred for d in decisions)
        for index, (form, decision) in enumerate(zip(forms, decisions, strict=True)):
            if deferring and not decision.deferred:
                continue  # a deferred input is handled again whole: its light forms wait too
            fork = index if phase9 else None
            result = rewrite_result(
                ingest, form, cost_before=cost_before, decision=decision, fork=fork,
                fork_count=len(forms) if phase9 else None,
            )
            if decision.deferred:
                emitter.beam(beam, "deferred", result, index=DEFERRED_INDEX + ctx.deferrals * MAX_FORKS + index)
                continue
            # With forks, each fork's predict beam is its routed beam (QWave runs rewrite and predict
            # beams alike), so a fork is run exactly once; without forks the rewrite beam is.
            emitter.beam(beam, "predict" if phase9 else "rewrite", result)
            if decision.route == "symbolic":
                self.collapse(emitter, result)
        return emitter.out

    def plan(self, expanded: Node, grid: GridSpec, forms: int) -> tuple[list[FormReport], dict[str, Any]]:
        """The verified form(s) to send on — the normal form first, then distinct alternatives.

        A pure function of (the canonical key of ``expanded``, ``grid``, ``forms``, k), so it is
        remembered by them: the key fixes ``expanded``'s JSON (spans, which nothing emitted
        carries, aside), and normalising, verifying and costing read nothing else.
        """
        cache_key = f"{node_key(expanded)}|{grid!r}|{forms}|{self.k}"
        hit = self._plans.get(cache_key)
        if hit is None:
            hit = self._plan(expanded, grid, forms)
            self._plans.put(cache_key, hit)
        reports, cost_before = hit
        return list(reports), cost_before

    def _plan(self, expanded: Node, grid: GridSpec, forms: int) -> Plan:
        outcome = self.normalise(expanded, grid, alternatives=forms > 1)
        reports: list[FormReport] = []
        seen: set[str] = set()
        model = CostModel(grid)
        for candidate in outcome.alternatives(forms) if forms > 1 else [outcome.candidates[0]]:
            report = self.check(expanded, candidate, grid, model)
            if report.key in seen:
                continue
            seen.add(report.key)
            reports.append(report)
        return tuple(reports), outcome.cost_before

    def normalise(self, expanded: Node, grid: GridSpec, *, alternatives: bool) -> RewriteOutcome:
        cache_key = f"{node_key(expanded)}|{grid!r}|{alternatives}"
        hit = self._outcomes.get(cache_key)
        if hit is None:
            hit = normalize(expanded, grid, alternatives=alternatives)
            self._outcomes.put(cache_key, hit)
        return hit

    def check(self, expanded: Node, candidate: Candidate, grid: GridSpec, model: CostModel) -> FormReport:
        """Verify one candidate; a failed check reports the original form (and why)."""
        if candidate.node == expanded:
            return FormReport(expanded, candidate.key, (), _cost(model, expanded), 1.0, None, candidate.name)
        verification = verify(expanded, candidate.node, grid, candidate.steps, k=self.k, cache=self.verifications)
        if not verification.ok:
            return FormReport(
                expanded, node_key(expanded), candidate.steps, _cost(model, expanded), verification.success_prob,
                verification, candidate.name, tuple(shared_subtrees(expanded)), kept_original=True,
            )
        return FormReport(
            candidate.node, candidate.key, candidate.steps, _cost(model, candidate.node),
            verification.success_prob, verification, candidate.name, tuple(shared_subtrees(candidate.node)),
        )

    def collapse(self, emitter: _Emitter, result: dict[str, Any]) -> None:
        from stages.codex.interp_errors import InterpreterError

        try:
            emitter.out.extend(symbolic_collapse(
                emitter.parent, result, emitter.ctx, stage_id=self.stage_id,
                beam_index=emitter.take("BeamEvent"), trace_index=emitter.take("CollapseTrace"),
                data_dir=self.data_dir, evaluations=self.evaluations,
            ))
        except (InterpreterError, ValueError, ArithmeticError) as exc:
            emitter.error(f"symbolic evaluation failed: {exc}", "evaluation-failed")


class _Emitter:
    """Collects the output envelopes with per-type ``make_event`` indices that never collide."""

    def __init__(self, parent: Envelope, ctx: StageContext, stage_id: str) -> None:
        self.parent = parent
        self.ctx = ctx
        self.stage_id = stage_id
        self.out: list[Envelope] = []
        self._next: dict[str, int] = {}

    def take(self, event_type: str) -> int:
        index = self._next.get(event_type, 0)
        self._next[event_type] = index + 1
        return index

    def beam(self, ingest: BeamEvent, stage: str, result: dict[str, Any], index: int | None = None) -> None:
        index = self.take(BeamEvent.TYPE) if index is None else index
        now = self.ctx.now()
        payload = BeamEvent(
            beam_id=deterministic_event_id(self.stage_id, self.parent.event_id, BeamEvent.TYPE, index),
            cell_id=ingest.cell_id, sheet_run_id=ingest.sheet_run_id, container_id=ingest.container_id,
            eid=ingest.eid, stage=stage, token=ingest.token, result=result, timestamp=now.isoformat(),  # type: ignore[arg-type]
            generation=ingest.generation,
        )
        self.out.append(self._event(payload, index))

    def error(self, message: str, code: str) -> None:
        item = CodexErrorItem(message=message, file="<photon>", line=0, col=0, hint=None, code=code,
                              rendered=f"photon: {message}")
        self.out.append(self._event(StageError(stage=self.stage_id, errors=[item], cell_id=self.parent.cell_id),
                                    self.take(StageError.TYPE)))

    def _event(self, payload: BeamEvent | StageError, index: int) -> Envelope:
        return make_event(payload, stage_id=self.stage_id, index=index, parent=self.parent,
                          flags_digest=self.ctx.flags_digest, occurred_at=self.ctx.now(),
                          instance=self.ctx.instance)


def _flops(form: FormReport, ingest: Mapping[str, Any]) -> float:
    for cost in (form.cost_after, ingest.get("cost") or {}):
        flops = cost.get("flops") if isinstance(cost, Mapping) else None
        if isinstance(flops, int | float) and not isinstance(flops, bool):
            return float(flops)
    return 0.0


def _cost(model: CostModel, node: Node) -> dict[str, Any]:
    try:
        return model.cost_json(node)
    except Exception as exc:  # noqa: BLE001 - the beam records why no cost is known
        return {"error": f"{type(exc).__name__}: {exc}"}
