"""The benchmark harness: what BENCHMARKS.md says about a result, and that wrong answers fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "scripts" / "bench"
sys.path.insert(0, str(BENCH))

import benchlib  # noqa: E402
import report  # noqa: E402


def startup(median: float) -> dict[str, object]:
    return {"help_s": {"median": median, "min": median, "max": median + 0.1, "runs": 5},
            "torch_imported_at_startup": False, "jax_imported_at_startup": False}


def p10_row(lines: list[str]) -> str:
    return next(line for line in lines if line.startswith("| P10 "))


def test_a_target_within_its_bound_is_met_and_one_outside_is_missed() -> None:
    assert p10_row(report.target_table({"startup": startup(0.3)}, set())).endswith("| ≤ 0.5 s | **met** |")
    row = p10_row(report.target_table({"startup": startup(0.7)}, set()))
    assert row.endswith("| **missed** |")
    assert "0.700 s (0.700–0.800, 5 runs)" in row


def test_a_failed_correctness_check_shows_why_and_no_figure() -> None:
    results = {"photon": {"error": "correctness check failed: Photon's normal form differs", "wall_s": 3}}
    rows = [line for line in report.target_table(results, set()) if line.startswith("| P7 ")]
    assert rows and all("not measured: correctness check failed" in row and "**met**" not in row for row in rows)


def test_rows_of_a_benchmark_run_at_quick_sizes_are_labelled() -> None:
    assert "quick sizes" in p10_row(report.target_table({"startup": startup(0.3)}, {"startup"}))
    assert "quick sizes" not in p10_row(report.target_table({"startup": startup(0.3)}, set()))


def test_spread_reports_median_min_max_and_runs() -> None:
    assert benchlib.spread([3.0, 1.0, 2.0, 10.0, 4.0]) == {"median": 3.0, "min": 1.0, "max": 10.0, "runs": 5}
    with pytest.raises(benchlib.BenchCheckFailed, match="wrong"):
        benchlib.check(False, "wrong")


def test_qwave_check_rejects_a_value_off_the_reference() -> None:
    import bench_qwave

    reference = np.linspace(0.0, 1.0, 64).reshape(8, 8)
    assert bench_qwave.check_close(reference.astype(np.float32), reference, "same") < 1e-6
    with pytest.raises(benchlib.BenchCheckFailed, match="relative error"):
        bench_qwave.check_close(reference + 0.01, reference, "shifted")
    with pytest.raises(benchlib.BenchCheckFailed, match="shape"):
        bench_qwave.check_close(reference[:4], reference, "cut")


def test_photon_check_tells_an_equal_expression_from_a_different_one() -> None:
    import bench_photon
    import sympy as sp

    x, y, _ = bench_photon.SYMBOLS.values()
    rng = np.random.default_rng(0)
    assert bench_photon.same_on_random_fields(sp.expand((x + y) ** 2), (x + y) ** 2, rng)
    assert not bench_photon.same_on_random_fields(x * x + y, (x + y) ** 2, rng)


def test_quick_run_writes_the_header_and_the_target_table(tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--quick", "--only", "startup,soullaw",
                    "--out", str(out)], cwd=ROOT, check=True, capture_output=True, timeout=300)
    text = out.read_text()
    assert "QUICK MODE" in text and "cores" in text and "GiB memory" in text and "sqlite" in text
    assert "run_all.py --quick --only startup,soullaw" in text
    assert p10_row(text.splitlines()).endswith(("**met** |", "**missed** |"))
    assert "| P1 | `pipeline` benchmark | — | — | — | not run |" in text
    assert "### Issue 8: SoulLaw decision time" in text and "every verdict checked" in text
