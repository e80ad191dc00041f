"""The Codex stage: a submitted sheet in, one ingest beam per cell out (stages.md "Codex").

For a sheet that checks, in this order: one ``EntanglementLink`` per EID (groups
ordered by their first cell), then per cell in topological order a
``BeamEvent(stage="ingest")`` and a ``GlyphExecution`` for the HUD. A sheet with
any error yields exactly one ``StageError`` listing every error, and nothing else.
The handler is pure: the same input gives the same events (ids from ``make_event``,
times from ``ctx.now()``), so redelivery is harmless.

Memory: ``stream`` yields those events one at a time. The whole sheet is checked
first (the syntax tree and, per cell, the size of its result; nothing a cell emits),
then each cell's result and events are built only as they are taken, so a runner
that takes them in bounded parts holds one part of a 10,000-cell sheet, not all of
its events at once. ``handle`` is ``stream`` collected into a list.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from contracts.envelope import Envelope, deterministic_event_id
from contracts.payloads import (
    BeamEvent,
    CodexErrorItem,
    CostDetail,
    EntanglementLink,
    GlyphExecution,
    SheetSubmitted,
    StageError,
)
from contracts.registry import MAX_MESSAGE_BYTES, make_event
from stages.base import StageContext
from stages.codex.checker import CheckedCell, CheckedSheet, compile_sheet
from stages.codex.cost import Cost, CostModel, sheet_costs
from stages.codex.eids import eid_for
from stages.codex.errors import CodexError, CodexLimitError, raise_all
from stages.codex.glyphs import token_glyph
from stages.codex.printer import to_source

MAX_REPORTED_ERRORS = 100
# Leave room for the envelope around the result.
MAX_RESULT_BYTES = MAX_MESSAGE_BYTES - 64 * 1024


class CodexStage:
    stage_id = "codex"
    input_topics = ("beamline.sheets",)

    def __init__(self, data_dir: str | None = None) -> None:
        self.data_dir = data_dir

    async def handle(self, envelope: Envelope, ctx: StageContext) -> list[Envelope]:
        """Called once per ``SheetSubmitted``; may be retried and then returns the same events."""
        return list(self.stream(envelope, ctx))

    def stream(self, envelope: Envelope, ctx: StageContext) -> Iterator[Envelope]:
        """``handle``'s events one at a time; every check has passed before the first one is yielded."""
        if envelope.type != SheetSubmitted.TYPE:
            return iter(())
        submitted = SheetSubmitted.model_validate(envelope.payload)
        try:
            checked = compile_sheet(submitted.source, submitted.filename, data_dir=self.data_dir)
            costs = sheet_costs([(c.id, c.expanded) for c in checked.cells], checked.sheet.grid,
                                CostModel.from_flags(ctx.flags))
            _check_sizes(checked, costs, submitted.seed)
        except RecursionError:
            error = CodexLimitError("sheet is nested too deeply to process", file=submitted.filename,
                                    code="too-deep")
            return iter([self.error_event(envelope, ctx, [error], submitted.source)])
        except CodexError as exc:
            return iter([self.error_event(envelope, ctx, exc.flatten(), submitted.source)])
        return self.events(envelope, ctx, submitted, checked, costs)

    def events(self, parent: Envelope, ctx: StageContext, submitted: SheetSubmitted, checked: CheckedSheet,
               costs: dict[str, Cost]) -> Iterator[Envelope]:
        run_id = parent.sheet_run_id
        container = submitted.container_id
        now = ctx.now()
        index = 0

        def event(payload: Any, *, eid: str | None, cell_id: str | None) -> Envelope:
            nonlocal index
            index += 1
            return make_event(payload, stage_id=self.stage_id, index=index - 1, parent=parent,
                              container_id=container, eid=eid, cell_id=cell_id,
                              flags_digest=ctx.flags_digest, occurred_at=now, instance=ctx.instance)

        for group in checked.groups:
            eid = eid_for(run_id, group)
            # The ↔ pairs as written (a ↔ b ↔ c gives a-b and b-c), for topology analysis.
            members = set(group)
            pairs = sorted({
                tuple(sorted(pair))
                for chain in checked.sheet.entanglements if set(chain) <= members
                for pair in zip(chain, chain[1:], strict=False)
            })
            yield event(EntanglementLink(eid=eid, members=list(group), sheet_run_id=run_id, container_id=container,
                                         links=[list(p) for p in pairs]), eid=eid, cell_id=None)
        for cell in checked.cells:
            eid = checked.eid_of(cell.id, run_id)
            glyph = token_glyph(cell.expr.op, cell.expr.value)
            cost = costs[cell.id]
            # Built again here rather than kept from the size check: one cell's result at a time.
            result = ingest_result(checked, cell, cost, submitted.seed)
            beam_id = deterministic_event_id(self.stage_id, parent.event_id, BeamEvent.TYPE, index)
            yield event(BeamEvent(beam_id=beam_id, cell_id=cell.id, sheet_run_id=run_id, container_id=container,
                                  eid=eid, stage="ingest", token=glyph, result=result, timestamp=now.isoformat(),
                                  generation=0), eid=eid, cell_id=cell.id)
            yield event(GlyphExecution(
                glyph=glyph, action=f"ingest {cell.id} : {result['source']}", source="codex",
                timestamp=now.timestamp(), cost=cost.total, cell_id=cell.id,
                detail=CostDetail(energy=cost.energy, ethics_risk=cost.ethics_risk, delay=cost.delay,
                                  opportunity_loss=cost.opportunity_loss),
            ), eid=eid, cell_id=cell.id)

    def error_event(self, parent: Envelope, ctx: StageContext, errors: list[CodexError], source: str) -> Envelope:
        items = [CodexErrorItem(**e.to_item(source)) for e in errors[:MAX_REPORTED_ERRORS]]
        if len(errors) > MAX_REPORTED_ERRORS:
            last = errors[MAX_REPORTED_ERRORS]
            more = CodexError(f"… and {len(errors) - MAX_REPORTED_ERRORS} more errors", file=last.file,
                              line=last.line, col=last.col, code="truncated")
            items.append(CodexErrorItem(**more.to_item(source)))
        return make_event(StageError(stage=self.stage_id, errors=items), stage_id=self.stage_id, index=0,
                          parent=parent, flags_digest=ctx.flags_digest, occurred_at=ctx.now(),
                          instance=ctx.instance)


