"""SoulLaw: a versioned deny-rule policy that fails closed.

Policy file (TOML, ``soullaw.toml``)::

    version = "1"                    # required, recorded with every decision via the hash
    [constants]                      # optional named numbers usable as bare names in rules
    memory_cap_bytes = 2147483648
    [[rule]]                         # one or more
    id = "non_finite"
    deny_when = "not beam.observables.finite"   # a CodexLang predicate
    reason = "the result contains NaN or Inf"

``policy_hash`` is the SHA-256 of the file's exact bytes. Every ``deny_when`` is
parsed with the CodexLang predicate parser and compiled once to a closure
(``stages.sqi.rules``) when the policy is loaded; a decision only calls closures.

Contract of ``decide``: ``allowed`` is true only when a policy is loaded, every
rule evaluated to false within the time budget, and none raised. Anything else
— no policy, an unparsable policy, a rule that raises or reads a missing
field, a time-out — is a denial whose ``reasons`` name the cause.
"""

from __future__ import annotations

import hashlib
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stages.codex.ast import Node
from stages.sqi.rules import Predicate, RuleCompileError, compile_predicate

DEFAULT_BUDGET_S = 0.25
UNAVAILABLE_HASH = "unavailable"
_POLICY_KEYS = frozenset({"version", "constants", "rule"})
_RULE_KEYS = frozenset({"id", "deny_when", "reason"})

PredicateParser = Callable[[str], Node]


class PolicyError(Exception):
    """The policy cannot be used (missing, unreadable, invalid TOML, a bad rule)."""


@dataclass(frozen=True)
class CompiledRule:
    rule_id: str
    reason: str
    source: str
    predicate: Predicate


@dataclass(frozen=True)
class Policy:
    version: str
    policy_hash: str
    rules: tuple[CompiledRule, ...]
    origin: str = "<memory>"


@dataclass(frozen=True)
class Decision:
    """Outcome of one policy evaluation (the stage turns it into a ``SoulLawDecision``)."""

    allowed: bool
    matched_rules: list[str]
    reasons: list[str]
    policy_hash: str
    input_digest: str
    errors: list[str] = field(default_factory=list)


def _default_parser() -> PredicateParser:
    from stages.codex.parser import parse_predicate

    parser: PredicateParser = parse_predicate
    return parser


def policy_from_text(
    text: bytes, *, origin: str = "<memory>", parse: PredicateParser | None = None
) -> Policy:
    """Parse and compile a policy document; ``PolicyError`` names the first problem."""
    policy_hash = hashlib.sha256(text).hexdigest()
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"policy {origin} is not valid TOML: {exc}") from None
    except RecursionError:
        # tomllib parses nested arrays/inline tables recursively: a deeply nested (hostile)
        # file would otherwise escape as RecursionError instead of failing closed.
        raise PolicyError(f"policy {origin} is not valid TOML: arrays or tables nested too deeply") from None
    unknown = set(data) - _POLICY_KEYS
    if unknown:
        raise PolicyError(f"policy {origin}: unknown top-level keys {sorted(unknown)}")
    version = data.get("version")
    if not isinstance(version, (str, int)) or isinstance(version, bool) or str(version) == "":
        raise PolicyError(f"policy {origin}: 'version' is missing or not a string/integer")
    constants = data.get("constants", {})
    if not isinstance(constants, dict) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in constants.values()
    ):
        raise PolicyError(f"policy {origin}: [constants] must map names to numbers")
    raw_rules = data.get("rule")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise PolicyError(f"policy {origin}: no [[rule]] entries")
    parser = parse or _default_parser()
    rules: list[CompiledRule] = []
    seen: set[str] = set()
    for position, raw in enumerate(raw_rules, start=1):
        rules.append(_compile_rule(raw, position, origin, parser, constants, seen))
    return Policy(version=str(version), policy_hash=policy_hash, rules=tuple(rules), origin=origin)


