"""Bad input, fuzzed: the SoulLaw policy loader (always), and on demand the CodexLang parser and the
contract decoders at depth.

Contract checked: whatever bytes a policy file holds, loading it yields a ``Policy`` or a
``PolicyError`` (the SQI stage turns that into a fail-closed denial) — never another exception
— and a decision over any input is a ``Decision``, approved only without errors.

Depth: ``FUZZ_CASES`` per test (2,000 under HYPOTHESIS_PROFILE=ci, 300 otherwise). With
``BEAMLINE_FUZZ_DEEP=1`` every test here runs ``DEEP_CASES`` cases and the parser and decoder
tests join in: ≥ 200,000 cases in all; the count is printed at the end of the module.
"""

from __future__ import annotations

import os
import string
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stages.sqi.soullaw import Decision, Policy, PolicyError, decide, load_policy, policy_from_text

DEEP = os.environ.get("BEAMLINE_FUZZ_DEEP") == "1"
DEEP_CASES = 34_000  # × 6 tests = 204,000 cases
FUZZ_CASES = DEEP_CASES if DEEP else (2_000 if os.environ.get("HYPOTHESIS_PROFILE") == "ci" else 300)
FUZZ = settings(max_examples=FUZZ_CASES, deadline=None, derandomize=not DEEP,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
deep_only = pytest.mark.skipif(not DEEP, reason="deep fuzz: set BEAMLINE_FUZZ_DEEP=1 (CI depth runs in "
                               "tests/codex/test_parser_fuzz.py and tests/contracts/test_contracts.py)")
CASES: Counter[str] = Counter()
COMPILED: Counter[str] = Counter()  # documents that loaded, so decide() was fuzzed too


@pytest.fixture(scope="module", autouse=True)
def report_cases() -> Iterator[None]:
    began = time.perf_counter()
    yield
    print(f"\nfuzz cases: {dict(CASES)} total {sum(CASES.values())} in {time.perf_counter() - began:.0f}s; "
          f"compiled and decided: {dict(COMPILED)}")


# -- policy documents -----------------------------------------------------------------------
WORDS = ["beam.observables.finite", "cost.bytes", "cost.cfl", "score.qscore", "flags.X", "identity", "not",
         "and", "or", "<", ">", "<=", "==", "≈", "±", "(", ")", "0.35", "1e308", "-1", "⊤", "⊥", "nan",
         "memory_cap_bytes", "abs(", ",", ".", "max", "\"", "energy(u)", "∞"]
predicate_soup = st.lists(st.sampled_from(WORDS) | st.text(string.printable, max_size=3), max_size=12).map(" ".join)
toml_scalar = (st.text(max_size=10) | st.integers() | st.floats(allow_nan=True) | st.booleans()
               | predicate_soup)
rule = st.dictionaries(st.sampled_from(["id", "deny_when", "reason", "extra"]) | st.text(max_size=4),
                       toml_scalar | predicate_soup, max_size=5)
atom = st.sampled_from(["not beam.observables.finite", "cost.bytes > memory_cap_bytes", "score.qscore < 0.35",
                        "cost.cfl > 1", "beam.x.y == 2", "flags.F", "⊤", "⊥", "identity == 3"])
good_predicate = st.recursive(atom, lambda p: st.tuples(p, st.sampled_from([" and ", " or "]), p).map(
    lambda t: f"({t[0]}){t[1]}({t[2]})") | p.map(lambda x: f"not ({x})"), max_leaves=6)
policy_like = st.fixed_dictionaries({
    "version": st.sampled_from(["1", "2"]),
    "constants": st.fixed_dictionaries({"memory_cap_bytes": st.integers() | st.floats()}),
    "rule": st.lists(st.fixed_dictionaries({"deny_when": good_predicate | predicate_soup,
                                            "reason": st.sampled_from(["r", "why"])}), min_size=1, max_size=4)
    .map(lambda rules: [{"id": f"r{i}", **r} for i, r in enumerate(rules)]),
})
document = policy_like | st.fixed_dictionaries(
    {},
    optional={
        "version": st.text(max_size=4) | st.integers() | st.booleans() | st.floats(),
        "constants": st.dictionaries(st.text(string.ascii_letters + "_", min_size=1, max_size=8),
                                     st.integers() | st.floats() | st.text(max_size=3), max_size=4),
        "rule": st.lists(rule, max_size=4) | toml_scalar,
        "other": toml_scalar,
    },
)


def load(raw: bytes) -> Policy | None:
    try:
        return policy_from_text(raw)
    except PolicyError as exc:
        assert str(exc).startswith("policy ")
        return None


@FUZZ
@given(st.binary(max_size=400))
def test_policy_loader_on_any_bytes_returns_a_policy_or_a_policy_error(raw: bytes) -> None:
    CASES["policy bytes"] += 1
    load(raw)


@FUZZ
@given(st.text(max_size=400))
def test_policy_loader_on_any_text_returns_a_policy_or_a_policy_error(text: str) -> None:
    CASES["policy text"] += 1
    load(text.encode("utf-8", errors="surrogatepass"))


@FUZZ
@given(document, st.dictionaries(st.sampled_from(["beam", "cost", "score", "flags", "identity"]),
                                 st.recursive(st.none() | st.floats() | st.integers() | st.text(max_size=4),
                                              lambda c: st.dictionaries(st.text(max_size=10), c, max_size=3),
                                              max_leaves=8), max_size=5))
def test_policy_documents_load_or_fail_and_decisions_always_decide(doc: dict[str, Any],
                                                                   decision_input: dict[str, Any]) -> None:
    """TOML documents shaped like policies reach rule compilation; a compiled one decides anything."""
    CASES["policy documents"] += 1
    policy = load(tomlkit.dumps(doc).encode("utf-8"))
    if policy is None:
        return
    COMPILED["policy documents"] += 1
    decision = decide(policy, decision_input, input_digest="fuzz")
    assert isinstance(decision, Decision)
    assert not decision.allowed or not (decision.errors or decision.matched_rules)


@pytest.mark.parametrize("nesting", ["x = " + "[" * 5000 + "]" * 5000, "x = " + "{a=" * 3000 + "1" + "}" * 3000])
def test_a_deeply_nested_policy_is_a_policy_error_not_a_crash(tmp_path: Path, nesting: str) -> None:
    path = tmp_path / "soullaw.toml"
    path.write_text('version = "1"\n' + nesting + "\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="nested too deeply"):
        load_policy(path)


def test_a_missing_or_unreadable_policy_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot be read"):
        load_policy(tmp_path / "absent.toml")
    with pytest.raises(PolicyError, match="cannot be read"):
        load_policy(tmp_path)  # a directory


# -- deep only: the CodexLang front end and the contract decoders -------------------------------
@deep_only
@FUZZ
@given(st.text(max_size=300))
def test_deep_parser_on_any_text_raises_only_codex_errors(text: str) -> None:
    from stages.codex.checker import compile_sheet
    from stages.codex.errors import CodexError
    from stages.codex.parser import parse_expr, parse_predicate

    CASES["parser text"] += 1
    for parse in (parse_expr, parse_predicate, compile_sheet):
        try:
            parse(text)
        except CodexError:
            pass


@deep_only
@FUZZ
@given(st.binary(max_size=400))
def test_deep_decoders_on_any_bytes_raise_only_contract_errors(raw: bytes) -> None:
    from bus.codec import EventCodec
    from contracts.auth import Authenticator
    from contracts.registry import ContractError, decode

    CASES["decoder bytes"] += 1
    for codec in (decode, EventCodec(Authenticator(bytes(range(32)))).decode):
        try:
            codec(raw)
        except ContractError:
            pass


@deep_only
@FUZZ
@given(st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
                    | st.text(max_size=6),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(
                        st.sampled_from(["type", "schema_version", "payload", "event_id", "eid", "auth",
                                         "occurred_at", "producer", "stage", "cell_id"]) | st.text(max_size=6),
                        c, max_size=6)))
def test_deep_decoders_on_any_json_raise_only_contract_errors(doc: Any) -> None:
    from contracts.registry import ContractError, decode

    CASES["decoder json"] += 1
    try:
        decode(orjson.dumps(doc))
    except ContractError:
        pass
