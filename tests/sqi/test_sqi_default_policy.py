"""The shipped soullaw.toml: parsed by the CodexLang parser, compiled once, versioned by hash."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from stages.codex.parser import parse_predicate
from stages.sqi.assess import DEFAULT_POLICY_PATH
from stages.sqi.soullaw import decide, load_policy

from .helpers import default_rule_trees


def test_default_policy_rules() -> None:
    policy = load_policy(DEFAULT_POLICY_PATH)
    assert policy.policy_hash == hashlib.sha256(DEFAULT_POLICY_PATH.read_bytes()).hexdigest()
    assert [r.rule_id for r in policy.rules] == ["non_finite", "memory_cap", "cfl_unstable", "low_qscore"]
    trees = default_rule_trees()
    for rule in policy.rules:
        assert parse_predicate(rule.source) == trees[rule.source]


def test_default_policy_on_inputs() -> None:
    policy = load_policy(DEFAULT_POLICY_PATH)
    good = {
        "beam": {"observables": {"finite": True}}, "score": {"qscore": 0.8},
        "cost": {"bytes": 1024, "cfl": None}, "flags": {}, "identity": "user",
    }
    assert decide(policy, good, input_digest="-").allowed
    assert decide(policy, {**good, "cost": {"bytes": 1024, "cfl": 0.9}}, input_digest="-").allowed
    bad = {**good, "cost": {"bytes": 2**40, "cfl": 1.5}, "score": {"qscore": 0.1}}
    assert decide(policy, bad, input_digest="-").matched_rules == ["memory_cap", "cfl_unstable", "low_qscore"]


def test_policy_is_compiled_once_per_content(tmp_path: Path) -> None:
    path = tmp_path / "soullaw.toml"
    shutil.copy(DEFAULT_POLICY_PATH, path)
    first = load_policy(path)
    assert load_policy(path) is first  # same content: the compiled closures are reused
    path.write_text(path.read_text().replace('version = "1"', 'version = "2"'))
    edited = load_policy(path)
    assert edited is not first and edited.version == "2" and edited.policy_hash != first.policy_hash
