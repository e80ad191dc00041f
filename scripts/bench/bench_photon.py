"""P7: Photon's ``normalize`` vs ``sympy.simplify`` on the same generated algebraic expressions.

Expressions are random trees (seeded) over the coordinate fields x y z and small
integers with + − * ¬, powers 2 and 3 and division by a small integer — the
polynomial algebra both systems handle. Per run, each system's CPU time over the
whole set is measured side by side (sympy's cache cleared first; the sympy
expression is built before timing, Photon gets the raw tree and does everything
``normalize`` does: both canonical forms, extraction, the cost-guided choice with
the Codex cost model, the confirming round); the speed-up is sympy time / Photon
time, median over ``--runs`` runs.

Size: sympy's own measure ``count_ops`` of each result (Photon's normal form is
converted to sympy *unevaluated*, so sympy does not re-simplify it); "no larger"
is count_ops(Photon) ≤ count_ops(sympy). Tree sizes (node counts of the sympy
trees) are reported too, and the flops of both results under the Codex cost model
(what Photon minimises: it writes x·x·x where sympy writes x**3, 2 flops vs 10 per
entry, one op more by count_ops). Checks, after timing and before reporting: for a
sample (``--check-sample``) Photon's normal form and sympy's result each equal the
original expression on random x, y, z fields, and both results agree at random
points for every expression. ``no_larger_fraction_products_as_powers`` is a
diagnostic of the size gap: the same comparison with Photon's products of equal
factors counted as powers (x·x·x as x³), the one place where Photon's flop-guided
choice and count_ops disagree by design.

Equality saturation (issue 5's "e-graphs or ordered rewriting, decide by
measurement"): the same algebraic rule set written for ``egglog``
(``bench_photon_egglog.py``, bounded saturation, smallest tree extracted) runs on
the same expressions in the same process, timed side by side with Photon
(``--egglog-runs`` runs), its results sized with count_ops and checked on random
fields like Photon's. The ``egglog`` JSON field holds the figures (or why it could
not run). Prints one JSON object on the last line.

    .venv/bin/python scripts/bench/bench_photon.py --count 500 --runs 5
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402
from benchlib import check, emit, machine, spread  # noqa: E402

from stages.codex.ast import Node, num, ref  # noqa: E402
from stages.codex.grid import GridSpec  # noqa: E402
from stages.photon.normalize import normalize  # noqa: E402

GRID = GridSpec(shape=(8, 8, 8), spacing=1.0 / 8)
SYMBOLS = {name: sp.Symbol(name, real=True) for name in ("x", "y", "z")}


def generate(rng: random.Random, depth: int) -> Node:
    """A random algebraic expression tree of at most ``depth`` levels."""
    if depth == 0 or rng.random() < 0.18 * (5 - depth):
        if rng.random() < 0.72:
            return ref(rng.choice(("x", "y", "z")))
        return num(rng.randint(1, 5))
    roll = rng.random()
    if roll < 0.30:
        return Node("add", args=(generate(rng, depth - 1), generate(rng, depth - 1)))
    if roll < 0.50:
        return Node("sub", args=(generate(rng, depth - 1), generate(rng, depth - 1)))
    if roll < 0.80:
        return Node("mul", args=(generate(rng, depth - 1), generate(rng, depth - 1)))
    if roll < 0.87:
        return Node("neg", args=(generate(rng, depth - 1),))
    if roll < 0.94:
        return Node("pow", args=(generate(rng, depth - 1), num(rng.choice((2, 3)))))
    return Node("truediv", args=(generate(rng, depth - 1), num(rng.randint(2, 5))))


def to_sympy(node: Node, *, evaluate: bool) -> Any:
    """The sympy expression of a Codex tree; ``evaluate=False`` keeps its structure as it is."""
    op, args = node.op, [to_sympy(a, evaluate=evaluate) for a in node.args]
    if op == "num":
        value = node.value
        return sp.Integer(value) if isinstance(value, int) else sp.Float(value)
    if op == "ref":
        return SYMBOLS[str(node.value)]
    if op == "empty":
        return sp.Integer(0)
    if op == "add":
        return sp.Add(*args, evaluate=evaluate)
    if op == "sub":
        return sp.Add(args[0], _negative(args[1], evaluate), evaluate=evaluate)
    if op == "mul":
        return sp.Mul(*args, evaluate=evaluate)
    if op == "neg":
        return _negative(args[0], evaluate)
    if op == "pow":
        return sp.Pow(args[0], args[1], evaluate=evaluate)
    if op == "truediv":
        return sp.Mul(args[0], sp.Pow(args[1], -1, evaluate=evaluate), evaluate=evaluate)
    raise ValueError(f"no sympy form for {op}")


def _negative(expr: Any, evaluate: bool) -> Any:
    """−expr, with a negative literal for a number (as sympy itself writes x − 5)."""
    return -expr if expr.is_Number else sp.Mul(-1, expr, evaluate=evaluate)


def from_sympy(expr: Any) -> Node:
    """A Codex tree with sympy's structure (to price sympy's result with the same cost model)."""
    if expr.is_Symbol:
        return ref(str(expr))
    if expr.is_Integer:
        return num(int(expr))
    if expr.is_Number:
        return num(float(expr))
    args = [from_sympy(a) for a in expr.args]
    if expr.is_Add:
        return Node("add", args=tuple(args))
    if expr.is_Mul:
        return Node("mul", args=tuple(args))
    if expr.is_Pow:
        exponent = expr.args[1]
        if exponent.is_Integer and int(exponent) < 0:
            inverse = Node("pow", args=(args[0], num(-int(exponent)))) if int(exponent) != -1 else args[0]
            return Node("truediv", args=(num(1), inverse))
        return Node("pow", args=tuple(args))
    raise ValueError(f"no Codex form for {expr.func}")


def as_powers(expr: Any) -> Any:
    """``expr`` (unevaluated) with equal factors of each product written as one power: x·x·y → x²·y."""
    if expr.is_Atom:
        return expr
    args = [as_powers(a) for a in expr.args]
    if not expr.is_Mul:
        return expr.func(*args, evaluate=False)
    counts: dict[Any, int] = {}
    for arg in args:
        counts[arg] = counts.get(arg, 0) + 1
    factors = [sp.Pow(a, sp.Integer(c), evaluate=False) if c > 1 else a for a, c in counts.items()]
    return sp.Mul(*factors, evaluate=False) if len(factors) > 1 else factors[0]


def tree_size(expr: Any) -> int:
    return sum(1 for _ in sp.preorder_traversal(expr))


def agree(a: Any, b: Any, rng: random.Random) -> bool:
    """Both expressions give the same value at three random points (relative 1e-9)."""
    fa = sp.lambdify(list(SYMBOLS.values()), a, "math")
    fb = sp.lambdify(list(SYMBOLS.values()), b, "math")
    for _ in range(3):
        point = [rng.uniform(-2, 2) for _ in SYMBOLS]
        va, vb = float(fa(*point)), float(fb(*point))
        if abs(va - vb) > 1e-9 * max(1.0, abs(va), abs(vb)):
            return False
    return True


def same_on_random_fields(a: Any, b: Any, rng: np.random.Generator) -> bool:
    """Both expressions give the same field on random x, y, z fields (8×8×8, values in [-2, 2])."""
    symbols = list(SYMBOLS.values())
    fields = [rng.uniform(-2, 2, size=(8, 8, 8)) for _ in symbols]
    va = np.broadcast_to(np.asarray(sp.lambdify(symbols, a, "numpy")(*fields), dtype=float), (8, 8, 8))
    vb = np.broadcast_to(np.asarray(sp.lambdify(symbols, b, "numpy")(*fields), dtype=float), (8, 8, 8))
    return bool(np.all(np.abs(va - vb) <= 1e-9 * np.maximum(1.0, np.maximum(np.abs(va), np.abs(vb)))))


def one_run(exprs: list[Node], inputs: list[Any]) -> tuple[float, float, list[Node], list[Any]]:
    """CPU seconds (process time: both are single-threaded, and CPU time is what a shared,
    noisy machine distorts least) of Photon and of sympy over the whole set."""
    from sympy.core.cache import clear_cache

    ours: list[Node] = []
    started = time.process_time()
    for expr in exprs:
        ours.append(normalize(expr, GRID).normal_form)
    photon_s = time.process_time() - started
    clear_cache()
    theirs: list[Any] = []
    started = time.process_time()
    for expr in inputs:
        theirs.append(sp.simplify(expr))
    sympy_s = time.process_time() - started
    return photon_s, sympy_s, ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--check-sample", type=int, default=200,
                        help="expressions whose Photon and sympy results are checked on random fields")
    parser.add_argument("--egglog-runs", type=int, default=1,
                        help="side-by-side runs of Photon and the egglog normaliser (0: skip)")
    opts = parser.parse_args()
    rng = random.Random(opts.seed)
    exprs = [generate(rng, opts.depth) for _ in range(opts.count)]
    inputs = [to_sympy(e, evaluate=True) for e in exprs]
    photon_times, sympy_times = [], []
    ours: list[Node] = []
    theirs: list[Any] = []
    for _ in range(opts.runs):
        photon_s, sympy_s, ours, theirs = one_run(exprs, inputs)
        photon_times.append(photon_s)
        sympy_times.append(sympy_s)
    ratios = [s / p for s, p in zip(sympy_times, photon_times, strict=True)]
    ours_sp = [to_sympy(n, evaluate=False) for n in ours]
    ops_ours = [sp.count_ops(e) for e in ours_sp]
    ops_theirs = [sp.count_ops(e) for e in theirs]
    ops_input = [sp.count_ops(to_sympy(e, evaluate=False)) for e in exprs]
    no_larger = sum(1 for a, b in zip(ops_ours, ops_theirs, strict=True) if a <= b)
    # Diagnostic, not the target: Photon writes x·x·x for x³ on purpose (2 flops per entry, not 10),
    # which count_ops counts as one op more; this is the fraction with such products counted as powers.
    ops_powers = [sp.count_ops(as_powers(e)) for e in ours_sp]
    no_larger_as_powers = sum(1 for a, b in zip(ops_powers, ops_theirs, strict=True) if a <= b)
    smaller = sum(1 for a, b in zip(ops_ours, ops_theirs, strict=True) if a < b)
    nodes_ours = [tree_size(e) for e in ours_sp]
    nodes_theirs = [tree_size(e) for e in theirs]
    from stages.photon.costing import CostModel

    model = CostModel(GRID)
    flops_ours = [model.dag_flops(n) for n in ours]
    flops_theirs = [model.dag_flops(from_sympy(e)) for e in theirs]
    flops_no_more = sum(1 for a, b in zip(flops_ours, flops_theirs, strict=True) if a <= b)
    check_rng = random.Random(opts.seed + 1)
    agreeing = sum(1 for a, b in zip(ours_sp, theirs, strict=True) if agree(a, b, check_rng))
    # Correctness first: a normal form must be the original expression (so must sympy's result).
    field_rng = np.random.default_rng(opts.seed + 2)
    sample = random.Random(opts.seed + 3).sample(range(opts.count), min(opts.check_sample, opts.count))
    originals = {i: to_sympy(exprs[i], evaluate=False) for i in sample}
    wrong = [i for i in sample if not same_on_random_fields(ours_sp[i], originals[i], field_rng)]
    check(not wrong, f"Photon's normal form differs from the original for {len(wrong)} of {len(sample)} "
          f"sampled expressions (first: #{wrong[:1]})")
    wrong_sympy = [i for i in sample if not same_on_random_fields(theirs[i], originals[i], field_rng)]
    check(not wrong_sympy, f"sympy's result differs from the original for {len(wrong_sympy)} expressions")
    check(agreeing == opts.count, f"Photon and sympy disagree at random points on {opts.count - agreeing} expressions")
    report = {
        "benchmark": "P7 photon normalize vs sympy.simplify",
        "count": opts.count,
        "runs": opts.runs,
        "photon_s_median": round(statistics.median(photon_times), 4),
        "sympy_s_median": round(statistics.median(sympy_times), 4),
        "photon_ms_per_expr": round(1000 * statistics.median(photon_times) / opts.count, 3),
        "sympy_ms_per_expr": round(1000 * statistics.median(sympy_times) / opts.count, 3),
        "machine": machine(), "checked": True, "checked_on_random_fields": len(sample),
        "photon_s": spread(photon_times), "sympy_s": spread(sympy_times),
        "speedup": spread(ratios, 2),
        "target_speedup": 20,
        "no_larger_fraction": round(no_larger / opts.count, 4),
        "smaller_fraction": round(smaller / opts.count, 4),
        "no_larger_fraction_products_as_powers": round(no_larger_as_powers / opts.count, 4),
        "target_no_larger": 0.9,
        "count_ops_mean": {
            "input": round(statistics.mean(ops_input), 2),
            "photon": round(statistics.mean(ops_ours), 2),
            "sympy": round(statistics.mean(ops_theirs), 2),
        },
        "tree_nodes_mean": {"photon": round(statistics.mean(nodes_ours), 2),
                            "sympy": round(statistics.mean(nodes_theirs), 2)},
        "flops_no_more_fraction": round(flops_no_more / opts.count, 4),
        "flops_mean": {"photon": round(statistics.mean(flops_ours), 1),
                       "sympy": round(statistics.mean(flops_theirs), 1)},
        "values_agree_fraction": round(agreeing / opts.count, 4),
    }
    if opts.egglog_runs > 0:
        report["egglog"] = egglog_comparison(exprs, ops_theirs, sample, opts)
    emit(report)


def egglog_comparison(exprs: list[Node], ops_sympy: list[int], sample: list[int],
                      opts: argparse.Namespace) -> dict[str, Any]:
    """Photon vs the egglog normaliser of the same rules: CPU time, count_ops, flops, values (see docstring).

    egglog extracts under two objectives: ``size`` (tree size, what count_ops rewards) and
    ``flops`` (Codex flops first, then size: Photon's own ranking)."""
    try:
        import bench_photon_egglog as eg
    except ImportError as exc:  # the figure says why instead of silently vanishing
        return {"unavailable": f"egglog not importable: {exc}"}
    from stages.photon.costing import CostModel

    objectives = list(eg.OBJECTIVES)
    photon_times: list[float] = []
    egglog_times: dict[str, list[float]] = {o: [] for o in objectives}
    ours: list[Node] = []
    theirs: dict[str, list[Node]] = {}
    for _ in range(opts.egglog_runs):
        started = time.process_time()
        ours = [normalize(expr, GRID).normal_form for expr in exprs]
        photon_times.append(time.process_time() - started)
        for objective in objectives:
            started = time.process_time()
            theirs[objective] = [eg.egglog_normalize(expr, objective) for expr in exprs]
            egglog_times[objective].append(time.process_time() - started)
    count = len(exprs)
    model = CostModel(GRID)
    ops_ours = [sp.count_ops(to_sympy(n, evaluate=False)) for n in ours]
    report: dict[str, Any] = {
        "package": f"egglog {eg.version()}",
        "schedule": eg.SCHEDULE_TEXT,
        "runs": opts.egglog_runs,
        "photon_ms_per_expr": round(1000 * statistics.median(photon_times) / count, 3),
        "photon_count_ops_mean": round(statistics.mean(ops_ours), 2),
        "photon_flops_mean": round(statistics.mean(model.dag_flops(n) for n in ours), 1),
        "checked_on_random_fields": len(sample),
    }
    for objective in objectives:
        results = theirs[objective]
        field_rng = np.random.default_rng(opts.seed + 4)
        wrong = [i for i in sample if not same_on_random_fields(
            to_sympy(results[i], evaluate=False), to_sympy(exprs[i], evaluate=False), field_rng)]
        check(not wrong, f"egglog ({objective}) differs from the original for {len(wrong)} of {len(sample)} "
              f"sampled expressions (first: #{wrong[:1]})")
        check_rng = random.Random(opts.seed + 5)
        agreeing = sum(1 for a, b in zip(ours, results, strict=True)
                       if agree(to_sympy(a, evaluate=False), to_sympy(b, evaluate=False), check_rng))
        check(agreeing == count, f"Photon and egglog ({objective}) disagree at random points on {count - agreeing}")
        ops_egg = [sp.count_ops(to_sympy(n, evaluate=False)) for n in results]
        ratios = [e / p for e, p in zip(egglog_times[objective], photon_times, strict=True)]
        report[f"extract_{objective}"] = {
            "egglog_ms_per_expr": round(1000 * statistics.median(egglog_times[objective]) / count, 3),
            "egglog_over_photon_time": spread(ratios, 2),
            "count_ops_mean": round(statistics.mean(ops_egg), 2),
            "flops_mean": round(statistics.mean(model.dag_flops(n) for n in results), 1),
            "no_larger_than_sympy": round(sum(a <= b for a, b in zip(ops_egg, ops_sympy, strict=True)) / count, 4),
            "photon_no_larger_than_egglog": round(
                sum(a <= b for a, b in zip(ops_ours, ops_egg, strict=True)) / count, 4),
            "egglog_no_larger_than_photon": round(
                sum(b <= a for a, b in zip(ops_ours, ops_egg, strict=True)) / count, 4),
            "values_agree_with_photon_fraction": round(agreeing / count, 4),
        }
    return report


if __name__ == "__main__":
    main()
