"""``scripts/demo_constellation.py`` as a user runs it: routing decisions and basin distances."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "demo_constellation.py"


def mean_off_diagonal(table: str) -> float:
    """Mean of the instance-to-instance distances in one printed distance table."""
    rows = [line for line in table.splitlines() if re.match(r"^│ i\d", line)]
    values = []
    for i, row in enumerate(rows):
        cells = [c.strip() for c in row.strip("│").split("│")]
        values += [float(v) for j, v in enumerate(cells[1:-1]) if j != i]
    return sum(values) / len(values)


def test_demo_prints_routing_and_the_basins_draw_together_after_sync() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--strategy", "round_robin", "--instances", "3", "--beams", "12"],
        capture_output=True, text=True, timeout=120, env={"COLUMNS": "160", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "routing decisions" in out
    actives = re.findall(r"^│\s+\d+ │\s+\w+ │\s+(i\d) │", out, flags=re.M)
    assert actives == ["i0", "i1", "i2"] * 4  # round-robin over three instances
    before = out[out.index("basin distances before"):out.index("routing decisions")]
    after = out[out.index("basin distances after"):]
    assert mean_off_diagonal(after) < mean_off_diagonal(before)  # vicarious sync pulled them together
