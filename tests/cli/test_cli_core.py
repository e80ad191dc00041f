"""The CLI as a user drives it: flags set/get, contracts validate, one-line errors, fast start."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson

from contracts.payloads import BeamEvent
from contracts.registry import encode, make_event

CLI = str(Path(sys.executable).with_name("beamline"))


def beamline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_flags_set_then_get_prints_the_new_value(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'b.db'}"
    assert beamline("--store", store, "flags", "get", "QWAVE_EXEC_ON", cwd=tmp_path).stdout.strip() == "true"
    done = beamline("--store", store, "flags", "set", "QWAVE_EXEC_ON=false", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert beamline("--store", store, "flags", "get", "QWAVE_EXEC_ON", cwd=tmp_path).stdout.strip() == "false"
    # the change is an event in the store, not a hidden file edit
    from store.beam_store import open_store

    with open_store(store) as opened:
        changes = opened.events(types=["FlagChanged"])
    assert [(c.payload["name"], c.payload["value"]) for c in changes] == [("QWAVE_EXEC_ON", False)]


def test_bad_flag_is_one_clear_line_and_nonzero(tmp_path: Path) -> None:
    done = beamline("flags", "set", "QWAVE_EXEC_ON=maybe", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == "error: flag QWAVE_EXEC_ON expects true/false, got 'maybe'"
    assert "Traceback" not in done.stderr
    unknown = beamline("flags", "get", "TURBO", cwd=tmp_path)
    assert unknown.returncode == 1 and "unknown flag 'TURBO'" in unknown.stderr


def _beam_json() -> dict:
    env = make_event(
        BeamEvent(beam_id="b", cell_id="c", sheet_run_id="r", container_id="k", stage="ingest", token="Δ",
                  timestamp="t"),
        stage_id="codex", index=0, sheet_run_id="r", occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    return orjson.loads(encode(env))


def test_contracts_validate_names_the_failing_path(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_bytes(orjson.dumps(_beam_json()))
    assert beamline("contracts", "validate", str(good), cwd=tmp_path).returncode == 0
    data = _beam_json()
    data["payload"]["stage"] = "warp"
    data["payload"]["generation"] = -1
    bad = tmp_path / "bad.json"
    bad.write_bytes(orjson.dumps(data))
    done = beamline("contracts", "validate", str(bad), cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert any(line.startswith(f"{bad}: $.payload.stage: 'warp' is not one of") for line in lines)
    assert any(line.startswith(f"{bad}: $.payload.generation: -1 is less than the minimum") for line in lines)


def test_help_does_not_import_torch_or_jax() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, beamline.cli; print('torch' in sys.modules, 'jax' in sys.modules)"],
        capture_output=True, text=True, check=True,
    )
    assert probe.stdout.split() == ["False", "False"]
