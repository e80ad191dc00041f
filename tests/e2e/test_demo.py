"""End to end as a user runs it: the demo prints its summary and EIDs, and every EID's
recorded history re-runs identically."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("beamline"))


@pytest.mark.slow
def test_demo_summary_and_every_eid_replays_identically(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'demo.db'}"
    demo = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo_photon_qwave_sqi.py"), "--store", store],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert demo.returncode == 0, demo.stderr[-2000:]
    out = demo.stdout
    for cell in ("heat", "lap", "flux", "fringe", "cool", "blowup", "ratio"):
        assert re.search(rf"│ {cell}\s+│ 0\s+│", out), f"{cell} missing from the summary"
    assert re.search(r"│ blowup\s+│ 0\s+│ \w+\s+│ [\d.]+\s+│ vetoed", out)
    assert re.search(r"│ blowup\.g1\s+│ 1\s+│ \w+\s+│ [\d.]+\s+│ approved", out), "the CFL repair was not approved"
    assert re.search(r"│ ratio\.g1\s+│ 1\s+│ \w+\s+│ [\d.]+\s+│ approved", out), "the non-finite repair was not approved"
    assert "qwave" in out and "heat ↔ lap" in out
    commands = re.findall(r"beamline --store \S+ replay (eid::\S+) --rerun", out)
    assert len(commands) == 6
    for eid in commands:
        rerun = subprocess.run([CLI, "--store", store, "replay", eid, "--rerun"], capture_output=True, text=True,
                               cwd=tmp_path, timeout=300)
        assert rerun.returncode == 0, f"{eid}: {rerun.stdout[-1500:]} {rerun.stderr[-1500:]}"
        assert rerun.stdout.strip().startswith("identical: ")
