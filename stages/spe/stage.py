"""The SPE stage: motifs, attractors, topology, fusion and repair of decided beams.

Input: ``BeamEvent(stage=approved|vetoed)``. Everything SPE emits is a function
of recorded events, never of arrival order:

* subtree motifs are mined over the run's ingest cells (fixed once Codex has run)
  and emitted by the first cell (by id) that contains the motif;
* an EID is fused once all of its cells are decided; the fusion's id is keyed by
  its parent set, so whichever decision completes the EID, the event is the same;
* repairs depend only on the vetoed beam itself.
With SPE_AUTO_FUSE, candidates re-enter Photon as ingest beams ``<cell>.g<n>``,
deduplicated by Photon's normal_key across the container (``stages.spe.dedup``) and
capped at SPE_MAX_GENERATIONS.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from contracts.envelope import Envelope
from contracts.payloads import PatternMotif
from contracts.registry import canonical_json, make_event
from stages.base import StageContext
from stages.codex.ast import Node
from stages.spe.candidates import Candidate, candidate_events, normal_key_of
from stages.spe.dedup import Claims, KnownKeys, NormalKeyIndex
from stages.spe.fusion import recombine_from_beams
from stages.spe.motifs import (
    DEFAULT_MIN_SUPPORT,
    entanglement_topology,
    is_attractor,
    mine_subtree_motifs,
)
from stages.spe.repair import repair_from_drift

DECISIONS = ("approved", "vetoed")
_OF_EID = ("BeamEvent", "EntanglementLink")  # what topology and fusion read of a beam's EID
_RUN_CACHE_SIZE = 8
_NORMAL_FORM_CACHE_SIZE = 4096


class SPEStage:
    stage_id = "spe"
    input_topics = ("beamline.approved", "beamline.vetoes")

    def __init__(self, min_support: int = DEFAULT_MIN_SUPPORT) -> None:
        self.min_support = min_support
        # Motifs of a run are a pure function of its ingest beams: cache, never state.
        self._run_motifs: OrderedDict[str, tuple[list[str], list[Any]]] = OrderedDict()
        self._keys = NormalKeyIndex()
        self._claims = Claims()
        # Normal forms by (expanded form, grid): Photon's normalize is a pure function of
        # both, and a sheet repeats a few structures many times.
        self._normal_forms: OrderedDict[bytes, Node] = OrderedDict()

    @staticmethod
    def _recorded_of_eid(env: Envelope, ctx: StageContext) -> list[Envelope]:
        """The EID's recorded BeamEvents and EntanglementLinks in store order (none without an EID)."""
        if env.eid is None:
            return []
        return ctx.reader.events(eid=env.eid, types=_OF_EID)

    async def handle(self, envelope: Envelope, ctx: StageContext) -> list[Envelope]:
        """Called once per decided beam; may be retried and then yields the same events."""
        if not _decided(envelope):
            return []
        # One read of the EID's recorded beams and link serves topology and fusion alike.
        return self._handle_decided(envelope, ctx, self._recorded_of_eid(envelope, ctx))

    async def handle_batch(self, envelopes: Sequence[Envelope], ctx: StageContext) -> list[list[Envelope]]:
        """``handle`` of each input in turn, with one read of the recorded beams and links of every
        EID among them instead of one read per input (``bus.batches``).

        The outputs ``handle`` gives for each input when the store is as it was at that read: each
        input's outputs are claimed before the next is handled, and a decision of an EID that is
        stored after the read comes in a later batch, which reads this batch's decisions (so the
        decision that completes an EID still sees all of them and fuses it).
        """
        eids = sorted({str(env.eid) for env in envelopes if _decided(env) and env.eid is not None})
        recorded: dict[str, list[Envelope]] = {eid: [] for eid in eids}
        if eids:
            for env in ctx.reader.events(eids=eids, types=_OF_EID):
                recorded[str(env.eid)].append(env)
        produced: list[list[Envelope]] = []
        for env in envelopes:
            decided = _decided(env)
            produced.append(self._handle_decided(env, ctx, recorded[str(env.eid)] if env.eid is not None else [])
                            if decided else [])
            if decided:
                # Give the loop a turn between inputs, as the runner does between ``handle`` calls:
                # a long batch must not starve a Kafka member's heartbeats.
                await asyncio.sleep(0)
        return produced

    def _handle_decided(self, envelope: Envelope, ctx: StageContext, of_eid: list[Envelope]) -> list[Envelope]:
        outputs: list[Envelope] = []
        outputs += self._subtree_motifs(envelope, ctx, index=len(outputs))
        outputs += self._attractor(envelope, ctx, index=len(outputs))
        outputs += self._topology(envelope, ctx, index=len(outputs), recorded=of_eid)
        if envelope.payload["stage"] == "vetoed":
            outputs += self._repair(envelope, ctx, index=len(outputs))
        outputs += self._fusion(envelope, ctx, recorded=of_eid)
        self._claims.record(outputs)
        return outputs

    # -- motifs ---------------------------------------------------------------------------
    def _motifs_of_run(self, run_id: str, ctx: StageContext) -> tuple[list[str], list[Any]]:
        cached = self._run_motifs.get(run_id)
        if cached is not None:
            self._run_motifs.move_to_end(run_id)
            return cached
        ingests = [
            env for env in ctx.reader.events(sheet_run_id=run_id, types=["BeamEvent"], stage="ingest")
            if env.payload.get("generation", 0) == 0
        ]
        order = [str(env.cell_id) for env in ingests]
        forms = {str(env.cell_id): self._normal_form(env.payload["result"]) for env in ingests}
        mined = (order, mine_subtree_motifs(forms, self.min_support))
        self._run_motifs[run_id] = mined
        while len(self._run_motifs) > _RUN_CACHE_SIZE:
            self._run_motifs.popitem(last=False)
        return mined

    def _subtree_motifs(self, env: Envelope, ctx: StageContext, index: int) -> list[Envelope]:
        if env.payload.get("generation", 0) != 0:
            return []
        _, motifs = self._motifs_of_run(env.sheet_run_id, ctx)
        out: list[Envelope] = []
        for motif in motifs:
            # The owner is fixed by name, not by arrival or storage order, so a re-run of one
            # EID reports exactly the motifs the recorded run reported for it.
            if min(motif.cells) != env.cell_id:
                continue
            from stages.codex.printer import to_source

            payload = PatternMotif(
                motif_id=f"motif::{env.sheet_run_id}::{motif.motif_hash}",
                container_id=env.container_id, kind="subtree", canonical=to_source(motif.subtree),
                support=motif.support, cells=list(motif.cells),
                snapshot_id=f"run:{env.sheet_run_id}", detail={"subtree": motif.subtree.to_json()},
            )
            out.append(_emit(payload, env, ctx, index + len(out)))
        return out

    def _attractor(self, env: Envelope, ctx: StageContext, index: int) -> list[Envelope]:
        result = env.payload["result"]
        if not is_attractor(result.get("attractor")):
            return []
        form = Node.from_json(result["normal_form"])
        payload = PatternMotif(
            motif_id=f"attractor::{env.sheet_run_id}::{env.cell_id}", container_id=env.container_id,
            kind="attractor", canonical=_source(form), support=1, cells=[str(env.cell_id)],
            snapshot_id=f"beam:{env.event_id}", detail=dict(result["attractor"]),
        )
        return [_emit(payload, env, ctx, index)]

    def _normal_form(self, result: dict[str, Any]) -> Node:
        if "normal_form" in result and "normal_key" in result:
            return Node.from_json(result["normal_form"])
        key = canonical_json([result.get("expanded"), result.get("grid")])
        form = self._normal_forms.get(key)
        if form is None:
            form = Node.from_json(normal_key_of(result)[0])
            self._normal_forms[key] = form
            while len(self._normal_forms) > _NORMAL_FORM_CACHE_SIZE:
                self._normal_forms.popitem(last=False)
        return form

    def _topology(self, env: Envelope, ctx: StageContext, index: int, *, recorded: list[Envelope]) -> list[Envelope]:
        if env.eid is None or env.payload.get("generation", 0) != 0:
            return []
        links = [e for e in recorded if e.type == "EntanglementLink"]
        if not links:
            return []
        link = links[0].payload
        members = sorted(link["members"])
        if len(members) < 2 or env.cell_id != members[0]:
            return []
        pairs = [(a, b) for a, b in link.get("links") or []] or list(zip(members, members[1:], strict=False))
        topology = entanglement_topology(pairs)
        payload = PatternMotif(
            motif_id=f"topology::{env.eid}", container_id=env.container_id, kind="topology",
            canonical=" ↔ ".join(members), support=len(members), cells=members,
            snapshot_id=f"link:{links[0].event_id}",
            detail={"components": topology.components, "cycles": topology.cycles},
        )
        return [_emit(payload, env, ctx, index)]

    # -- repair and fusion ------------------------------------------------------------------
    def _repair(self, env: Envelope, ctx: StageContext, index: int) -> list[Envelope]:
        result = env.payload["result"]
        repair = repair_from_drift(result, _last_approved_form(env, ctx))
        if repair is None:
            return []
        candidate = Candidate(
            reason="repair", form=repair.patched, parents=(env,), detail={"cause": repair.cause, **repair.detail},
        )
        return candidate_events(candidate, ctx, index=index, id_key=None, known_keys=self._known_keys(env, ctx))

    def _fusion(self, env: Envelope, ctx: StageContext, *, recorded: list[Envelope]) -> list[Envelope]:
        if env.eid is None:
            return []
        beams = [e for e in recorded if e.type == "BeamEvent"]
        decided = {b.cell_id: b for b in beams if b.payload.get("stage") in DECISIONS}
        decided[env.cell_id] = env
        pending = [b for b in beams if b.payload.get("stage") == "ingest" and b.cell_id not in decided]
        if pending:
            return []
        ordered = sorted(decided.values(), key=lambda b: str(b.cell_id))
        fusion = recombine_from_beams([b.payload for b in ordered])
        if fusion is None:
            return []
        parent_ids = {str(p["cell_id"]): p for p in fusion.parents}
        parents = tuple(decided[cell] for cell in parent_ids)
        id_key = "fusion|" + "|".join(sorted(p.event_id for p in parents))
        candidate = Candidate(reason="fusion", form=fusion.fused, parents=parents, detail={"top_k": len(parents)})
        return candidate_events(candidate, ctx, index=0, id_key=id_key, known_keys=self._known_keys(env, ctx))

    def _known_keys(self, env: Envelope, ctx: StageContext) -> KnownKeys:
        def recorded(key: str) -> set[tuple[str, str]]:
            return self._keys.holders(ctx.reader, env.container_id, key)

        return KnownKeys(recorded, self._claims.of(env.container_id))


def _decided(envelope: Envelope) -> bool:
    return envelope.type == "BeamEvent" and envelope.payload.get("stage") in DECISIONS


def _emit(payload: PatternMotif, parent: Envelope, ctx: StageContext, index: int) -> Envelope:
    # Keyed by the motif id alone (index 0): the same motif is the same event whichever
    # beam reports it and wherever it falls in that beam's outputs.
    del index
    return make_event(payload, stage_id="spe", index=0, parent=parent, occurred_at=ctx.now(),
                      flags_digest=ctx.flags_digest, id_key=f"{payload.motif_id}", instance=ctx.instance)


def _source(node: Node) -> str:
    from stages.codex.printer import to_source

    return to_source(node)


def _last_approved_form(env: Envelope, ctx: StageContext) -> Node | None:
    """The most recent approved normal form of the same cell in the container, if any."""
    # Read by cell: the rows read do not grow with the container's history.
    approved = ctx.reader.events(container_id=env.container_id, cell_id=str(env.cell_id), types=["BeamEvent"],
                                 stage="approved")
    return Node.from_json(approved[-1].payload["result"]["normal_form"]) if approved else None
