"""Flags: typed loading and precedence defaults < file < env < runtime < CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from beamline import flags


def test_repo_flags_file_loads_with_the_documented_values() -> None:
    loaded = flags.from_toml(Path(__file__).resolve().parents[2] / "flags.toml")
    assert loaded["QWAVE_EXEC_ON"] is True
    assert loaded["COST_THRESHOLD"] == 2.0e5
    assert loaded["stage.sqi"] is True


def test_precedence(tmp_path: Path) -> None:
    path = tmp_path / "flags.toml"
    path.write_text("[flags]\nQWAVE_EXEC_ON = false\nPHASE9_ENABLED = true\n[thresholds]\nCOST_THRESHOLD = 10\n")
    resolved = flags.resolve(
        flags_file=path,
        environ={"BEAMLINE_PHASE9_ENABLED": "0", "BEAMLINE_COST_THRESHOLD": "20"},
        runtime={"COST_THRESHOLD": 30.0},
        cli=["QWAVE_EXEC_ON=true"],
    )
    assert resolved["QWAVE_EXEC_ON"] is True  # cli beats file
    assert resolved["PHASE9_ENABLED"] is False  # env beats file
    assert resolved["COST_THRESHOLD"] == 30.0  # runtime beats env
    assert resolved["SPE_AUTO_FUSE"] is False  # default


def test_digest_is_stable_and_sensitive() -> None:
    base = flags.defaults()
    assert flags.digest(base) == flags.digest(dict(reversed(list(base.items()))))
    assert flags.digest(base) != flags.digest({**base, "QKD_ON": True})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[flags]\nQWAVE_EXEC_ON = 3\n", "flag QWAVE_EXEC_ON expects true/false"),
        ("[flags]\nTURBO = true\n", "unknown flag 'TURBO'"),
        ("[thresholds]\nSPE_MAX_GENERATIONS = 2.5\n", "flag SPE_MAX_GENERATIONS expects an integer"),
        # 0 would divide Codex's cost total and fail every sheet: refused where it is set
        ("[thresholds]\nCOST_THRESHOLD = 0\n", "flag COST_THRESHOLD must be greater than 0, got 0.0"),
        ("[sqi]\nSOULLAW_BUDGET_MS = -5\n", "flag SOULLAW_BUDGET_MS must be greater than 0"),
    ],
)
def test_bad_flag_files_name_the_flag(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "flags.toml"
    path.write_text(text)
    with pytest.raises(flags.FlagError, match=message):
        flags.resolve(flags_file=path, environ={})


def test_env_value_of_wrong_type_names_the_flag() -> None:
    with pytest.raises(flags.FlagError, match="QWAVE_EXEC_ON"):
        flags.resolve(environ={"BEAMLINE_QWAVE_EXEC_ON": "maybe"})


def test_a_non_positive_cost_threshold_is_refused_from_the_environment_too() -> None:
    with pytest.raises(flags.FlagError, match="COST_THRESHOLD must be greater than 0"):
        flags.resolve(environ={"BEAMLINE_COST_THRESHOLD": "0"})
    assert flags.resolve(environ={"BEAMLINE_COST_THRESHOLD": "1"})["COST_THRESHOLD"] == 1.0
