"""SoulLaw policy loading and decisions, including every fail-closed path."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from stages.codex.ast import Node, num
from stages.sqi.soullaw import (
    CompiledRule,
    Policy,
    PolicyError,
    decide,
    load_policy,
    policy_from_text,
)

LOW_Q = Node("lt", args=(Node("attr", value="score.qscore"), num(0.35)))


def parse(text: str) -> Node:
    from stages.codex.parser import parse_predicate

    return parse_predicate(text)


POLICY = b"""
version = "7"
[constants]
cap = 1000
[[rule]]
id = "low_qscore"
deny_when = "score.qscore < 0.35"
reason = "qscore too low"
[[rule]]
id = "memory"
deny_when = "cost.bytes > cap"
reason = "too big"
"""

GOOD = {"score": {"qscore": 0.9}, "cost": {"bytes": 10}}


def policy(text: bytes = POLICY) -> Policy:
    return policy_from_text(text, parse=parse)


def test_policy_hash_is_sha256_of_the_file() -> None:
    loaded = policy()
    assert loaded.policy_hash == hashlib.sha256(POLICY).hexdigest()
    assert loaded.version == "7"
    assert [r.rule_id for r in loaded.rules] == ["low_qscore", "memory"]


def test_approved_only_when_no_rule_matches() -> None:
    decision = decide(policy(), GOOD, input_digest="d")
    assert decision.allowed and decision.matched_rules == [] and decision.reasons == []
    assert decision.policy_hash == policy().policy_hash and decision.input_digest == "d"


def test_every_matching_rule_is_reported() -> None:
    decision = decide(policy(), {"score": {"qscore": 0.1}, "cost": {"bytes": 5000}}, input_digest="d")
    assert not decision.allowed
    assert decision.matched_rules == ["low_qscore", "memory"]
    assert decision.reasons == ["low_qscore: qscore too low", "memory: too big"]


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot be read"):
        load_policy(tmp_path / "nope.toml", parse=parse)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"version = \n", "not valid TOML"),
        (b"version = '1'\n", "no \\[\\[rule\\]\\]"),
        (b"[[rule]]\nid='a'\ndeny_when='score.qscore < 0.35'\nreason='r'\n", "version"),
        (b"version='1'\n[[rule]]\nid='a'\ndeny_when='score.qscore <'\nreason='r'\n", "cannot parse deny_when"),
        (b"version='1'\n[[rule]]\nid='a'\ndeny-when='score.qscore < 0.35'\nreason='r'\n", "unknown keys"),
        (b"version='1'\n[[rule]]\nid='a'\ndeny_when='cost.bytes > cap'\nreason='r'\n", "unknown name 'cap'"),
        (b"version='1'\n[[rule]]\nid='a'\ndeny_when='score.qscore < 0.35'\nreason='r'\n"
         b"[[rule]]\nid='a'\ndeny_when='score.qscore < 0.35'\nreason='r'\n", "duplicate rule id"),
        (b"version='1'\nextra=1\n[[rule]]\nid='a'\ndeny_when='score.qscore < 0.35'\nreason='r'\n", "unknown top-level"),
        (b"\xff\xfe", "not valid TOML"),
    ],
)
def test_unusable_policies_are_refused(text: bytes, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        policy(text)


def test_a_missing_field_denies_and_names_it() -> None:
    loaded = policy_from_text(
        b"version='1'\n[[rule]]\nid='m'\ndeny_when='cost.nothing > 1 and score.qscore > 0'\nreason='r'\n", parse=parse
    )
    decision = decide(loaded, GOOD, input_digest="d")
    assert not decision.allowed
    assert decision.matched_rules == []
    assert "rule 'm' failed" in decision.reasons[0] and "cost.nothing" in decision.reasons[0]


def test_a_raising_rule_denies() -> None:
    loaded = policy_from_text(
        b"version='1'\n[[rule]]\nid='div'\ndeny_when='1 / cost.bytes > 1'\nreason='r'\n", parse=parse
    )
    decision = decide(loaded, {"cost": {"bytes": 0}}, input_digest="d")
    assert not decision.allowed
    assert decision.reasons[0].startswith("rule 'div' failed")


def test_rules_after_a_failure_still_run() -> None:
    def boom(_: object) -> bool:
        raise RuntimeError("kaboom")

    loaded = Policy(version="1", policy_hash="h", rules=(
        CompiledRule("boom", "r", "?", boom),
        CompiledRule("always", "matched", "?", lambda _data: True),
    ))
    decision = decide(loaded, GOOD, input_digest="d")
    assert decision.matched_rules == ["always"]
    assert any("kaboom" in r for r in decision.reasons)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_slow_rule_times_out_and_denies() -> None:
    clock = FakeClock()

    def slow(_: object) -> bool:
        clock.now += 0.5  # this rule "takes" half a second
        return False

    loaded = Policy(version="1", policy_hash="h", rules=(
        CompiledRule("slow", "r", "?", slow),
        CompiledRule("never", "r", "?", lambda _data: False),
    ))
    decision = decide(loaded, GOOD, input_digest="d", budget_s=0.1, clock=clock)
    assert not decision.allowed
    assert "timed out" in decision.reasons[0] and "before rule 'never'" in decision.reasons[0]
    # The same policy within budget approves.
    clock.now = 0.0
    assert decide(loaded, GOOD, input_digest="d", budget_s=10.0, clock=clock).allowed


def test_a_slow_last_rule_times_out() -> None:
    clock = FakeClock()

    def slow(_: object) -> bool:
        clock.now += 1.0
        return False

    loaded = Policy(version="1", policy_hash="h", rules=(CompiledRule("slow", "r", "?", slow),))
    decision = decide(loaded, GOOD, input_digest="d", budget_s=0.1, clock=clock)
    assert not decision.allowed and "after the last rule" in decision.reasons[0]
