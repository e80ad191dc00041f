"""The SQI stage end to end on single beams: scores, decisions, approvals, fail-closed vetoes."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import pytest

from basin.keys import Signer, TrustStore
from bus.topics import topic_for
from contracts.envelope import Envelope
from contracts.payloads import BasinSyncPacket, CollapseTrace, Hologram, SignatureBlock
from contracts.registry import decode, encode, make_event
from stages.codex.ast import Node, num, ref
from stages.sqi.stage import SQIStage

from .helpers import (
    CONTAINER,
    T0,
    ListReader,
    collapse,
    collapse_result,
    context,
    default_policy,
    submitted,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HASH = hashlib.sha256((ROOT / "soullaw.toml").read_bytes()).hexdigest()


def stage(**options: Any) -> SQIStage:
    """A stage with the default policy: soullaw.toml at the repository root."""
    return SQIStage(**options)


async def run(beam: Envelope, reader: ListReader | None = None, sqi: SQIStage | None = None,
              **flags: Any) -> list[Envelope]:
    outputs = await (sqi or stage()).handle(beam, context(reader, **flags))
    for env in outputs:  # every output is a valid, encodable event
        assert decode(encode(env)) == env
    return outputs


def by_type(outputs: list[Envelope]) -> dict[str, Envelope]:
    return {env.type: env for env in outputs}


def verdict(outputs: list[Envelope]) -> Envelope:
    (beam,) = [env for env in outputs if env.type == "BeamEvent"]
    return beam


async def test_a_good_beam_is_scored_and_approved() -> None:
    beam = collapse()
    outputs = await run(beam)
    assert [env.type for env in outputs] == ["SQIScore", "SoulLawDecision", "BeamEvent"]
    assert [topic_for(env) for env in outputs] == ["beamline.sqi", "beamline.sqi", "beamline.approved"]
    assert all(env.causation_id == beam.event_id for env in outputs)
    score = outputs[0].payload
    # no goal, no basin: mean of rewrite 0.9 and stability 1
    assert score["goal_match_score"] is None and score["drift"] is None
    assert score["qscore"] == pytest.approx(0.95)
    assert score["entropy_delta"] == pytest.approx(-1.0)
    assert score["weights"] == pytest.approx({"rewrite": 0.5, "stability": 0.5})
    decision = outputs[1].payload
    assert decision["allowed"] is True and decision["policy_hash"] == DEFAULT_HASH
    approved = outputs[2].payload
    assert approved["stage"] == "approved" and approved["cell_id"] == "a"
    assert approved["result"]["score"]["qscore"] == pytest.approx(0.95)
    assert approved["result"]["decision"]["decision_id"] == decision["decision_id"]
    assert approved["result"]["observables"] == beam.payload["result"]["observables"]


async def test_outputs_are_deterministic() -> None:
    beam = collapse()
    first, second = await run(beam), await run(beam)
    assert first == second


async def test_other_events_on_the_topic_are_ignored() -> None:
    trace = make_event(
        CollapseTrace(expression="lap(u)", output={}, adapter="qwave", timestamp=0.0,
                      hologram=Hologram(signature_block=SignatureBlock(
                          ghx_projection_id="g", vault_snapshot_id="v", qglyph_id="q"))),
        stage_id="qwave", index=1, parent=submitted(), occurred_at=T0,
    )
    assert await run(trace) == []


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        ({"observables": {**collapse_result()["observables"], "finite": False, "max": None}}, "non_finite"),
        ({"cost": {**collapse_result()["cost"], "bytes": 8.0e9}}, "memory_cap"),
        ({"cost": {**collapse_result()["cost"], "cfl": 2.5}}, "cfl_unstable"),
        # goal violated (0), rewrite 0, stable: qscore = 1/3 < 0.35
        ({"rewrite_success_prob": 0.0,
          "goal": Node("lt", args=(ref("energy"), num(0.0))).to_json(),
          "observables": {**collapse_result()["observables"], "energy": 1.0e6}}, "low_qscore"),
    ],
)
async def test_default_policy_vetoes(overrides: dict[str, Any], rule: str) -> None:
    outputs = await run(collapse(collapse_result(**overrides)))
    decision = by_type(outputs)["SoulLawDecision"].payload
    assert decision["allowed"] is False
    assert rule in decision["matched_rules"]
    vetoed = verdict(outputs)
    assert vetoed.payload["stage"] == "vetoed" and topic_for(vetoed) == "beamline.vetoes"
    assert any(reason.startswith(rule) for reason in vetoed.payload["result"]["veto_reasons"])


# ---------------------------------------------------------------- fail closed: nothing approved


def assert_vetoed_because(outputs: list[Envelope], cause: str) -> None:
    vetoed = verdict(outputs)
    assert vetoed.payload["stage"] == "vetoed"
    decision = by_type(outputs)["SoulLawDecision"].payload
    assert decision["allowed"] is False
    assert any(cause in reason for reason in decision["reasons"]), decision["reasons"]
    assert any(cause in reason for reason in vetoed.payload["result"]["veto_reasons"])


async def test_missing_policy_file_vetoes(tmp_path: Path) -> None:
    outputs = await run(collapse(), sqi=SQIStage(policy_path=tmp_path / "gone.toml"))
    assert_vetoed_because(outputs, "cannot be read")
    assert by_type(outputs)["SoulLawDecision"].payload["policy_hash"] == "unavailable"


async def test_policy_named_by_flag_is_used(tmp_path: Path) -> None:
    outputs = await run(collapse(), sqi=SQIStage(), SOULLAW_POLICY=str(tmp_path / "flagged.toml"))
    assert_vetoed_because(outputs, "flagged.toml")


async def test_corrupt_policy_file_vetoes(tmp_path: Path) -> None:
    path = tmp_path / "soullaw.toml"
    path.write_bytes(b"version = '1'\n[[rule]\nid = 'x'")
    assert_vetoed_because(await run(collapse(), sqi=SQIStage(policy_path=path)), "not valid TOML")


async def test_rule_reading_a_missing_field_vetoes(tmp_path: Path) -> None:
    path = tmp_path / "soullaw.toml"
    path.write_text("version='1'\n[[rule]]\nid='gpu'\ndeny_when='cost.gpu_seconds > 1'\nreason='r'\n")
    assert_vetoed_because(await run(collapse(), sqi=SQIStage(policy_path=path)), "missing field 'cost.gpu_seconds'")


async def test_time_out_vetoes() -> None:
    ticks = iter(range(0, 10_000, 1))
    sqi = SQIStage(policy=default_policy(), budget_ms=0.5, clock=lambda: float(next(ticks)))  # 1 s per reading
    assert_vetoed_because(await run(collapse(), sqi=sqi), "timed out")


async def test_disabled_stage_vetoes_everything() -> None:
    assert SQIStage.handles_disabled is True
    outputs = await run(collapse(), **{"stage.sqi": False})
    assert [env.type for env in outputs] == ["SoulLawDecision", "BeamEvent"]
    assert_vetoed_because(outputs, "SQI stage disabled")
    assert verdict(outputs).payload["result"]["score"] == {}


async def test_missing_run_record_vetoes() -> None:
    assert_vetoed_because(await run(collapse(), reader=ListReader([])), "SheetSubmitted")


async def test_unscorable_beam_vetoes_even_if_rules_pass() -> None:
    outputs = await run(collapse(collapse_result(rewrite_success_prob=None)))
    assert_vetoed_because(outputs, "score incomplete: rewrite_success_prob")


# ---------------------------------------------------------------- drift from the run's basin


SIGNER = Signer.generate()
TRUST = TrustStore.of(SIGNER.public_key)


def basin_packet(basin: list[float], n: int = 5, signer: Signer = SIGNER, tamper: bool = False) -> Envelope:
    from basin.packets import signing_bytes

    unsigned = BasinSyncPacket(container_id=CONTAINER, basin=basin, phi=0.5, kappa=64.0, regime="geometric",
                               n=n, producer_id="w1", created_at=T0.isoformat(), key_id=signer.key_id,
                               signature="")
    packet = unsigned.model_copy(update={"signature": signer.sign(signing_bytes(unsigned))})
    if tamper:  # the signed body changed afterwards: same key, signature no longer matches
        packet = packet.model_copy(update={"phi": 0.75})
    return make_event(packet, stage_id="basin", index=0, sheet_run_id="basin-sync", container_id=CONTAINER,
                      occurred_at=T0)


@pytest.mark.parametrize("named_by", ["basin id", "packet id"])
async def test_drift_uses_the_basin_recorded_for_the_run(named_by: str) -> None:
    from basin.container import basin_id
    from basin.geometry import fisher_rao
    from basin.packets import packet_id
    from basin.reader import signature

    uniform = [1 / 64] * 64
    packet = basin_packet(uniform)
    bid = basin_id(CONTAINER, uniform, 5)
    if named_by == "packet id":
        bid = packet_id(BasinSyncPacket.model_validate(packet.payload))
    run_record = submitted(basin_id=bid)
    beam = collapse(parent=run_record)
    other = [0.5] + [0.5 / 63] * 63
    reader = ListReader([run_record, basin_packet(other, n=9), packet])
    outputs = await run(beam, reader=reader, sqi=stage(trust=TRUST))
    score = by_type(outputs)["SQIScore"].payload
    expected = fisher_rao(signature(beam.payload["result"]), uniform)
    assert score["basin_id"] == bid
    assert score["drift"] == pytest.approx(expected)
    assert score["qscore"] == pytest.approx((0.9 + (1 - expected / math.pi) + 1.0) / 3)
    assert verdict(outputs).payload["result"]["score"]["basin_id"] == bid


async def test_named_basin_missing_from_store_vetoes() -> None:
    run_record = submitted(basin_id="feedbeef")
    outputs = await run(collapse(parent=run_record), reader=ListReader([run_record]))
    assert_vetoed_because(outputs, "basin 'feedbeef'")


@pytest.mark.parametrize(("forgery", "cause"), [("untrusted key", "untrusted_key"), ("tampered", "bad_signature")])
async def test_a_basin_packet_whose_signature_does_not_verify_is_not_used(forgery: str, cause: str) -> None:
    from basin.container import basin_id

    uniform = [1 / 64] * 64
    packet = basin_packet(uniform, signer=Signer.generate()) if forgery == "untrusted key" \
        else basin_packet(uniform, tamper=True)
    run_record = submitted(basin_id=basin_id(CONTAINER, uniform, 5))
    outputs = await run(collapse(parent=run_record), reader=ListReader([run_record, packet]),
                        sqi=stage(trust=TRUST))
    assert_vetoed_because(outputs, "not trusted")
    assert_vetoed_because(outputs, cause)
    assert by_type(outputs)["SQIScore"].payload["drift"] is None
