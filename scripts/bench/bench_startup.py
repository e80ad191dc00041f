"""P10: wall time of `beamline --help` (torch and jax must be imported lazily).

Checks that every timed call printed the help (exit 0, a usage line) — a crash at
start-up is fast too — and reports whether importing the CLI pulls in torch or jax.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchlib import check, emit, machine, spread

CLI = Path(sys.executable).with_name("beamline")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    samples, cpu = [], []
    for _ in range(args.runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run([str(CLI), "--help"], capture_output=True, text=True, check=False)
        samples.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # CPU time of the child: what the wall time would be on an idle machine, near enough.
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        check(done.returncode == 0 and "usage" in done.stdout.lower(),
              f"`beamline --help` exited {done.returncode} without a usage line: {done.stderr[-300:]}")
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, beamline.cli; print(int('torch' in sys.modules), int('jax' in sys.modules))"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    emit({
        "benchmark": "startup", "machine": machine(), "checked": True,
        "help_s": spread(samples, 3),
        "help_cpu_s": spread(cpu, 3),
        "target_s": 0.5,
        "torch_imported_at_startup": probe[0] == "1",
        "jax_imported_at_startup": probe[1] == "1",
    })


if __name__ == "__main__":
    main()
