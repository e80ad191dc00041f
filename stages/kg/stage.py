"""The KG writer on the runner: keeps the store's kg_nodes / kg_edges current while a run goes.

Design: a stage stays pure — it never writes SQL — so the KG stage publishes no
events. It declares ``project(inputs, ctx) -> (nodes, edges)``: the rows a batch of
events implies (``stages.kg.projection``). The runner merges those rows into the
store's KG tables after persisting the batch and before acknowledging it
(``bus.runner``), then calls ``merged()``; a redelivered batch merges the same rows
again: the merge is idempotent (a known node keeps its provenance and gains only
new attributes). ``beamline kg rebuild`` still re-projects the whole log in one pass;
both give the same nodes and edges.

Only what is new is projected: the stage remembers, for the events whose rows were
merged (``merged()`` confirms it), the graph node each stands for (its anchor). A
batch projects its inputs not merged yet plus those of their causation ancestors
(and the parents DNAMutations name) that are not either, read from the store, so
``derived_from`` edges reach across batches; a remembered ancestor contributes its
anchor only (``projection.project_new`` says why the rows are the same). The memory
is bounded: a forgotten ancestor is read and projected again, which changes nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

from contracts.envelope import Envelope
from stages.base import StageContext
from stages.kg.projection import KGItem, project_new

_MAX_ANCESTRY_ROUNDS = 64  # a causation chain is a few stages deep per SPE generation
#: Merged events whose anchors are remembered: the window in which later events name them
#: (a run's root and a cell's early beams stay while they are named: least recently used goes).
ANCHORS_KEPT = 8192


class KGStage:
    stage_id = "kg"
    # Every topic that carries an event the KG projects (not control, HUD, basin or DLQ).
    input_topics = (
        "beamline.sheets", "beamline.codex", "beamline.photon", "beamline.qwave", "beamline.collapse",
        "beamline.sqi", "beamline.approved", "beamline.vetoes", "beamline.spe",
    )

    def __init__(self) -> None:
        # Event id -> the node it stands for, for events whose rows the runner merged.
        self._merged: OrderedDict[str, str] = OrderedDict()
        # Anchors of the events the last ``project`` call projected, until ``merged()``.
        self._pending: dict[str, str] = {}

    async def handle(self, envelope: Envelope, ctx: StageContext) -> list[Envelope]:
        """The KG emits no events; its rows come from ``project`` (see the module docstring)."""
        del envelope, ctx
        return []

    def project(self, inputs: Sequence[Envelope], ctx: StageContext) -> tuple[list[KGItem], list[KGItem]]:
        """Nodes and edges that ``inputs`` add to the merged KG (their unmerged ancestors included)."""
        merged = self._merged
        fresh = [env for env in inputs if env.event_id not in merged]
        events, named = with_ancestors(fresh, ctx, merged)
        anchored = {}
        for event_id in named:
            anchor = merged.get(event_id)
            if anchor is not None:
                anchored[event_id] = anchor
                merged.move_to_end(event_id)  # still named: keep it
        nodes, edges, anchors = project_new(events, anchored)
        # Events without an anchor are not remembered: projected again when named, as before.
        self._pending = {env.event_id: anchors[env.event_id] for env in events if env.event_id in anchors}
        return nodes, edges

    def merged(self) -> None:
        """The rows of the last ``project`` call are merged: remember its events as projected.

        Not called when the merge failed; the next ``project`` then starts from what was merged.
        """
        remembered = self._merged
        for event_id, anchor in self._pending.items():
            remembered[event_id] = anchor
            remembered.move_to_end(event_id)
        self._pending = {}
        while len(remembered) > ANCHORS_KEPT:
            remembered.popitem(last=False)


def with_ancestors(inputs: Sequence[Envelope], ctx: StageContext,
                   merged: Mapping[str, str] | None = None) -> tuple[list[Envelope], set[str]]:
    """``inputs`` preceded by every recorded event they descend from (causation, mutation parents)
    that is not in ``merged``, and the ids in ``merged`` that these events name.

    The walk stops at a merged event: its own ancestors were projected with it.
    """
    known: dict[str, Envelope] = {env.event_id: env for env in inputs}
    ancestors: dict[str, Envelope] = {}
    named_merged: set[str] = set()
    merged = merged or {}
    frontier = _named(inputs)
    for _ in range(_MAX_ANCESTRY_ROUNDS):
        wanted = frontier - known.keys() - ancestors.keys()
        held = {event_id for event_id in wanted if event_id in merged}
        named_merged |= held
        missing = sorted(wanted - held)
        if not missing:
            break
        found = ctx.reader.events(event_ids=missing)
        for env in found:
            ancestors[env.event_id] = env
        frontier = _named(found)
    # Ancestors are older than what they caused; the projection takes the first provenance it sees.
    ordered = sorted(ancestors.values(), key=lambda env: env.occurred_at)
    return [*ordered, *(env for env in inputs)], named_merged


def _named(envelopes: Sequence[Envelope]) -> set[str]:
    names: set[str] = set()
    for env in envelopes:
        if env.causation_id:
            names.add(env.causation_id)
        if env.type == "DNAMutation":
            names.update(p for p in env.payload.get("parents", []) if isinstance(p, str) and p)
    return names