def _compile_rule(
    raw: Any,
    position: int,
    origin: str,
    parser: PredicateParser,
    constants: Mapping[str, Any],
    seen: set[str],
) -> CompiledRule:
    where = f"policy {origin}: rule #{position}"
    if not isinstance(raw, dict):
        raise PolicyError(f"{where} is not a table")
    unknown = set(raw) - _RULE_KEYS
    missing = _RULE_KEYS - set(raw)
    if unknown or missing:
        raise PolicyError(f"{where}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
    rule_id, source, reason = raw["id"], raw["deny_when"], raw["reason"]
    if not all(isinstance(v, str) and v.strip() for v in (rule_id, source, reason)):
        raise PolicyError(f"{where}: id, deny_when and reason must be non-empty strings")
    if rule_id in seen:
        raise PolicyError(f"{where}: duplicate rule id {rule_id!r}")
    seen.add(rule_id)
    try:
        tree = parser(source)
        predicate = compile_predicate(tree, constants)
    except RuleCompileError as exc:
        raise PolicyError(f"{where} ({rule_id}): {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any parser failure makes the policy unusable
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PolicyError(f"{where} ({rule_id}): cannot parse deny_when: {first_line}") from None
    return CompiledRule(rule_id=rule_id, reason=reason, source=source, predicate=predicate)


_CACHE: dict[tuple[str, str], Policy] = {}


def load_policy(path: Path, *, parse: PredicateParser | None = None) -> Policy:
    """Read, hash and compile the policy at ``path``.

    Compilation is memoised by (path, content hash): the file is re-read on every
    call so an edited policy takes effect (and is recorded under its new hash),
    but rules are compiled only once per distinct content.
    """
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"policy {path} cannot be read: {exc.strerror or exc}") from None
    key = (str(path), hashlib.sha256(text).hexdigest())
    cached = _CACHE.get(key) if parse is None else None
    if cached is not None:
        return cached
    policy = policy_from_text(text, origin=str(path), parse=parse)
    if parse is None:
        _CACHE[key] = policy
    return policy


def deny(reason: str, *, policy_hash: str, input_digest: str) -> Decision:
    """A fail-closed denial for a cause outside the rules (no policy, stage disabled...)."""
    return Decision(
        allowed=False, matched_rules=[], reasons=[reason], policy_hash=policy_hash,
        input_digest=input_digest, errors=[reason],
    )


def decide(
    policy: Policy,
    decision_input: Mapping[str, Any],
    *,
    input_digest: str,
    budget_s: float = DEFAULT_BUDGET_S,
    clock: Callable[[], float] = time.perf_counter,
) -> Decision:
    """Evaluate every rule of ``policy`` on ``decision_input`` within ``budget_s`` seconds.

    Rules are pure closures over numbers (no loops), so the deadline is checked
    before each rule and after the last one; a rule that overruns makes the
    decision a time-out denial. Rules keep being evaluated after a failure so
    the decision log lists every problem, not just the first.
    """
    start = clock()
    matched: list[str] = []
    reasons: list[str] = []
    errors: list[str] = []
    for rule in policy.rules:
        if clock() - start > budget_s:
            errors.append(_timeout_reason(budget_s, before=rule.rule_id))
            break
        try:
            hit = rule.predicate(decision_input)
        except Exception as exc:  # noqa: BLE001 - a raising rule denies, whatever it raised
            errors.append(f"rule {rule.rule_id!r} failed: {exc}")
            continue
        if hit:
            matched.append(rule.rule_id)
            reasons.append(f"{rule.rule_id}: {rule.reason}")
    else:
        if clock() - start > budget_s:
            errors.append(_timeout_reason(budget_s, before=None))
    return Decision(
        allowed=not matched and not errors,
        matched_rules=matched,
        reasons=reasons + errors,
        policy_hash=policy.policy_hash,
        input_digest=input_digest,
        errors=errors,
    )


def _timeout_reason(budget_s: float, *, before: str | None) -> str:
    where = f"before rule {before!r}" if before else "after the last rule"
    return f"policy evaluation timed out ({budget_s * 1000:g} ms budget exceeded {where})"
