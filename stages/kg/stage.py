"""The KG writer on the runner: keeps the store's kg_nodes / kg_edges current while a run goes.

Design: a stage stays pure — it never writes SQL — so the KG stage publishes no
events. It declares ``project(inputs, ctx) -> (nodes, edges)``: the rows a batch of
events implies (``stages.kg.projection``), computed over the inputs plus their
causation ancestors (and the parents DNAMutations name) read from the store, so
``derived_from`` edges reach across batches. The runner merges those rows into the
store's KG tables after persisting the batch and before acknowledging it
(``bus.runner``), so a redelivered batch merges the same rows again: the merge is
idempotent (a known node keeps its provenance and gains only new attributes).
``beamline kg rebuild`` still re-projects the whole log in one pass; both give
the same nodes and edges.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

from contracts.envelope import Envelope
from stages.base import StageContext
from stages.kg.projection import KGItem, project_kg

_MAX_ANCESTRY_ROUNDS = 64  # a causation chain is a few stages deep per SPE generation
_RECENT_KEPT = 1024  # events remembered for ancestry: about what a few batches hold


class KGStage:
    stage_id = "kg"
    # Every topic that carries an event the KG projects (not control, HUD, basin or DLQ).
    input_topics = (
        "beamline.sheets", "beamline.codex", "beamline.photon", "beamline.qwave", "beamline.collapse",
        "beamline.sqi", "beamline.approved", "beamline.vetoes", "beamline.spe",
    )

    def __init__(self) -> None:
        # The last events this stage was given, by id: most ancestors of a batch arrived in an
        # earlier one, so they need not be read back (and decoded) from the store.
        self._recent: OrderedDict[str, Envelope] = OrderedDict()

    async def handle(self, envelope: Envelope, ctx: StageContext) -> list[Envelope]:
        """The KG emits no events; its rows come from ``project`` (see the module docstring)."""
        del envelope, ctx
        return []

    def project(self, inputs: Sequence[Envelope], ctx: StageContext) -> tuple[list[KGItem], list[KGItem]]:
        """Nodes and edges implied by ``inputs``, their causation ancestors included."""
        events = with_ancestors(inputs, ctx, self._recent)
        # Inputs and the ancestors used now alike: a run's root and a cell's early beams are
        # ancestors of batch after batch, so they stay while they are in use.
        recent = self._recent
        for env in events:
            recent[env.event_id] = env
            recent.move_to_end(env.event_id)
        while len(recent) > _RECENT_KEPT:
            recent.popitem(last=False)
        return project_kg(events)


def with_ancestors(inputs: Sequence[Envelope], ctx: StageContext,
                   seen: Mapping[str, Envelope] | None = None) -> list[Envelope]:
    """``inputs`` preceded by every recorded event they descend from (causation, mutation parents).

    An ancestor found in ``seen`` (events already projected, by id) is taken from there; the
    rest are read from the store.
    """
    known: dict[str, Envelope] = {env.event_id: env for env in inputs}
    ancestors: dict[str, Envelope] = {}
    frontier = _named(inputs)
    for _ in range(_MAX_ANCESTRY_ROUNDS):
        wanted = sorted(frontier - known.keys() - ancestors.keys())
        if not wanted:
            break
        held = [seen[event_id] for event_id in wanted if seen is not None and event_id in seen]
        missing = [event_id for event_id in wanted if seen is None or event_id not in seen]
        found = held + (ctx.reader.events(event_ids=missing) if missing else [])
        for env in found:
            ancestors[env.event_id] = env
        frontier = _named(found)
    # Ancestors are older than what they caused; project_kg takes the first provenance it sees.
    ordered = sorted(ancestors.values(), key=lambda env: env.occurred_at)
    return [*ordered, *(env for env in inputs)]


def _named(envelopes: Sequence[Envelope]) -> set[str]:
    names: set[str] = set()
    for env in envelopes:
        if env.causation_id:
            names.add(env.causation_id)
        if env.type == "DNAMutation":
            names.update(p for p in env.payload.get("parents", []) if isinstance(p, str) and p)
    return names
