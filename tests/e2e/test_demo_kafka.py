"""The demo over Kafka (mock broker, one ``beamline worker`` process per stage) stores the same
events — the same set of event ids — as the embedded run of the same sheet and seed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from beamline.summary import summarise
from stages.registry import STAGE_IDS
from store.beam_store import open_store

ROOT = Path(__file__).resolve().parents[2]
DEMO = str(ROOT / "scripts" / "demo_photon_qwave_sqi.py")
RUN_ID = "demo-same"


def demo(store: str, cwd: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, DEMO, "--store", store, "--run-id", RUN_ID, "--seed", "7", *extra],
                          capture_output=True, text=True, cwd=cwd, timeout=600, env=env)


def event_ids(store_url: str) -> set[str]:
    with open_store(store_url) as store:
        return {env.event_id for env in store.events(sheet_run_id=RUN_ID)}


@pytest.mark.kafka
@pytest.mark.slow
def test_demo_over_kafka_stores_the_same_event_ids_as_embedded(tmp_path: Path, mock_broker: str) -> None:
    embedded_store = f"sqlite:///{tmp_path / 'embedded.db'}"
    kafka_store = f"sqlite:///{tmp_path / 'kafka.db'}"
    embedded = demo(embedded_store, tmp_path)
    assert embedded.returncode == 0, embedded.stderr[-2000:]

    over_kafka = demo(kafka_store, tmp_path, "--bus", "kafka", env={**os.environ, "KAFKA_BOOTSTRAP": mock_broker})
    assert over_kafka.returncode == 0, over_kafka.stdout[-2000:] + over_kafka.stderr[-3000:]
    # every stage ran in its own worker process, and each did work
    for stage in STAGE_IDS:
        done = re.search(rf"^worker {stage} stopped: (\d+) processed", over_kafka.stdout, re.M)
        assert done and int(done.group(1)) > 0, f"worker {stage}: {over_kafka.stdout[-2000:]}"

    recorded = event_ids(embedded_store)
    distributed = event_ids(kafka_store)
    assert len(recorded) > 100
    assert distributed == recorded, (
        f"only embedded: {sorted(recorded - distributed)[:5]}, only kafka: {sorted(distributed - recorded)[:5]}")
    # the same outcome a user reads in the summary (rows may come in another order: workers run in parallel)
    assert outcome(kafka_store) == outcome(embedded_store)
    assert set(re.findall(r"replay (eid::\S+)", over_kafka.stdout)) == set(re.findall(r"replay (eid::\S+)",
                                                                                        embedded.stdout))


def outcome(store_url: str) -> dict[str, tuple[object, ...]]:
    with open_store(store_url) as store:
        summary = summarise(RUN_ID, store.events(sheet_run_id=RUN_ID))
    return {c.cell_id: (c.route, c.qscore, c.decision, c.reasons, sorted(c.mutations)) for c in summary.cells}


def test_demo_over_kafka_without_a_broker_is_one_clear_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP"}
    done = demo(f"sqlite:///{tmp_path / 'k.db'}", tmp_path, "--bus", "kafka", env=env)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("error: --bus kafka needs KAFKA_BOOTSTRAP")
