"""PHASE9 fork selection: of a cell's prediction forks, keep the best; prune the rest.

Forks are collapse beams of one cell (same run, cell id, generation) whose result
has ``fork`` set; Photon records how many there are (``fork_count``). They arrive
one by one and a stage keeps no hidden state, so the choice is made by whichever
handler first *sees* all of them in the store — each fork's own SQIScore and
SoulLawDecision are emitted as it arrives, and the final approved/vetoed beam of
every fork is emitted with that fork's collapse beam as parent and a fixed
output index. The final events' ids therefore do not depend on which handler
emitted them, so a redelivered or reordered fork can only re-emit the same events
(the store deduplicates them).

Rule: a fork is kept when SoulLaw allowed it, it has the highest qscore of the
allowed forks (ties → lowest fork index), and its qscore is at least
``PHASE9_FORK_MIN_QSCORE`` (default 0.6). Every other fork is vetoed with the
reason it lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from contracts.envelope import Envelope

FORK_THRESHOLD_FLAG = "PHASE9_FORK_MIN_QSCORE"
DEFAULT_FORK_THRESHOLD = 0.6
FORK_COUNT_KEY = "fork_count"


@dataclass(frozen=True)
class ForkOutcome:
    fork: int
    qscore: float
    allowed: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ForkVerdict:
    fork: int
    approved: bool
    reasons: tuple[str, ...]


def fork_index(envelope: Envelope) -> int | None:
    value = (envelope.payload.get("result") or {}).get("fork")
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def fork_count(result: Mapping[str, Any]) -> int | None:
    value = result.get(FORK_COUNT_KEY)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def fork_threshold(flags: Mapping[str, Any]) -> float:
    value = flags.get(FORK_THRESHOLD_FLAG, DEFAULT_FORK_THRESHOLD)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return DEFAULT_FORK_THRESHOLD
    return float(value)


def siblings(envelope: Envelope, stored: Sequence[Envelope]) -> dict[int, Envelope]:
    """The forks of ``envelope``'s cell found in ``stored`` plus itself, by fork index (first seen wins)."""
    payload = envelope.payload
    found: dict[int, Envelope] = {}
    for env in [*stored, envelope]:
        other = env.payload
        if (
            env.type == "BeamEvent"
            and other.get("stage") == "collapse"
            and env.sheet_run_id == envelope.sheet_run_id
            and other.get("cell_id") == payload.get("cell_id")
            and other.get("generation", 0) == payload.get("generation", 0)
        ):
            index = fork_index(env)
            if index is not None:
                found.setdefault(index, env)
    return found


def select(outcomes: Sequence[ForkOutcome], threshold: float) -> list[ForkVerdict]:
    """Which fork is kept, and why each other one is not (one verdict per outcome, same order)."""
    allowed = [o for o in outcomes if o.allowed]
    best = min(allowed, key=lambda o: (-o.qscore, o.fork)) if allowed else None
    verdicts: list[ForkVerdict] = []
    for outcome in outcomes:
        if not outcome.allowed:
            verdicts.append(ForkVerdict(outcome.fork, False, outcome.reasons or ("denied by SoulLaw",)))
        elif outcome.qscore < threshold:
            verdicts.append(ForkVerdict(
                outcome.fork, False,
                (f"fork pruned: qscore {outcome.qscore:.4f} is below the fork threshold {threshold:g}",),
            ))
        elif best is not None and outcome.fork != best.fork:
            verdicts.append(ForkVerdict(
                outcome.fork, False,
                (f"fork pruned: fork {best.fork} has the best qscore "
                 f"({best.qscore:.4f} vs {outcome.qscore:.4f})",),
            ))
        else:
            verdicts.append(ForkVerdict(outcome.fork, True, ()))
    return verdicts