def ingest_result(checked: CheckedSheet, cell: CheckedCell, cost: Cost, seed: int) -> dict[str, Any]:
    """The ``result`` of an ingest beam (team brief, "Pipeline data flow", step 1)."""
    return {
        "ast": cell.expr.to_json(),
        "expanded": cell.expanded.to_json(),
        "goal": cell.expanded_goal.to_json() if cell.expanded_goal is not None else None,
        "precision": cell.precision,
        "deps": list(cell.deps),
        "type": cell.type.to_json(),
        "shape": list(cell.shape),
        "grid": checked.sheet.grid.to_json(),
        "main_input": cell.main_input.to_json() if cell.main_input is not None else None,
        "cost": cost.to_json(),
        "seed": seed,
        "source": to_source(cell.expr),
    }


def _check_sizes(checked: CheckedSheet, costs: dict[str, Cost], seed: int) -> None:
    """Every cell whose result would not fit in a message, reported together (results not kept)."""
    errors: list[CodexError] = []
    for cell in checked.cells:
        size = len(orjson.dumps(ingest_result(checked, cell, costs[cell.id], seed)))
        if size > MAX_RESULT_BYTES:
            errors.append(CodexLimitError.at(cell.span, f"cell {cell.id} is too large to send ({size} bytes)",
                                             hint="lets are inlined wherever they are used; reuse fewer copies",
                                             code="too-large"))
    raise_all(errors)
