"""P10: wall time of `beamline --help` (torch and jax must be imported lazily)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

CLI = Path(sys.executable).with_name("beamline")


def main(runs: int = 7) -> None:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([str(CLI), "--help"], capture_output=True, check=True)
        samples.append(time.perf_counter() - started)
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, beamline.cli; print(int('torch' in sys.modules), int('jax' in sys.modules))"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    print(json.dumps({
        "help_median_s": round(statistics.median(samples), 3),
        "help_max_s": round(max(samples), 3),
        "runs": runs,
        "target_s": 0.5,
        "torch_imported_at_startup": probe[0] == "1",
        "jax_imported_at_startup": probe[1] == "1",
    }))


if __name__ == "__main__":
    main()
